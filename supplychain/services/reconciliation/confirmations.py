"""Statements confirmation and disputes (对账确认): a partner reads its statement with its
status and version, confirms exactly the version it saw (stale: 409) or disputes lines of it;
the owner resolves disputes. (The owner's board, readiness and reminders: `board`.)

Every step is audited and published (addressed to the owner and the statement's org, the
latter only while it may open its statement) in the transaction of the change. Figures are never
stored as the truth: they are computed from the orders each time, and a confirmation keeps its
version and a snapshot of what it confirmed, so a later change (late receipt, amendment) reads
`changed` with the difference shown (what was confirmed judged within the statement's scope now:
`versions.judge_confirmations`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.excel.workbook import discrepancy_flags
from supplychain.models import (
    Chain,
    Dispute,
    DisputeLine,
    Member,
    Statement,
)
from supplychain.models.base import utcnow
from supplychain.models.statements import DISPUTE_FIELDS, RESOLUTIONS
from supplychain.periods import Period
from supplychain.services.apps import orgs_with_app, require_app
from supplychain.services.audit import record_event
from supplychain.services.chains import chain_graph
from supplychain.services.events import publish
from supplychain.services.invoice_reports import invoiced_statement
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import (
    StatementScope,
    check_period,
    line_records,
    org_directory,
    reconcilable,
    statement_rows,
    statement_scope,
    statement_scope_text,
)

APP = "reconciliation"
ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class DisputedLine:
    """One line of a dispute as the partner sends it."""

    order_number: str
    line_no: int
    field: str
    note: str
    expected: str | None = None


# --- whose statement, and its figures -----------------------------------------------------------


def _member_org(session: Session, chain_id: int, org_id: int) -> None:
    if (
        session.scalar(
            select(Member.id).where(Member.chain_id == chain_id, Member.org_id == org_id)
        )
        is None
    ):
        raise NotFound("No such member in this chain.")


def _reader_subject(access: ChainAccess, org_id: int | None) -> int:
    """Whose statement the caller reads: a partner its own (403 for another's), the owner any."""
    me = access.actor.org_id
    subject = org_id if org_id is not None else me
    if not access.is_owner and subject != me:
        raise Forbidden("A partner may see only its own statement.")
    return subject


def _answering_subject(access: ChainAccess, org_id: int | None) -> int:
    """Whose statement the caller answers for: only the partner's own people may (403 else)."""
    if access.is_owner:
        raise Forbidden("Only the partner's people may confirm or dispute its statement.")
    if org_id is not None and org_id != access.actor.org_id:
        raise Forbidden("A partner may answer only for its own statement.")
    return access.actor.org_id


def _amount(qty: Decimal | None, price: Decimal | None) -> Decimal:
    if qty is None or price is None:
        return ZERO
    return (qty * price).quantize(CENT)


# The figures totals are summed from, in this order.
_SUMMED = ("qty", "unit_price", "confirmed_qty", "confirmed_price", "shipped_qty", "received_qty")
_SUMMED_AT = (v.QTY, v.PRICE, v.CONFIRMED_QTY, v.CONFIRMED_PRICE, v.SHIPPED, v.RECEIVED)
_FIGURE_NAMES = [name for name, _ in v.FIGURES]


def _sum(lines: Iterable[tuple[Decimal | None, ...]]) -> dict[str, Decimal]:
    totals = dict.fromkeys(("ordered", "confirmed", "shipped", "received"), ZERO)
    for qty, unit_price, confirmed_qty, confirmed_price, shipped, received in lines:
        price = confirmed_price if confirmed_price is not None else unit_price
        totals["ordered"] += _amount(qty, unit_price)
        totals["confirmed"] += _amount(confirmed_qty, confirmed_price)
        totals["shipped"] += _amount(shipped, price)
        totals["received"] += _amount(received, price)
    return totals


def _totals(rows: Iterable[tuple[Any, ...]]) -> dict[str, Decimal]:
    """Ordered, confirmed, shipped and received amounts, as the workbook's Summary sums them
    (shipped and received at the confirmed price)."""
    return _sum(tuple(row[i] for i in _SUMMED_AT) for row in rows)


def _snapshot_totals(lines: dict[str, list[Any]]) -> dict[str, Decimal]:
    """The same totals of a confirmed snapshot's lines, from their figure texts (kept at 4
    places, the scale quantities and prices are stored at: exactly the figures summed then)."""
    at = [2 + _FIGURE_NAMES.index(name) for name in _SUMMED]
    return _sum(
        tuple(None if line[i] is None else Decimal(line[i]) for i in at) for line in lines.values()
    )


def _snapshot(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """What a confirmation keeps: totals and every line's figures (with its order number)."""
    return {
        "totals": {key: str(value) for key, value in _totals(rows).items()},
        "lines": {
            v.line_key(f): [f[v.F_NUMBER], f[v.F_LINE_NO], *v.line_figures(f)]
            for f in map(v.figures_of, rows)
        },
    }


def _changes(before: dict[str, list[Any]], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The difference between a confirmed snapshot's lines and the figures now, field by field;
    a line added since has `confirmed` None, a line gone has `current` None."""
    names = _FIGURE_NAMES
    changes = []
    seen = set()
    for row in map(v.figures_of, rows):
        key = v.line_key(row)
        seen.add(key)
        now = v.line_figures(row)
        old = before.get(key)
        for index, name in enumerate(names):
            was = old[2 + index] if old is not None else None
            if old is None or was != now[index]:
                if old is None and now[index] is None:
                    continue
                changes.append(
                    {
                        "order_number": row[v.F_NUMBER],
                        "line_no": row[v.F_LINE_NO],
                        "field": name,
                        "confirmed": was,
                        "current": now[index],
                    }
                )
    for key, old in before.items():
        if key not in seen:
            changes.append(
                {
                    "order_number": old[0],
                    "line_no": old[1],
                    "field": "line",
                    "confirmed": "present",
                    "current": None,
                }
            )
    return changes


def _statement(session: Session, chain_id: int, org_id: int, period: str) -> Statement | None:
    return session.scalar(
        select(Statement).where(
            Statement.chain_id == chain_id, Statement.org_id == org_id, Statement.period == period
        )
    )


def _statement_for_update(session: Session, chain_id: int, org_id: int, period: str) -> Statement:
    """The statement row, made if missing (two at once make one) and locked for this change."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    session.execute(
        dialect.insert(Statement)
        .values(chain_id=chain_id, org_id=org_id, period=period, state="open", updated_at=now)
        .on_conflict_do_nothing(index_elements=["chain_id", "period", "org_id"])
    )
    row = session.scalar(
        select(Statement)
        .where(
            Statement.chain_id == chain_id, Statement.org_id == org_id, Statement.period == period
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def _disputes(session: Session, chain_id: int, org_id: int, period: str) -> list[Dispute]:
    return list(
        session.scalars(
            select(Dispute)
            .where(Dispute.chain_id == chain_id, Dispute.org_id == org_id, Dispute.period == period)
            .order_by(Dispute.id)
        )
    )


def dispute_view(dispute: Dispute) -> dict[str, Any]:
    """A dispute as the API and the pages show it."""
    return {
        "id": dispute.id,
        "org_id": dispute.org_id,
        "period": dispute.period,
        "status": dispute.status,
        "version": dispute.version,
        "note": dispute.note,
        "opened_by": dispute.opened_by,
        "opened_at": dispute.opened_at,
        "resolved_by": dispute.resolved_by,
        "resolved_at": dispute.resolved_at,
        "resolution_note": dispute.resolution_note,
        "lines": [
            {
                "order_id": line.order_id,
                "order_number": line.order_number,
                "line_no": line.line_no,
                "field": line.field,
                "expected": line.expected,
                "note": line.note,
            }
            for line in dispute.lines
        ],
    }


def _version(
    chain_id: int, period: Period, org_id: int, rows: list[tuple[Any, ...]], scope: StatementScope
) -> str:
    """The version of one org's statement from its rows (`ledger.statement_rows`)."""
    figures = map(v.figures_of, rows)
    return v.versions_of(figures, chain_id, period.label, [org_id], scope.holder)[org_id]


def _view(
    session: Session,
    access: ChainAccess,
    period: Period,
    org_id: int,
    rows: list[tuple[Any, ...]],
    version: str,
    scope: StatementScope,
) -> dict[str, Any]:
    """The statement's JSON view from its rows and their `version` (`_version`)."""
    chain = access.chain
    tz = ZoneInfo(chain.timezone)
    directory = org_directory(session, chain.id)
    row = _statement(session, chain.id, org_id, period.label)
    judged = _judged(session, chain.id, period, org_id, row, version, scope)
    status = judged.status if judged else "open"
    side_of = scope.side  # every row is of this org's statement: its side is the org's

    now = utcnow()
    lines = []
    for raw, record in zip(rows, line_records(iter(rows), directory, tz, side_of), strict=True):
        lines.append(
            {
                "order_id": raw[v.ORDER_ID],
                "order_number": record.order_number,
                "order_status": record.order_status,
                "role": record.role,
                "counterparty_name": record.counterparty_name,
                "currency": record.currency,
                "line_no": record.line_no,
                "sku": record.sku,
                "qty": record.ordered_qty,
                "unit_price": record.unit_price,
                "ack_status": record.ack_status,
                "confirmed_qty": record.confirmed_qty,
                "confirmed_price": record.confirmed_price,
                "shipped_qty": record.shipped_qty,
                "received_qty": record.received_qty,
                "flags": discrepancy_flags(record, now),
            }
        )
    code, name, _ = directory.get(org_id, (None, f"org {org_id}", None))
    confirmed_lines = judged.lines if judged else None
    tier = chain_graph(session, chain).tier_of(org_id)
    counterparty_tier = scope.counterparty_tier(org_id)
    return {
        "org_id": org_id,
        "code": code,
        "name": name,
        "tier": tier,
        "counterparty_tier": counterparty_tier,
        "scope": statement_scope_text(tier, counterparty_tier),
        "period": period.label,
        "status": status,
        "version": version,
        "totals": _totals(rows),
        "currencies": sorted({raw[v.CURRENCY] for raw in rows}),
        "lines": lines,
        "disputes": [dispute_view(d) for d in _disputes(session, chain.id, org_id, period.label)],
        "ready_at": row.ready_at if row else None,
        "confirmed_at": row.confirmed_at if row else None,
        "confirmed_by": row.confirmed_by if row else None,
        "confirmed_version": row.confirmed_version if row else None,
        "confirmed_totals": _confirmed_totals(row, judged),
        "changes": (
            _changes(confirmed_lines, rows)
            if status == "changed" and confirmed_lines is not None
            else []
        ),
    }


def _judged(
    session: Session,
    chain_id: int,
    period: Period,
    org_id: int,
    row: Statement | None,
    version: str,
    scope: StatementScope,
) -> v.Judged | None:
    """The statement's answer judged against its current version, what was confirmed taken
    within the scope now (`versions.judge_confirmations`); None: no row (it reads `open`)."""
    if row is None:
        return None
    return v.judge_confirmations(
        session, chain_id, period.label, {org_id: row}, {org_id: version}, scope.holder
    )[org_id]


def _confirmed_totals(row: Statement | None, judged: v.Judged | None) -> dict[str, Decimal] | None:
    """The totals as confirmed: as kept with the confirmation, or, when lines out of the scope
    now were left out of it, summed again from the lines that remain."""
    if row is None or judged is None or not row.confirmed_figures or judged.lines is None:
        return None
    if judged.rescoped:
        return _snapshot_totals(judged.lines)
    return {k: Decimal(x) for k, x in row.confirmed_figures["totals"].items()}


def statement_view(
    session: Session, access: ChainAccess, period_label: str, org_id: int | None
) -> dict[str, Any]:
    """One org's statement for a period with its status, version, lines and disputes (a
    partner its own only; the owner any member's); `changed` shows what moved since confirmed."""
    require_app(session, access, APP)
    subject = _reader_subject(access, org_id)
    period = check_period(period_label, ZoneInfo(access.chain.timezone))
    _member_org(session, access.chain_id, subject)
    scope = statement_scope(session, access.chain)
    rows = statement_rows(session, access.chain, period, subject, scope)
    version = _version(access.chain_id, period, subject, rows, scope)
    view = _view(session, access, period, subject, rows, version, scope)
    return invoiced_statement(session, access.chain_id, view)


# --- answers: confirm, dispute, resolve ----------------------------------------------------------


def _event_data(statement: Statement, status: str, version: str) -> dict[str, Any]:
    return {
        "org_id": str(statement.org_id),
        "period": statement.period,
        "status": status,
        "version": version,
    }


def _to_org_and_owner(chain: Chain, org_id: int) -> list[int]:
    return [org_id, chain.owner_org_id]


def _to_owner_and_org_with_app(session: Session, chain: Chain, org_id: int) -> list[int]:
    """The owner, and the statement's org if it may still open its statement (the app is shared
    with it now: one whose grant was revoked since it disputed would be refused the dispute)."""
    return sorted(orgs_with_app(session, chain, APP, _to_org_and_owner(chain, org_id)))


@dataclass(frozen=True)
class _Current:
    """The partner's statement as it is now, for an answer to it."""

    subject: int
    period: Period
    rows: list[tuple[Any, ...]]
    version: str
    scope: StatementScope


def _current(
    session: Session, access: ChainAccess, period_label: str, org_id: int | None, version: str
) -> _Current:
    """The partner's statement as it is now; 409 when `version` is not it."""
    require_app(session, access, APP)
    subject = _answering_subject(access, org_id)
    period = check_period(period_label, ZoneInfo(access.chain.timezone))
    scope = statement_scope(session, access.chain)
    rows = statement_rows(session, access.chain, period, subject, scope)
    current = _version(access.chain_id, period, subject, rows, scope)
    if version != current:
        raise Conflict(
            "The statement changed since you saw it: read it again and confirm the new version.",
            {"version": [f"Current version is {current}."]},
        )
    return _Current(subject, period, rows, current, scope)


def _audit_confirmation(
    session: Session, access: ChainAccess, statement: Statement, version: str, **extra: Any
) -> None:
    session.flush()
    record_event(
        session,
        access.actor,
        "statement.confirm",
        "statement",
        statement.id,
        chain_id=access.chain_id,
        data={"org_id": statement.org_id, "period": statement.period, "version": version} | extra,
    )


def confirm_statement(
    session: Session,
    access: ChainAccess,
    period_label: str,
    version: str,
    org_id: int | None = None,
) -> dict[str, Any]:
    """The partner confirms the version of its statement it saw: 409 if the figures changed
    since, or while a dispute is open; confirming a statement that reads `confirmed` again
    raises no second event. One that reads `confirmed` only within the statement's scope now
    (its stored confirmation also held orders the scope no longer gives it) is brought to the
    version confirmed now: the stored version and lines become the statement's (audited), the
    first confirmation's time and person are kept, no event."""
    now_is = _current(session, access, period_label, org_id, version)
    subject, period, rows, current = now_is.subject, now_is.period, now_is.rows, now_is.version
    statement = _statement_for_update(session, access.chain_id, subject, period.label)
    if statement.state == "disputed":
        raise Conflict("A dispute on this statement is open: it must be resolved first.")
    judged = _judged(session, access.chain_id, period, subject, statement, current, now_is.scope)
    if judged is None or judged.status != "confirmed":
        now = utcnow()
        statement.state = "confirmed"
        statement.confirmed_version = current
        statement.confirmed_at = now
        statement.confirmed_by = access.actor.user_id
        statement.confirmed_figures = _snapshot(rows)
        statement.updated_at = now
        _audit_confirmation(session, access, statement, current)
        publish(
            session,
            chain_id=access.chain_id,
            type="statement.confirmed",
            subject_type="statement",
            subject_id=statement.id,
            data=_event_data(statement, "confirmed", current)
            | {"confirmed_at": now.isoformat(), "confirmed_by": str(access.actor.user_id)},
            org_ids=_to_org_and_owner(access.chain, subject),
        )
    elif statement.confirmed_version != current:
        # Stands within the scope now: what the partner confirmed now is kept instead, so its
        # answer names the version it sent and later reads need not judge it again.
        statement.confirmed_version = current
        statement.confirmed_figures = _snapshot(rows)
        statement.updated_at = utcnow()
        _audit_confirmation(session, access, statement, current, rescoped=True)
    return _view(session, access, period, subject, rows, current, now_is.scope)


def open_dispute(
    session: Session,
    access: ChainAccess,
    period_label: str,
    version: str,
    lines: list[DisputedLine],
    note: str | None,
    org_id: int | None = None,
) -> Dispute:
    """The partner disputes lines of the version it saw (409 if stale); each line must be in
    the statement (422 naming it: a line of another org's statement, or of the partner's orders
    outside its statement's scope, is not in it). The statement reads `disputed` until every
    dispute is resolved."""
    now_is = _current(session, access, period_label, org_id, version)
    subject, period, rows, current = now_is.subject, now_is.period, now_is.rows, now_is.version
    if not lines:
        raise Invalid("Name the disputed lines.", {"lines": ["At least one line."]})
    present = {(row[v.NUMBER], row[v.LINE_NO]): row[v.ORDER_ID] for row in rows}
    errors: dict[str, Any] = {}
    for index, line in enumerate(lines):
        if line.field not in DISPUTE_FIELDS:
            errors[str(index)] = {"field": [f"One of: {', '.join(DISPUTE_FIELDS)}."]}
        elif (line.order_number, line.line_no) not in present:
            errors[str(index)] = {
                "line_no": [
                    f"Order {line.order_number} line {line.line_no} is not in this statement."
                ]
            }
    if errors:
        raise Invalid("Some disputed lines are not in the statement.", {"lines": errors})
    statement = _statement_for_update(session, access.chain_id, subject, period.label)
    now = utcnow()
    dispute = Dispute(
        statement_id=statement.id,
        chain_id=access.chain_id,
        org_id=subject,
        period=period.label,
        version=current,
        status="open",
        note=note,
        opened_by=access.actor.user_id,
        opened_at=now,
        lines=[
            DisputeLine(
                order_id=present[(x.order_number, x.line_no)],
                order_number=x.order_number,
                line_no=x.line_no,
                field=x.field,
                expected=x.expected,
                note=x.note,
            )
            for x in lines
        ],
    )
    session.add(dispute)
    statement.state = "disputed"
    statement.updated_at = now
    session.flush()
    record_event(
        session,
        access.actor,
        "statement.dispute",
        "statement_dispute",
        dispute.id,
        chain_id=access.chain_id,
        data={"org_id": subject, "period": period.label, "version": current, "lines": len(lines)},
    )
    publish(
        session,
        chain_id=access.chain_id,
        type="statement.disputed",
        subject_type="statement_dispute",
        subject_id=dispute.id,
        data=_event_data(statement, "disputed", current)
        | {"dispute_id": str(dispute.id), "lines": len(lines)},
        org_ids=_to_org_and_owner(access.chain, subject),
    )
    return dispute


def open_disputes(
    session: Session, access: ChainAccess, period_label: str, tier: str | None = None
) -> list[Dispute]:
    """The disputes of a period still waiting for an answer, oldest first, with their lines: the
    owner's queue (every org's, or one tier's); a partner its own only."""
    require_app(session, access, APP)
    period = check_period(period_label, ZoneInfo(access.chain.timezone))
    stmt = select(Dispute).where(
        Dispute.chain_id == access.chain_id,
        Dispute.period == period.label,
        Dispute.status == "open",
    )
    if not access.is_owner:
        stmt = stmt.where(Dispute.org_id == access.actor.org_id)
    elif tier is not None:
        if not reconcilable(tier):
            raise Invalid("Not a reconcilable tier.", {"tier": ["Use U1, U2... or D1, D2..."]})
        orgs = chain_graph(session, access.chain).orgs_in_tier(tier)
        stmt = stmt.where(Dispute.org_id.in_(orgs))
    return list(session.scalars(stmt.order_by(Dispute.opened_at, Dispute.id)))


def get_dispute(session: Session, access: ChainAccess, dispute_id: int | None) -> Dispute:
    """One dispute of this chain: the owner any, a partner its own (another's: 404)."""
    require_app(session, access, APP)
    dispute = session.get(Dispute, dispute_id) if dispute_id else None
    if (
        dispute is None
        or dispute.chain_id != access.chain_id
        or (not access.is_owner and dispute.org_id != access.actor.org_id)
    ):
        raise NotFound("No such dispute.")
    return dispute


def resolve_dispute(
    session: Session, access: ChainAccess, dispute_id: int | None, resolution: str, note: str
) -> Dispute:
    """The owner's admin or staff accepts or rejects an open dispute with a note (409 if it is
    resolved already); with none left open the statement is `open` again, for the partner to
    confirm."""
    dispute = get_dispute(session, access, dispute_id)
    access.require_owner()
    if resolution not in RESOLUTIONS:
        raise Invalid("Unknown resolution.", {"resolution": ["accepted or rejected."]})
    statement = _statement_for_update(session, access.chain_id, dispute.org_id, dispute.period)
    session.refresh(dispute, with_for_update=True)
    if dispute.status != "open":
        raise Conflict(f"This dispute was {dispute.status} already.")
    now = utcnow()
    dispute.status = resolution
    dispute.resolved_by = access.actor.user_id
    dispute.resolved_at = now
    dispute.resolution_note = note
    session.flush()
    still_open = session.scalar(
        select(exists().where(Dispute.statement_id == statement.id, Dispute.status == "open"))
    )
    if not still_open:
        # Whatever was confirmed before the dispute no longer stands: the partner confirms again.
        statement.state = "open"
        statement.updated_at = now
    record_event(
        session,
        access.actor,
        "dispute.resolve",
        "statement_dispute",
        dispute.id,
        chain_id=access.chain_id,
        data={"org_id": dispute.org_id, "period": dispute.period, "resolution": resolution},
    )
    publish(
        session,
        chain_id=access.chain_id,
        type="dispute.resolved",
        subject_type="statement_dispute",
        subject_id=dispute.id,
        data={
            "id": str(dispute.id),
            "org_id": str(dispute.org_id),
            "period": dispute.period,
            "resolution": resolution,
            "status": statement.state,
            "resolved_at": now.isoformat(),
        },
        org_ids=_to_owner_and_org_with_app(session, access.chain, dispute.org_id),
    )
    session.flush()
    return dispute
