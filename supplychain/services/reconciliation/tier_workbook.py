"""A tier's reconciliation workbook: the ledger's lines and statement answers, with the tier's
scorecards and supplier invoices beside them. It sits above the ledger, the scorecards and the
invoice reports, which all build on the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from supplychain.excel.workbook import OrgRecord, WorkbookMeta, write_reconciliation_workbook
from supplychain.models import Chain
from supplychain.periods import Period
from supplychain.services.invoice_reports import invoice_records
from supplychain.services.reconciliation.ledger import (
    SCOPE,
    check_tier,
    line_records,
    order_lines,
    org_directory,
    statement_answers,
    statement_scope,
)
from supplychain.services.scorecards import tier_scorecards


def write_tier_workbook(
    session: Session,
    chain: Chain,
    tier: str,
    period: Period,
    target: Any,
    revision: int | None,
    now: datetime,
) -> tuple[int, int]:
    """Write one tier's workbook to `target`; returns (line rows, orgs)."""
    tier_orgs = check_tier(session, chain, tier)
    scope = statement_scope(session, chain)
    directory = org_directory(session, chain.id)
    tz = ZoneInfo(chain.timezone)
    orgs = sorted(
        (OrgRecord(o, *directory.get(o, (None, f"org {o}", None)), tier) for o in tier_orgs),
        key=lambda rec: (rec.code or "", rec.name, rec.org_id),
    )

    def side_of(buyer: int, seller: int) -> tuple[int, str, int] | None:
        # The lines of the tier's orgs' statements, each from its statement org's side.
        side = scope.side(buyer, seller)
        return side if side is not None and side[0] in tier_orgs else None

    meta = WorkbookMeta(
        title=f"Reconciliation of tier {tier}", chain=chain.name, tier=tier, period=period.label,
        first_day=period.first, last_day=period.last, timezone=chain.timezone,
        generated_at=now.astimezone(tz), revision=revision, scope=SCOPE,
    )  # fmt: skip
    statuses, disputes = statement_answers(session, chain, period, tier_orgs, directory, scope)
    rows = line_records(order_lines(session, chain, period, None), directory, tz, side_of)
    cards = tier_scorecards(session, chain, [org.org_id for org in orgs], period, now)
    stats = write_reconciliation_workbook(
        target,
        meta,
        orgs,
        rows,
        tz,
        now,
        statuses=statuses,
        disputes=disputes,
        scorecards=cards,
        invoices=invoice_records(session, chain, period, tier_orgs, directory),
    )
    return stats.rows, stats.orgs
