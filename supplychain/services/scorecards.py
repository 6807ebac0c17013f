"""Scorecards: each partner's measured behaviour over a month, an ISO week or a year.

What a scorecard covers: every order of the org (as buyer or as seller) dated in the period
(order date in the chain's timezone), the lines of its statement; and the notices it received
that were sent in the period. Figures:

* `orders`, `lines`: those orders and their lines (cancelled ones included).
* `ack_rate`: orders acknowledged (their current version has an answer) / orders the org
  received as the acknowledging side (the side that did not issue them), leaving out orders
  cancelled while still waiting for an answer.
* `median_ack_hours`: median time from issue to the first acknowledgment, over those orders
  that got one (even counts: the mean of the two middle values).
* `on_time_rate`: received lines whose latest receipt fell on or before the promised date (else
  the requested date), in the chain's timezone / received lines that have such a date.
* `fill_rate`: received quantity / confirmed quantity, over confirmed lines of live orders.
* `discrepancy_lines`: lines the reconciliation's Discrepancies sheet lists (any flag of
  `supplychain.excel.workbook.discrepancy_flags`, judged now).
* `notice_ack_rate`, `notice_response_rate`: notices acknowledged / notices received asking
  for an acknowledgment (`requires_ack`); notices answered / notices received asking for an
  answer (those with items: only items can be answered). A notice withdrawn before the org
  answered asks nothing of it any more and counts in neither.

Rates are Decimals in 0..1 rounded half-up to 4 places, hours to 2 places, and None where the
denominator is 0: no data is never shown as 0. Each figure is an SQL aggregate grouped per org
(four statements for any number of orgs; the median by window functions, which PostgreSQL and
SQLite both have); Python only divides and sorts the per-org results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    bindparam,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from supplychain.access import ChainAccess
from supplychain.errors import Invalid, NotFound
from supplychain.graph import CORE, tier_sort_key, valid_tier
from supplychain.models import (
    Chain,
    Member,
    Notice,
    NoticeItem,
    NoticeRecipient,
    Order,
    OrderEvent,
    OrderLine,
    Org,
)
from supplychain.models.base import AMOUNT, utcnow
from supplychain.periods import Period, is_future, parse_period
from supplychain.services.apps import require_app
from supplychain.services.chains import chain_graph

# Partners see their scorecard where the reconciliation app (their statements) is shared.
APP = "reconciliation"
YEARLY = re.compile(r"^([0-9]{4})\Z")
RATE = Decimal("0.0001")
HOURS = Decimal("0.01")
FEW_ORGS = 50
RATES = (
    "ack_rate",
    "on_time_rate",
    "fill_rate",
    "notice_ack_rate",
    "notice_response_rate",
)
FIGURES = ("orders", "lines", "median_ack_hours", "discrepancy_lines", *RATES)
SORT_KEYS = ("name", "code", "tier", *FIGURES)


@dataclass
class Scorecard:
    """One org's figures for a period (None: no data for that figure)."""

    org_id: int
    name: str
    code: str | None
    tier: str
    orders: int = 0
    lines: int = 0
    ack_rate: Decimal | None = None
    median_ack_hours: Decimal | None = None
    on_time_rate: Decimal | None = None
    fill_rate: Decimal | None = None
    discrepancy_lines: int = 0
    notice_ack_rate: Decimal | None = None
    notice_response_rate: Decimal | None = None


# --- periods ----------------------------------------------------------------------------------


def parse_scorecard_period(label: str) -> Period | None:
    """A month (`YYYY-MM`), an ISO week (`YYYY-Www`) or a year (`YYYY`); None when malformed."""
    if m := YEARLY.match(label):
        year = int(m[1])
        return Period(label, date(year, 1, 1), date(year, 12, 31)) if year >= 1900 else None
    return parse_period(label)


def check_scorecard_period(label: str, tz: ZoneInfo, now: datetime) -> Period:
    """A well-formed period that has started in the chain's timezone (422 naming `period`)."""
    period = parse_scorecard_period(label)
    if period is None:
        raise Invalid(
            "Malformed period.",
            {"period": ["Use YYYY-MM (month), YYYY-Www (ISO week) or YYYY (year)."]},
        )
    if is_future(period, tz, now):
        raise Invalid("Future period.", {"period": ["This period has not started yet."]})
    return period


# --- the rules in SQL ---------------------------------------------------------------------------


class seconds_between(FunctionElement):  # noqa: N801 - reads as an SQL function
    """`later - earlier` in seconds, for two UTC timestamp columns, on PostgreSQL and SQLite."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"
    )


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"((julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)})) * 86400.0)"
    )


def discrepant_line(now: datetime) -> ColumnElement[bool]:
    """SQL twin of `discrepancy_flags(line, now) != []` on an Order joined to its OrderLine.

    A line of a live order that is not acknowledged is flagged (ACK_MISSING), so the other
    flags, which all need an acknowledgment, are tested without repeating that condition.
    `tests/integration/test_scorecards.py` checks both agree on every combination."""
    o, line = Order, OrderLine
    return and_(
        o.status != "cancelled",
        or_(
            line.ack_status == "pending",  # ACK_MISSING
            and_(line.confirmed_qty.is_not(None), line.confirmed_qty != line.qty),  # QTY
            and_(  # PRICE
                line.ack_status != "rejected",
                line.confirmed_price.is_not(None),
                line.confirmed_price != line.unit_price,
            ),
            line.shipped_qty != func.coalesce(line.confirmed_qty, 0),  # SHIP
            line.received_qty != line.shipped_qty,  # RECV
            and_(  # ACK_OVERDUE
                o.ack_due.is_not(None),
                or_(and_(o.acked_at.is_(None), o.ack_due < now), o.acked_at > o.ack_due),
            ),
        ),
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    # An aggregate FILTER (PostgreSQL and SQLite >= 3.30) rather than a sum over a CASE: the
    # condition is the only expression evaluated per row.
    return func.count().filter(condition)


def _ids(org_ids: Collection[int]) -> Any:
    # Inlined as literals: a tier of 20 000 orgs is past SQLite's bound-parameter limit.
    return bindparam("org_ids", sorted(org_ids), expanding=True, literal_execute=True)


def _by_party(
    rows: Any,
    org_ids: Collection[int],
    columns: Callable[[ColumnElement[bool]], list[Any]],
    name: str,
) -> Any:
    """Each row of `rows` (one per order, with buyer, seller and issuer) once per party among
    `org_ids`, with whether that party is the one that acknowledges the order and the
    `columns(acknowledges)`: a CTE computed once (MATERIALIZED: its columns are read several
    times, and some cost a subquery)."""
    r = rows.c
    sides = []
    for party, acknowledges in (
        (r.buyer_id, r.issuer_id != r.buyer_id),
        (r.seller_id, r.issuer_id == r.buyer_id),
    ):
        sides.append(
            select(
                party.label("org_id"),
                case((acknowledges, 1), else_=0).label("acknowledges"),
                *columns(acknowledges),
            ).where(party.in_(_ids(org_ids)))
        )
    return union_all(*sides).cte(name).prefix_with("MATERIALIZED")


def _line_rows(
    session: Session, chain_id: int, org_ids: Collection[int], start: datetime, end: datetime,
    now: datetime,
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Per org: lines, received and on-time lines, confirmed and received quantities and
    discrepancy lines of its orders of the period (one pass over the lines, per order first)."""
    o, line = Order, OrderLine
    due = func.coalesce(line.promised_date, line.requested_date)
    received = and_(line.received_qty > 0, due.is_not(None))
    # Each figure an aggregate with FILTER (both databases have it) rather than a sum over a
    # CASE per line: the lines pass 5-10% faster on SQLite, the same on PostgreSQL (`make bench
    # scorecards`).
    confirmed = and_(o.status != "cancelled", line.confirmed_qty.is_not(None))
    # The lines are summed per group of orders with the same parties: per order on SQLite,
    # which streams the groups in order-id order without sorting; per (buyer, seller, issuer)
    # on PostgreSQL, which hashes those few thousand groups (2.5x faster than per order, by
    # `make bench scorecards`; on SQLite it is 2x slower, for the sort).
    per_order = session.get_bind().dialect.name == "sqlite"
    grouping = (o.id,) if per_order else (o.buyer_id, o.seller_id, o.issuer_id)
    per_group = (
        select(
            o.buyer_id,
            o.seller_id,
            o.issuer_id,
            func.count().label("lines"),
            _count_if(received).label("received_lines"),
            _count_if(and_(received, line.last_received_on <= due)).label("on_time_lines"),
            func.sum(line.confirmed_qty).filter(confirmed).label("confirmed_qty"),
            func.sum(line.received_qty).filter(confirmed).label("received_qty"),
            _count_if(discrepant_line(now)).label("discrepancy_lines"),
        )
        .join(line, line.order_id == o.id)
        .where(o.chain_id == chain_id, o.created_at >= start, o.created_at < end)
        .group_by(*grouping)
        .cte("order_lines_figures")
    )
    p = per_group.c
    figures = [p.lines, p.received_lines, p.on_time_lines, p.confirmed_qty, p.received_qty,
               p.discrepancy_lines]  # fmt: skip
    sides = _by_party(per_group, org_ids, lambda _: figures, "line_sides")
    s = sides.c
    stmt = select(
        s.org_id,
        func.sum(s.lines).label("lines"),
        func.sum(s.received_lines).label("received_lines"),
        func.sum(s.on_time_lines).label("on_time_lines"),
        type_coerce(func.sum(s.confirmed_qty), AMOUNT).label("confirmed_qty"),
        type_coerce(func.sum(s.received_qty), AMOUNT).label("received_qty"),
        func.sum(s.discrepancy_lines).label("discrepancy_lines"),
    ).group_by(s.org_id)
    return {row.org_id: row._asdict() for row in session.execute(stmt)}


def _order_rows(
    session: Session, chain_id: int, org_ids: Collection[int], start: datetime, end: datetime
) -> dict[int, dict[str, Any]]:
    """Per org: its orders of the period, those it was asked to acknowledge and those answered
    (counted per group of orders with the same parties, then per party), and the median wait
    from issue to first acknowledgment (numbered per acknowledging org)."""
    o = Order
    in_period = and_(o.chain_id == chain_id, o.created_at >= start, o.created_at < end)
    # Cancelled while waiting for an answer: nothing is asked of anyone any more.
    asks = not_(and_(o.status == "cancelled", o.acked_at.is_(None)))
    groups = (
        select(
            o.buyer_id,
            o.seller_id,
            o.issuer_id,
            func.count().label("orders"),
            _count_if(asks).label("asks"),
            _count_if(o.acked_at.is_not(None)).label("answered"),
        )
        .where(in_period)
        .group_by(o.buyer_id, o.seller_id, o.issuer_id)
        .cte("order_groups")
    )
    g = groups.c
    sides = _by_party(groups, org_ids, lambda _: [g.orders, g.asks, g.answered], "order_sides").c
    totals = select(
        sides.org_id,
        func.sum(sides.orders).label("orders"),
        func.sum(case((sides.acknowledges == 1, sides.asks), else_=0)).label("ack_asked"),
        func.sum(case((sides.acknowledges == 1, sides.answered), else_=0)).label("acked"),
    ).group_by(sides.org_id)
    rows = {row.org_id: row._asdict() | {"median_seconds": None} for row in session.execute(totals)}
    # The median: each acknowledging org's waits numbered in order; the middle one, or the mean
    # of the two middle ones (rn * 2 in [n, n + 2] picks exactly those).
    acknowledger = case((o.issuer_id == o.buyer_id, o.seller_id), else_=o.buyer_id)
    # Each order's first acknowledgment, grouped once for the period's orders (a join: twice
    # as fast as a look-up per order on both databases).
    answered_at = aliased(Order)
    first_acks = (
        select(OrderEvent.order_id, func.min(OrderEvent.at).label("at"))
        .join(answered_at, answered_at.id == OrderEvent.order_id)
        .where(
            answered_at.chain_id == chain_id,
            answered_at.created_at >= start,
            answered_at.created_at < end,
            OrderEvent.kind == "acknowledged",
        )
        .group_by(OrderEvent.order_id)
        .subquery("first_acks")
    )
    waits = (
        select(
            acknowledger.label("org_id"),
            seconds_between(first_acks.c.at, o.created_at).label("wait"),
        )
        .outerjoin(first_acks, first_acks.c.order_id == o.id)
        .where(in_period, acknowledger.in_(_ids(org_ids)))
        .subquery("waits")
    )
    # Orders not answered yet have no wait: numbered after the others (NULLS LAST) and not
    # counted in n, so they are never a middle one (and the wait is computed once per order,
    # not again for a filter).
    # Both windows numbered in the same order (the count over the whole partition), so that
    # the waits are sorted once, not once per window (SQLite sorts for each window spec).
    in_order = {"partition_by": waits.c.org_id, "order_by": waits.c.wait.asc().nulls_last()}
    numbered = select(
        waits.c.org_id,
        waits.c.wait,
        func.row_number().over(**in_order).label("rn"),
        func.count(waits.c.wait).over(**in_order, rows=(None, None)).label("n"),
    ).subquery("numbered")
    w = numbered.c
    medians = (
        select(w.org_id, func.avg(w.wait))
        .where(w.rn * 2 >= w.n, w.rn * 2 <= w.n + 2)
        .group_by(w.org_id)
    )
    for org_id, median in session.execute(medians):
        if org_id in rows:
            rows[org_id]["median_seconds"] = median
    return rows


def _notice_rows(
    session: Session, chain_id: int, org_ids: Collection[int], start: datetime, end: datetime
) -> dict[int, dict[str, Any]]:
    n, r = Notice, NoticeRecipient
    notices = (
        select(
            n.id,
            n.requires_ack,
            n.withdrawn_at,
            exists().where(NoticeItem.notice_id == n.id).label("answerable"),
        )
        .where(n.chain_id == chain_id, n.created_at >= start, n.created_at < end)
        # Once per notice, not once per recipient.
        .cte("period_notices")
        .prefix_with("MATERIALIZED")
    )
    p = notices.c
    ack_asked = and_(p.requires_ack, or_(p.withdrawn_at.is_(None), r.acked_at.is_not(None)))
    answer_asked = and_(p.answerable, or_(p.withdrawn_at.is_(None), r.responded_at.is_not(None)))
    stmt = (
        select(
            r.org_id,
            _count_if(ack_asked).label("ack_asked"),
            _count_if(and_(ack_asked, r.acked_at.is_not(None))).label("acked"),
            _count_if(answer_asked).label("answer_asked"),
            _count_if(and_(answer_asked, r.responded_at.is_not(None))).label("answered"),
        )
        .join(notices, p.id == r.notice_id)
        .where(r.chain_id == chain_id)
        .group_by(r.org_id)
    )
    # A few orgs (a partner's own card): their recipient rows through the index by org. Many (a
    # tier): every recipient of the period's notices, notice by notice, and the orgs picked
    # after; an org filter would have SQLite read them org by org, all over the table (3x
    # slower for a tier of 1 000, by `make bench scorecards`).
    wanted = set(org_ids)
    if len(wanted) <= FEW_ORGS:
        stmt = stmt.where(r.org_id.in_(_ids(wanted)))
    return {row.org_id: row._asdict() for row in session.execute(stmt) if row.org_id in wanted}


def rate(part: Any, whole: Any) -> Decimal | None:
    """part / whole in 0..1, rounded half-up to 4 places; None when `whole` is 0 (no data)."""
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)


def _hours(seconds: Any) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(str(seconds)) / 3600).quantize(HOURS, rounding=ROUND_HALF_UP)


def measure(
    session: Session,
    chain: Chain,
    cards: list[Scorecard],
    period: Period,
    now: datetime,
) -> list[Scorecard]:
    """Fill in the figures of `cards` (orgs of `chain`) for `period`, judged at `now`."""
    if not cards:
        return cards
    start, end = period.bounds(ZoneInfo(chain.timezone))
    org_ids = [card.org_id for card in cards]
    if session.get_bind().dialect.name == "postgresql":
        # The aggregates' high cost estimates make PostgreSQL compile them to machine code
        # first, which takes longer than running them (a second of 3 for a year of 1 000 000
        # lines); for the rest of this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    orders = _order_rows(session, chain.id, org_ids, start, end)
    lines = _line_rows(session, chain.id, org_ids, start, end, now)
    notices = _notice_rows(session, chain.id, org_ids, start, end)
    for card in cards:
        if row := orders.get(card.org_id):
            card.orders = int(row["orders"])
            card.ack_rate = rate(row["acked"], row["ack_asked"])
            card.median_ack_hours = _hours(row["median_seconds"])
        if row := lines.get(card.org_id):
            card.lines = int(row["lines"] or 0)
            card.on_time_rate = rate(row["on_time_lines"], row["received_lines"])
            card.fill_rate = rate(row["received_qty"], row["confirmed_qty"])
            card.discrepancy_lines = int(row["discrepancy_lines"] or 0)
        if row := notices.get(card.org_id):
            card.notice_ack_rate = rate(row["acked"], row["ack_asked"])
            card.notice_response_rate = rate(row["answered"], row["answer_asked"])
    return cards


# --- who sees what ------------------------------------------------------------------------------


def partner_cards(
    session: Session, chain: Chain, org_ids: Collection[int] | None
) -> list[Scorecard]:
    """Empty scorecards of the chain's current partners (every one, or those of `org_ids`)."""
    graph = chain_graph(session, chain)
    stmt = (
        select(Member.org_id, Member.custom_id, Org.name)
        .join(Org, Org.id == Member.org_id)
        .where(Member.chain_id == chain.id, Member.is_current, Member.org_id != chain.owner_org_id)
    )
    if org_ids is not None:
        stmt = stmt.where(Member.org_id.in_(_ids(org_ids)))
    return [
        Scorecard(org_id=org_id, name=name, code=code, tier=graph.tier_of(org_id))
        for org_id, code, name in session.execute(stmt)
    ]


def tier_scorecards(
    session: Session, chain: Chain, org_ids: list[int], period: Period, now: datetime
) -> list[Scorecard]:
    """The scorecards of a tier's orgs in the order given (the tier workbook's Scorecard sheet:
    the same figures as the API)."""
    cards = {card.org_id: card for card in partner_cards(session, chain, org_ids)}
    return measure(session, chain, [cards[o] for o in org_ids if o in cards], period, now)


def sort_scorecards(cards: list[Scorecard], key: str, descending: bool) -> list[Scorecard]:
    """Sorted by one column, either way, with None (no data) last in both directions; ties by
    name and id."""
    if key not in SORT_KEYS:
        raise ValueError(f"Unknown scorecard column: {key}")
    cards = sorted(cards, key=lambda c: (c.name, c.org_id))

    def value(card: Scorecard) -> Any:
        raw = getattr(card, key)
        return tier_sort_key(raw) if key == "tier" else raw

    present = [c for c in cards if value(c) is not None]
    missing = [c for c in cards if value(c) is None]
    return sorted(present, key=value, reverse=descending) + missing


def parse_sort(sort: str) -> tuple[str, bool]:
    """`column` or `-column` (descending) as (column, descending); 422 naming `sort`."""
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        raise Invalid(
            "Unknown sort column.",
            {"sort": ["Sort by a column's name, with a leading '-' for descending order."]},
        )
    return key, sort.startswith("-")


def scorecards(
    session: Session,
    access: ChainAccess,
    period_label: str,
    *,
    tier: str | None = None,
    org_id: int | None = None,
    sort: str = "name",
    now: datetime | None = None,
) -> tuple[Period, list[Scorecard]]:
    """The scorecards the caller may see for a period: the owner every partner's, a partner
    (with the reconciliation app) only its own; `org_id` names one (another's is 404)."""
    require_app(session, access, APP)
    chain = access.chain
    now = now or utcnow()
    period = check_scorecard_period(period_label, ZoneInfo(chain.timezone), now)
    if tier is not None and (not valid_tier(tier) or tier == CORE):
        raise Invalid("Not a partner tier.", {"tier": ["Use U1, U2..., D1, D2... or unlinked."]})
    key, descending = parse_sort(sort)
    me = access.actor.org_id
    if not access.is_owner and org_id is not None and org_id != me:
        raise NotFound("No such member in this chain.")
    wanted = [org_id] if org_id is not None else (None if access.is_owner else [me])
    cards = partner_cards(session, chain, wanted)
    if org_id is not None and not cards:
        raise NotFound("No such member in this chain.")
    if tier is not None:
        cards = [card for card in cards if card.tier == tier]
    measure(session, chain, cards, period, now)
    return period, sort_scorecards(cards, key, descending)
