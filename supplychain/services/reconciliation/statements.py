"""Partners' statements: one org's statement of a period (its orders with its counterparties one
tier nearer the core, `ledger.StatementScope`) as a workbook, written on request."""

from __future__ import annotations

from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Forbidden, NotFound
from supplychain.excel.workbook import OrgRecord, WorkbookMeta, write_reconciliation_workbook
from supplychain.models import Member
from supplychain.models.base import utcnow
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_event
from supplychain.services.chains import chain_graph
from supplychain.services.reconciliation.ledger import (
    check_period,
    line_records,
    order_lines,
    org_directory,
    safe_name,
    statement_answers,
    statement_scope,
    statement_scope_text,
)

APP = "reconciliation"


def statement_org(access: ChainAccess, org_id: int | None) -> int:
    """Whose statement the caller gets: the owner any member's it names (its own when it names
    none), a partner only its own (403 for another org's)."""
    me = access.actor.org_id
    subject = org_id if org_id is not None else me
    if not access.is_owner and subject != me:
        raise Forbidden("A partner may download only its own statement.")
    return subject


def write_statement(
    session: Session,
    access: ChainAccess,
    period_label: str,
    org_id: int | None,
    target: IO[bytes],
) -> str:
    """One org's statement for a period: a partner its own only, the owner any member's."""
    require_app(session, access, APP)
    subject = statement_org(access, org_id)
    chain = access.chain
    tz = ZoneInfo(chain.timezone)
    period = check_period(period_label, tz)
    directory = org_directory(session, chain.id)
    member = session.scalar(
        select(Member.id).where(Member.chain_id == chain.id, Member.org_id == subject)
    )
    if member is None:
        raise NotFound("No such member in this chain.")
    scope = statement_scope(session, chain)
    tier = chain_graph(session, chain).tier_of(subject)
    code, name, group = directory[subject]
    org = OrgRecord(subject, code, name, group, tier)

    def side_of(buyer: int, seller: int) -> tuple[int, str, int] | None:
        side = scope.side(buyer, seller)
        return side if side is not None and side[0] == subject else None

    now = utcnow()
    meta = WorkbookMeta(
        title=f"Statement of {name}", chain=chain.name, tier=tier, period=period.label,
        first_day=period.first, last_day=period.last, timezone=chain.timezone,
        generated_at=now.astimezone(tz), revision=None,
        scope=statement_scope_text(tier, scope.counterparty_tier(subject)),
    )  # fmt: skip
    rows = line_records(order_lines(session, chain, period, {subject}), directory, tz, side_of)
    statuses, disputes = statement_answers(session, chain, period, {subject}, directory, scope)
    write_reconciliation_workbook(
        target, meta, [org], rows, tz, now, statuses=statuses, disputes=disputes
    )
    record_event(
        session,
        access.actor,
        "reconciliation.statement",
        "org",
        subject,
        chain_id=chain.id,
        data={"period": period.label},
    )
    return f"{safe_name(chain.name)} - statement - {safe_name(code or name)} - {period.label}.xlsx"
