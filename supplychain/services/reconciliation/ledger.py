"""What a reconciliation covers and the rows it lists: reconcilable tiers and started periods,
the chain's order lines of a period seen from one side, and the rows of a tier's workbook
(tier_workbook.py writes it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from supplychain.errors import Invalid
from supplychain.excel.workbook import (
    DisputeRecord,
    LineRecord,
    StatementStatus,
)
from supplychain.graph import CORE, UNLINKED, ChainGraph, valid_tier
from supplychain.models import Chain, Group, Member, Order, OrderLine, Org
from supplychain.models.base import utcnow
from supplychain.periods import Period, is_future, parse_period
from supplychain.services.chains import chain_graph
from supplychain.services.reconciliation.versions import (
    BUYER,
    SELLER,
    period_disputes,
    statement_states,
    versions_of,
)

CONFIRMED = ("confirmed", "changed")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCOPE = (
    "Orders dated in the period (order date in the chain's timezone) between each org of the "
    "tier and its counterparty one tier nearer the core."
)


def check_period(label: str, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """A well-formed period that has started (422 otherwise)."""
    period = parse_period(label)
    if period is None:
        raise Invalid("Malformed period.", {"period": ["Use YYYY-MM or YYYY-Www (ISO week)."]})
    if is_future(period, tz, now or utcnow()):
        raise Invalid("Future period.", {"period": ["This period has not started yet."]})
    return period


def reconcilable(label: str) -> bool:
    """An upstream or downstream tier (U1, D2...): neither the core nor the unlinked."""
    return valid_tier(label) and label not in (CORE, UNLINKED)


def check_tier(session: Session, chain: Chain, tier: str) -> frozenset[int]:
    """The orgs of an upstream or downstream tier present in the chain (422 otherwise)."""
    if not reconcilable(tier):
        raise Invalid("Not a reconcilable tier.", {"tier": ["Use U1, U2... or D1, D2..."]})
    orgs = chain_graph(session, chain).orgs_in_tier(tier)
    if not orgs:
        raise Invalid("Unknown tier.", {"tier": [f"No org is in tier {tier} of this chain."]})
    return orgs


def nearer_tier(tier: str) -> str:
    """The tier one step nearer the core: D2 -> D1, D1 -> core, U1 -> core."""
    depth = int(tier[1:])
    return CORE if depth == 1 else f"{tier[0]}{depth - 1}"


class StatementScope:
    """Whose statement an order belongs to: the one home of API.md's rule that a partner's
    statement holds its orders with its counterparty one tier nearer the core, the rule a tier's
    workbook lists too. An order belongs to the statement of the party farther from the core
    when the other party is in the tier one nearer (a D2 org's orders with D1 orgs, a D1 org's
    with the core, a U2 org's with U1 orgs); to no statement otherwise (an order between two
    orgs of one tier, or with an unlinked or removed org). So an org trading both ways (a D2
    org buying from D1 and selling to D3) has only its D1 orders in its statement; its D3
    orders are in its D3 customers' statements. An org in no upstream or downstream tier (the
    core, an unlinked org) has no counterparty one tier nearer: its statement holds no lines.
    Tiers are the chain's as its links are now, as for the tier workbook."""

    def __init__(self, graph: ChainGraph) -> None:
        self._tiers = graph.tiers
        self._nearer = {t: nearer_tier(t) for t in set(graph.tiers.values()) if reconcilable(t)}

    def side(self, buyer: int, seller: int) -> tuple[int, str, int] | None:
        """(statement org, its role, counterparty) of an order, or None: in no statement."""
        tiers = self._tiers
        nearer = self._nearer.get(tiers.get(buyer, UNLINKED))
        if nearer is not None and tiers.get(seller) == nearer:
            return buyer, "buyer", seller
        nearer = self._nearer.get(tiers.get(seller, UNLINKED))
        if nearer is not None and tiers.get(buyer) == nearer:
            return seller, "seller", buyer
        return None

    def holder(self, buyer: int, seller: int) -> int | None:
        """The org whose statement holds an order between `buyer` and `seller` (None: nobody's)."""
        side = self.side(buyer, seller)
        return None if side is None else side[0]

    def counterparty_tier(self, org_id: int) -> str | None:
        """The tier of the org's statement counterparties (None: it has none, nor lines)."""
        return self._nearer.get(self._tiers.get(org_id, UNLINKED))


def statement_scope(session: Session, chain: Chain) -> StatementScope:
    """The chain's statement scope, from its graph as it is now."""
    return StatementScope(chain_graph(session, chain))


def statement_scope_text(tier: str, counterparty_tier: str | None) -> str:
    """What an org's statement covers, in words (the xlsx's Covers and the JSON's `scope`)."""
    if counterparty_tier is None:
        return (
            f"None: this org is in tier {tier}, not an upstream or downstream tier, so it has no "
            "counterparty one tier nearer the core and its statement holds no lines."
        )
    return (
        f"Orders dated in the period (order date in the chain's timezone) between this org "
        f"(tier {tier}) and its counterparties one tier nearer the core ({counterparty_tier}). "
        "Its orders with orgs farther from the core are in those orgs' statements."
    )


def org_directory(session: Session, chain_id: int) -> dict[int, tuple[str | None, str, str | None]]:
    """org_id -> (custom id, name, group path) for every member, current or removed."""
    rows = session.execute(
        select(Member.org_id, Member.custom_id, Org.name, Group.path)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == chain_id)
    )
    return {org_id: (code, name, path) for org_id, code, name, path in rows}


def _lines_of_period(
    columns: tuple[Any, ...], chain: Chain, period: Period, org_ids: set[int] | None
) -> Select:
    """SELECT `columns` of the chain's order lines dated in the period (of `org_ids`' orders,
    as buyer or seller, when given), by order and line number, streamed in batches."""
    start, end = period.bounds(ZoneInfo(chain.timezone))
    stmt = (
        select(*columns)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.chain_id == chain.id, Order.created_at >= start, Order.created_at < end)
        .order_by(Order.id, OrderLine.line_no)
        .execution_options(yield_per=2000)
    )
    if org_ids is not None:
        ids = sorted(org_ids)
        stmt = stmt.where(or_(Order.buyer_id.in_(ids), Order.seller_id.in_(ids)))
    return stmt


LINE_COLUMNS = (
    Order.id,
    Order.number,
    Order.created_at,
    Order.status,
    Order.ack_code,
    Order.currency,
    Order.buyer_id,
    Order.seller_id,
    Order.ack_due,
    Order.acked_at,
    OrderLine.line_no,
    OrderLine.sku,
    OrderLine.description,
    OrderLine.unit,
    OrderLine.qty,
    OrderLine.unit_price,
    OrderLine.requested_date,
    OrderLine.ack_status,
    OrderLine.ack_code,
    OrderLine.confirmed_qty,
    OrderLine.confirmed_price,
    OrderLine.promised_date,
    OrderLine.shipped_qty,
    OrderLine.received_qty,
    OrderLine.ack_reason,
)
# What a statement's version digests (versions.figures_of a LINE_COLUMNS row gives the same).
FIGURE_COLUMNS = (
    Order.id,
    Order.number,
    OrderLine.line_no,
    Order.buyer_id,
    Order.seller_id,
    Order.status,
    OrderLine.sku,
    Order.currency,
    OrderLine.qty,
    OrderLine.unit_price,
    OrderLine.ack_status,
    OrderLine.confirmed_qty,
    OrderLine.confirmed_price,
    OrderLine.shipped_qty,
    OrderLine.received_qty,
)


def order_lines(
    session: Session, chain: Chain, period: Period, org_ids: set[int] | None
) -> Iterator[tuple[Any, ...]]:
    """Stream (order, line) columns of the chain's orders dated in the period, in batches."""
    yield from session.execute(_lines_of_period(LINE_COLUMNS, chain, period, org_ids))


def figure_lines(
    session: Session, chain: Chain, period: Period, org_ids: set[int] | None
) -> Iterator[tuple[Any, ...]]:
    """Stream the figure rows (versions.py) of the same lines: only what a version digests."""
    yield from session.execute(_lines_of_period(FIGURE_COLUMNS, chain, period, org_ids))


def statement_rows(
    session: Session, chain: Chain, period: Period, org_id: int, scope: StatementScope
) -> list[tuple[Any, ...]]:
    """The full rows (`order_lines`) of one org's statement for the period: its orders that
    `scope` gives to its statement, by order and line number."""
    if scope.counterparty_tier(org_id) is None:
        return []
    return [
        tuple(row)
        for row in order_lines(session, chain, period, {org_id})
        if scope.holder(row[BUYER], row[SELLER]) == org_id
    ]


def line_records(
    rows: Iterator[tuple[Any, ...]],
    directory: dict[int, tuple[str | None, str, str | None]],
    tz: ZoneInfo,
    side_of: Any,
) -> Iterator[LineRecord]:
    """The workbook's line records: each order line from the side `side_of(buyer, seller)` names
    (org, role, counterparty), or skipped when it names none."""
    for row in rows:
        (_, number, created_at, status, bak02, currency, buyer, seller, ack_due, acked_at,
         line_no, sku, description, unit, qty, price, requested, ack_status, ack01,
         confirmed_qty, confirmed_price, promised, shipped, received, reason) = row  # fmt: skip
        side = side_of(buyer, seller)
        if side is None:
            continue
        org_id, role, other = side
        code, name, _ = directory.get(other, (None, f"org {other}", None))
        yield LineRecord(
            org_id=org_id, role=role, counterparty_code=code, counterparty_name=name,
            order_number=number, order_date=created_at.astimezone(tz).date(),
            order_status=status, bak02=bak02, currency=currency, line_no=line_no, sku=sku,
            description=description, unit=unit, ordered_qty=qty, unit_price=price,
            requested_date=requested, ack_status=ack_status, ack01=ack01,
            confirmed_qty=confirmed_qty, confirmed_price=confirmed_price,
            promised_date=promised, shipped_qty=shipped, received_qty=received,
            ack_due=ack_due, acked_at=acked_at, reason=reason,
        )  # fmt: skip


def statement_answers(
    session: Session,
    chain: Chain,
    period: Period,
    org_ids: frozenset[int] | set[int],
    directory: dict[int, tuple[str | None, str, str | None]],
    scope: StatementScope,
) -> tuple[dict[int, StatementStatus], list[DisputeRecord]]:
    """The orgs' statement statuses (with confirmation times) and their disputes' lines, for a
    workbook's Summary and Disputes sheets."""
    versions = versions_of(figure_lines(session, chain, period, set(org_ids)), chain.id,
                           period.label, org_ids, scope.holder)  # fmt: skip
    states = statement_states(session, chain.id, period.label, versions, scope.holder)
    # A confirmation time only beside a confirmation that stands (or whose figures changed).
    statuses = {
        o: StatementStatus(st.status, st.confirmed_at if st.status in CONFIRMED else None)
        for o, st in states.items()
    }
    records = []
    for dispute in period_disputes(session, chain.id, period.label, org_ids):
        code, name, _ = directory.get(dispute.org_id, (None, f"org {dispute.org_id}", None))
        for line in dispute.lines:
            records.append(
                DisputeRecord(
                    org_code=code,
                    org_name=name,
                    dispute_id=dispute.id,
                    status=dispute.status,
                    opened_at=dispute.opened_at,
                    order_number=line.order_number,
                    line_no=line.line_no,
                    field=line.field,
                    expected=line.expected,
                    line_note=line.note,
                    dispute_note=dispute.note,
                    resolved_at=dispute.resolved_at,
                    resolution_note=dispute.resolution_note,
                )
            )
    return statuses, records


def safe_name(text: str) -> str:
    """Text fit for a download's file name: no path separators or control characters."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip() or "chain"
