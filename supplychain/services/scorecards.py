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
(three statements for any number of orgs; the median by window functions, which PostgreSQL and
SQLite both have); Python only divides and sorts the per-org results.

The figures of lines are read from the orders, never from the lines: each order keeps the
figures of its lines and its first acknowledgment (`services.order_figures`, refreshed by every
change to the order), so a year of a tier is two passes over its orders (the sums, the medians),
not over ten times as many lines, and both read an index that holds every column they need
(`ix_orders_chain_created_figures`), not the table. What depends on the order's status or on the time of reading is judged here: a
cancelled order's quantities are not in the fill rate and it has no discrepancies; an order
whose acknowledgment is overdue has all its lines discrepant (`order_figures.discrepancy_lines`).
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
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
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
    Org,
)
from supplychain.models.base import utcnow
from supplychain.periods import Period, is_future, parse_period
from supplychain.services.app_access import require_app
from supplychain.services.chains import chain_graph
from supplychain.services.invoice_reports import invoice_match_rates
from supplychain.services.order_figures import amount_sum, discrepancy_lines
from supplychain.services.rates import rate

# Partners see their scorecard where the reconciliation app (their statements) is shared.
APP = "reconciliation"
YEARLY = re.compile(r"^([0-9]{4})\Z")
HOURS = Decimal("0.01")
FEW_ORGS = 50
RATES = (
    "ack_rate",
    "on_time_rate",
    "fill_rate",
    "notice_ack_rate",
    "notice_response_rate",
    "invoice_match_rate",
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
    invoice_match_rate: Decimal | None = None


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
    times)."""
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


# Per-org sums of the per-group figures, by name.
_SUMMED = ("orders", "lines", "received_lines", "on_time_lines", "discrepancy_lines")


def _order_rows(
    session: Session, chain_id: int, org_ids: Collection[int], start: datetime, end: datetime,
    now: datetime,
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Per org: its orders of the period, those it was asked to acknowledge and those answered,
    and the figures of their lines (lines, received and on-time lines, confirmed and received
    quantities of live orders, discrepancy lines judged at `now`), from the figures each order
    keeps of its lines: summed per group of orders with the same parties, then per party."""
    o = Order
    # Cancelled while waiting for an answer: nothing is asked of anyone any more.
    asks = not_(and_(o.status == "cancelled", o.acked_at.is_(None)))
    live = o.status != "cancelled"
    groups = (
        select(
            o.buyer_id,
            o.seller_id,
            o.issuer_id,
            func.count().label("orders"),
            _count_if(asks).label("asks"),
            _count_if(o.acked_at.is_not(None)).label("answered"),
            func.sum(o.line_count).label("lines"),
            func.sum(o.received_line_count).label("received_lines"),
            func.sum(o.on_time_line_count).label("on_time_lines"),
            amount_sum(o.confirmed_qty_total).filter(live).label("confirmed_qty"),
            amount_sum(o.received_qty_total).filter(live).label("received_qty"),
            func.sum(discrepancy_lines(now)).label("discrepancy_lines"),
        )
        .where(o.chain_id == chain_id, o.created_at >= start, o.created_at < end)
        .group_by(o.buyer_id, o.seller_id, o.issuer_id)
        .cte("order_groups")
    )
    g = groups.c
    columns = [g.asks, g.answered, g.confirmed_qty, g.received_qty]
    columns += [g[name] for name in _SUMMED]
    sides = _by_party(groups, org_ids, lambda _: columns, "order_sides").c
    totals = select(
        sides.org_id,
        *(func.sum(sides[name]).label(name) for name in _SUMMED),
        func.sum(case((sides.acknowledges == 1, sides.asks), else_=0)).label("ack_asked"),
        func.sum(case((sides.acknowledges == 1, sides.answered), else_=0)).label("acked"),
        amount_sum(sides.confirmed_qty).label("confirmed_qty"),
        amount_sum(sides.received_qty).label("received_qty"),
    ).group_by(sides.org_id)
    return {row.org_id: row._asdict() for row in session.execute(totals)}


def _median_rows(
    session: Session, chain_id: int, org_ids: Collection[int], start: datetime, end: datetime
) -> dict[int, Any]:
    """Per acknowledging org: the median wait in seconds from issue to first acknowledgment over
    its orders of the period that got one (each org's waits numbered in order)."""
    o = Order
    acknowledger = case((o.issuer_id == o.buyer_id, o.seller_id), else_=o.buyer_id)
    waits = (
        select(
            acknowledger.label("org_id"),
            seconds_between(o.first_acked_at, o.created_at).label("wait"),
        )
        .where(
            o.chain_id == chain_id,
            o.created_at >= start,
            o.created_at < end,
            acknowledger.in_(_ids(org_ids)),
        )
        .subquery("waits")
    )
    # Orders not answered yet have no wait: numbered after the others (NULLS LAST) and not
    # counted in n, so they are never a middle one (and the wait is computed once per order,
    # not again for a filter). The middle one, or the mean of the two middle ones: rn * 2 in
    # [n, n + 2] picks exactly those.
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
    return {org_id: median for org_id, median in session.execute(medians)}


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
    orders = _order_rows(session, chain.id, org_ids, start, end, now)
    medians = _median_rows(session, chain.id, org_ids, start, end)
    notices = _notice_rows(session, chain.id, org_ids, start, end)
    for card in cards:
        if row := orders.get(card.org_id):
            card.orders = int(row["orders"])
            card.lines = int(row["lines"] or 0)
            card.ack_rate = rate(row["acked"], row["ack_asked"])
            card.on_time_rate = rate(row["on_time_lines"], row["received_lines"])
            card.fill_rate = rate(row["received_qty"], row["confirmed_qty"])
            card.discrepancy_lines = int(row["discrepancy_lines"] or 0)
        card.median_ack_hours = _hours(medians.get(card.org_id))
        if row := notices.get(card.org_id):
            card.notice_ack_rate = rate(row["acked"], row["ack_asked"])
            card.notice_response_rate = rate(row["answered"], row["answer_asked"])
    invoice_rates = invoice_match_rates(session, chain, period, org_ids)
    for card in cards:
        card.invoice_match_rate = invoice_rates.get(card.org_id)
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
