"""The owner's statement board (per period, every org of a tier with its answer: who
confirmed, who disputed, who has not answered) in a fixed number of queries; statements made
ready by a tier run that succeeds (`statement.ready`); reminders to partners that have not
answered 5 days later, each once however many schedulers run (a claim row per reminder).

Only an org that may open its statement (the reconciliation app is shared with it,
`apps.orgs_with_app`) is told: a statement is made ready (`ready_at`, `statement.ready`) only
for the orgs of the tier that have the app when the run succeeds, and reminded only to orgs that
still have it when the reminder is due. An org granted the app later is not told of statements
made ready before (its statements page lists them; a forced run of the tier announces them); one
whose grant is revoked after its statement was made ready is reminded once it has the app again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.graph import CORE, UNLINKED
from supplychain.models import Chain, Member, ReconciliationRun, ReminderClaim, Statement
from supplychain.models.base import utcnow
from supplychain.models.statements import STATEMENT_STATUSES
from supplychain.periods import Period
from supplychain.services.app_access import orgs_with_app, require_app
from supplychain.services.chains import chain_graph
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.invoice_reports import invoice_status_counts
from supplychain.services.pagination import Page, page_of_list
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import (
    check_period,
    figure_lines,
    org_directory,
    reconcilable,
    statement_scope,
)
from supplychain.services.reconciliation.statement_view import APP
from supplychain.services.reminder_claims import claim_reminder

REMIND_AFTER = timedelta(days=5)
STATEMENT_UNANSWERED = "statement.unanswered"


# --- the owner's board ---------------------------------------------------------------------------


def tier_states(
    session: Session, chain: Chain, period: Period, org_ids: Iterable[int]
) -> dict[int, v.StatementState]:
    """Every named org's statement status for the period, in a fixed number of queries (each
    order line counting for the org whose statement holds it)."""
    ids = set(org_ids)
    holder = statement_scope(session, chain).holder
    rows = figure_lines(session, chain, period, ids) if ids else iter(())
    versions = v.versions_of(rows, chain.id, period.label, ids, holder)
    return v.statement_states(session, chain.id, period.label, versions, holder)


def statement_board(
    session: Session,
    access: ChainAccess,
    period_label: str,
    tier: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Page:
    """Per period, every org of the upstream and downstream tiers (or one tier) with its
    statement's status: who confirmed, who disputed, who has not answered; a partner sees only
    its own row. A fixed number of queries whatever the tier size."""
    require_app(session, access, APP)
    chain = access.chain
    period = check_period(period_label, ZoneInfo(chain.timezone))
    if status is not None and status not in STATEMENT_STATUSES:
        raise Invalid("Unknown status.", {"status": [f"One of: {', '.join(STATEMENT_STATUSES)}."]})
    if tier is not None and not reconcilable(tier):
        raise Invalid("Not a reconcilable tier.", {"tier": ["Use U1, U2... or D1, D2..."]})
    graph = chain_graph(session, chain)
    if not access.is_owner:
        orgs = {access.actor.org_id}
    elif tier is not None:
        orgs = set(graph.orgs_in_tier(tier))
    else:
        orgs = {o for o, t in graph.tiers.items() if t not in (CORE, UNLINKED)}
    states = tier_states(session, chain, period, orgs)
    directory = org_directory(session, chain.id)
    invoices = invoice_status_counts(session, chain.id, period)
    items = []
    for org_id, state in states.items():
        if status is not None and state.status != status:
            continue
        code, name, group = directory.get(org_id, (None, f"org {org_id}", None))
        items.append(
            {
                "org_id": org_id,
                "code": code,
                "name": name,
                "group": group,
                "tier": graph.tier_of(org_id),
                "period": period.label,
                "status": state.status,
                "version": state.version,
                "confirmed_at": state.confirmed_at,
                "confirmed_by": state.confirmed_by,
                "ready_at": state.ready_at,
                "open_disputes": state.open_disputes,
                "invoices": invoices.get(org_id, {}),
            }
        )
    items.sort(key=lambda item: (item["tier"], item["code"] or "", item["name"], item["org_id"]))
    counts = {s: 0 for s in STATEMENT_STATUSES}
    for state in states.values():
        counts[state.status] += 1
    result = page_of_list(items, page, page_size)
    result.extra["counts"] = counts
    return result


# --- ready and reminded --------------------------------------------------------------------------


def announce_ready(session: Session, run: ReconciliationRun) -> list[int]:
    """A tier run succeeded: the statement of each org of the tier that may open it (the app
    is shared with it now) is ready. Marks it (reminders count from here) and tells the org
    (`statement.ready`); an org without the app is neither marked nor told; the owner has the
    run's own event. Returns the orgs told."""
    chain = session.get(Chain, run.chain_id)
    if chain is None:
        return []
    tier = chain_graph(session, chain).orgs_in_tier(run.tier)
    orgs = sorted(orgs_with_app(session, chain, APP, tier))
    if not orgs:
        return []
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Statement)
        .values(
            [
                {
                    "chain_id": chain.id,
                    "org_id": o,
                    "period": run.period,
                    "state": "open",
                    "updated_at": now,
                }
                for o in orgs
            ]
        )
        .on_conflict_do_nothing(index_elements=["chain_id", "period", "org_id"])
    )
    ours = (
        Statement.chain_id == chain.id,
        Statement.period == run.period,
        Statement.org_id.in_(orgs),
    )
    session.execute(update(Statement).where(*ours).values(ready_at=now))
    rows = session.execute(
        select(Statement.org_id, Statement.id).where(*ours).order_by(Statement.org_id)
    ).all()
    # One batch of events for the whole tier: five statements, not four per org.
    publish_many(
        session,
        chain_id=chain.id,
        events=[
            NewEvent(
                "statement.ready",
                "statement",
                statement_id,
                {
                    "org_id": str(org_id),
                    "period": run.period,
                    "tier": run.tier,
                    "revision": run.revision,
                    "run_id": str(run.id),
                },
                (org_id,),
            )
            for org_id, statement_id in rows
        ],
    )
    session.flush()
    return [org_id for org_id, _ in rows]


def due_statements(session: Session, now: datetime) -> list[Statement]:
    """The statements whose reminder is due: made ready 5 days ago or more, neither confirmed
    nor disputed, not reminded since, of an org that is a current member of the chain (a
    removed org can never be reminded: left out, rather than loaded on every tick)."""
    return list(
        session.scalars(
            select(Statement)
            .join(
                Member,
                (Member.chain_id == Statement.chain_id)
                & (Member.org_id == Statement.org_id)
                & Member.is_current,
            )
            .where(
                Statement.state == "open",
                Statement.ready_at.is_not(None),
                Statement.ready_at <= now - REMIND_AFTER,
                # Not reminded since it was last made ready.
                ~exists().where(
                    ReminderClaim.kind == STATEMENT_UNANSWERED,
                    ReminderClaim.subject_id == Statement.id,
                    ReminderClaim.created_at >= Statement.ready_at,
                ),
            )
            .order_by(Statement.id)
        )
    )


def send_statement_reminders(session: Session, now: datetime) -> list[int]:
    """Remind each partner whose statement is due (`due_statements`) and that may still open it
    (the app is shared with it now: one look-up per chain, whatever its number of orgs) with
    `statement.reminder`; once per readiness, however many schedulers run. One that may not is
    not reminded and its reminder stays due, sent if the app is shared with it again. Returns
    the statements reminded of."""
    due = due_statements(session, now)
    by_chain: dict[int, set[int]] = {}
    for statement in due:
        by_chain.setdefault(statement.chain_id, set()).add(statement.org_id)
    may_open = set()
    for chain_id, org_ids in by_chain.items():
        chain = session.get(Chain, chain_id)
        if chain is not None:
            may_open |= {(chain_id, o) for o in orgs_with_app(session, chain, APP, org_ids)}
    reminders: dict[int, list[NewEvent]] = {}
    for statement in due:
        assert statement.ready_at is not None
        if (statement.chain_id, statement.org_id) not in may_open:
            continue
        if not claim_reminder(
            session, STATEMENT_UNANSWERED, statement.id, statement.ready_at.isoformat()
        ):
            continue
        reminders.setdefault(statement.chain_id, []).append(
            NewEvent(
                "statement.reminder",
                "statement",
                statement.id,
                {
                    "org_id": str(statement.org_id),
                    "period": statement.period,
                    "status": "open",
                    "ready_at": statement.ready_at.isoformat(),
                },
                (statement.org_id,),
            )
        )
    # Each chain's reminders as one batch of events.
    for chain_id, events in reminders.items():
        publish_many(session, chain_id=chain_id, events=events)
    return sorted(e.subject_id for events in reminders.values() for e in events)
