"""Statement disputes: a partner disputes lines of the version of its statement it saw (stale:
409); the owner resolves them (accepted or rejected, with a note); with none left open the
statement is `open` again, for the partner to confirm.

Every step is audited and published (addressed to the owner and the statement's org, the latter
only while it may open its statement) in the transaction of the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.models import Chain, Dispute, DisputeLine
from supplychain.models.base import utcnow
from supplychain.models.statements import DISPUTE_FIELDS, RESOLUTIONS
from supplychain.services.app_access import orgs_with_app, require_app
from supplychain.services.audit import record_action
from supplychain.services.chains import chain_graph
from supplychain.services.events import publish
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.confirmations import (
    current_statement,
    publish_answer,
    to_org_and_owner,
)
from supplychain.services.reconciliation.ledger import (
    check_period,
    reconcilable,
)
from supplychain.services.reconciliation.statement_view import APP, statement_for_update


@dataclass(frozen=True)
class DisputedLine:
    """One line of a dispute as the partner sends it."""

    order_number: str
    line_no: int
    field: str
    note: str
    expected: str | None = None


def _to_owner_and_org_with_app(session: Session, chain: Chain, org_id: int) -> list[int]:
    """The owner, and the statement's org if it may still open its statement (the app is shared
    with it now: one whose grant was revoked since it disputed would be refused the dispute)."""
    return sorted(orgs_with_app(session, chain, APP, to_org_and_owner(chain, org_id)))


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
    now_is = current_statement(session, access, period_label, org_id, version)
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
    statement = statement_for_update(session, access.chain_id, subject, period.label)
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
    record_action(
        session,
        access,
        "statement.dispute",
        "statement_dispute",
        dispute.id,
        data={"org_id": subject, "period": period.label, "version": current, "lines": len(lines)},
    )
    extra = {"dispute_id": str(dispute.id), "lines": len(lines)}
    publish_answer(session, access, statement, current, ("statement_dispute", dispute.id), extra)
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
    statement = statement_for_update(session, access.chain_id, dispute.org_id, dispute.period)
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
    record_action(
        session,
        access,
        "dispute.resolve",
        "statement_dispute",
        dispute.id,
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
