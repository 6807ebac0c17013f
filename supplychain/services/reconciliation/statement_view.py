"""A partner's statement as it reads (对账单): its lines, totals, status, version and disputes.

The figures are computed from the orders each time; a confirmation keeps its version and a
snapshot of what it confirmed (`snapshot`), so a later change (late receipt, amendment) reads
`changed` with the difference shown (what was confirmed judged within the statement's scope now:
`versions.judge_confirmations`). Answers to it: `confirmations` and `disputes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Forbidden, NotFound
from supplychain.excel.workbook import discrepancy_flags
from supplychain.models import Dispute, Member, Statement
from supplychain.models.base import utcnow
from supplychain.periods import Period
from supplychain.services.app_access import require_app
from supplychain.services.chains import chain_graph
from supplychain.services.invoice_reports import invoiced_statement
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import (
    StatementScope,
    check_period,
    line_records,
    org_directory,
    statement_rows,
    statement_scope,
    statement_scope_text,
)

APP = "reconciliation"
ZERO = Decimal(0)
CENT = Decimal("0.01")


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


def snapshot(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
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


def statement_for_update(session: Session, chain_id: int, org_id: int, period: str) -> Statement:
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


def version_of(
    chain_id: int, period: Period, org_id: int, rows: list[tuple[Any, ...]], scope: StatementScope
) -> str:
    """The version of one org's statement from its rows (`ledger.statement_rows`)."""
    figures = map(v.figures_of, rows)
    return v.versions_of(figures, chain_id, period.label, [org_id], scope.holder)[org_id]


def view_of(
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
    judged = judged_answer(session, chain.id, period, org_id, row, version, scope)
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


def judged_answer(
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
    version = version_of(access.chain_id, period, subject, rows, scope)
    view = view_of(session, access, period, subject, rows, version, scope)
    return invoiced_statement(session, access.chain_id, view)
