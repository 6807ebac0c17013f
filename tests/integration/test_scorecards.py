"""Scorecard rules on the real database: the discrepancy lines counted from the figures kept on
orders agree with the workbook's flags on every combination, and the period labels scorecards
accept."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.errors import Invalid
from supplychain.excel.workbook import LineRecord, discrepancy_flags
from supplychain.models import Chain, Order, OrderLine, Org, User
from supplychain.services.order_figures import discrepancy_lines, refresh_order_figures
from supplychain.services.scorecards import (
    Scorecard,
    check_scorecard_period,
    parse_scorecard_period,
    rate,
    sort_scorecards,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# Order-level variants: status x (ack_due, acked_at).
ORDER_STATUSES = ("issued", "accepted_with_changes", "cancelled")
ACK_TIMES = (
    (None, None),
    (NOW - HOUR, None),  # due in the past, no answer: overdue
    (NOW + HOUR, None),  # due later: not yet
    (NOW - HOUR, NOW - 2 * HOUR),  # answered in time
    (NOW - 2 * HOUR, NOW - HOUR),  # answered late
)
# Line-level variants.
ACK_STATUSES = ("pending", "accepted", "changed", "backordered", "rejected")
CONFIRMED = (None, "10", "6", "0")
PRICES = (None, "1", "2")
SHIPPED_RECEIVED = (("0", "0"), ("6", "6"), ("10", "10"), ("10", "9"))


def _record(order: Order, line: OrderLine) -> LineRecord:
    """The line as the reconciliation's workbook sees it."""
    return LineRecord(
        org_id=order.buyer_id, role="buyer", counterparty_code=None, counterparty_name="Owner",
        order_number=order.number, order_date=date(2026, 6, 15), order_status=order.status,
        bak02=None, currency="CNY", line_no=line.line_no, sku=line.sku, description=None,
        unit=None, ordered_qty=line.qty, unit_price=line.unit_price, requested_date=None,
        ack_status=line.ack_status, ack01=None, confirmed_qty=line.confirmed_qty,
        confirmed_price=line.confirmed_price, promised_date=None, shipped_qty=line.shipped_qty,
        received_qty=line.received_qty, ack_due=order.ack_due, acked_at=order.acked_at,
        reason=None,
    )  # fmt: skip


def test_discrepancy_lines_agree_with_the_workbook_flags(session: Session):
    """Each order's discrepancy lines as scorecards count them (the line-level count kept on the
    order, with its status and overdue acknowledgment judged at reading) equal the lines the
    workbook flags: an order of one line per combination of every order-level and line-level
    variant, and per order-level variant one order with all of them."""
    owner, buyer = Org(name="Owner", kind="manufacturer"), Org(name="Buyer", kind="dealer")
    session.add_all([owner, buyer])
    session.flush()
    user = User(org_id=owner.id, email="flags@example.com", name="Flags")
    chain = Chain(name="Flags", owner_org_id=owner.id)
    session.add_all([user, chain])
    session.flush()
    combos = list(itertools.product(ACK_STATUSES, CONFIRMED, PRICES, SHIPPED_RECEIVED))
    made: list[tuple[Order, list[OrderLine]]] = []
    variants = itertools.product(ORDER_STATUSES, ACK_TIMES)
    for v, (status, (ack_due, acked_at)) in enumerate(variants, start=1):
        for number, chosen in [(f"F-{v}-{i}", [combo]) for i, combo in enumerate(combos)] + [
            (f"F-{v}-all", combos)
        ]:
            order = Order(
                chain_id=chain.id, number=number, buyer_id=buyer.id, seller_id=owner.id,
                issuer_id=buyer.id, issuer_role="buyer", currency="CNY", status=status,
                ack_due=ack_due, acked_at=acked_at, created_by=user.id,
                created_at=NOW - 10 * HOUR,
            )  # fmt: skip
            lines = [
                OrderLine(
                    line_no=no,
                    sku=f"S-{no}",
                    qty=Decimal(10),
                    unit_price=Decimal(1),
                    ack_status=ack,
                    confirmed_qty=None if confirmed is None else Decimal(confirmed),
                    confirmed_price=None if price is None else Decimal(price),
                    shipped_qty=Decimal(shipped),
                    received_qty=Decimal(received),
                )
                for no, (ack, confirmed, price, (shipped, received)) in enumerate(chosen, 1)
            ]
            made.append((order, lines))
    session.add_all(order for order, _ in made)
    session.flush()
    for order, lines in made:
        for line in lines:
            line.order_id = order.id
        session.add_all(lines)
    session.flush()
    expected = {
        order.id: sum(bool(discrepancy_flags(_record(order, line), NOW)) for line in lines)
        for order, lines in made
    }
    refresh_order_figures(session, expected)
    got = dict(
        session.execute(
            select(Order.id, discrepancy_lines(NOW)).where(Order.chain_id == chain.id)
        ).all()
    )
    assert len(got) == len(made) > 1000
    assert got == expected
    # Single lines flagged and not; orders of many lines with none (cancelled), all (overdue)
    # and some of their lines flagged.
    assert set(got.values()) >= {0, 1}
    whole = {expected[o.id] for o, lines in made if len(lines) > 1}
    assert {0, len(combos)} <= whole and any(1 < n < len(combos) for n in whole)


@pytest.mark.parametrize(
    "label, first, last",
    [
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3)),
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_periods(label, first, last):
    period = parse_scorecard_period(label)
    assert period is not None and (period.first, period.last) == (first, last)


@pytest.mark.parametrize(
    "label", ["", "2025-1", "2025-00", "2025-13", "2025-W53", "2025-W00", "1899", "02025", "2025 "]
)
def test_malformed_periods(label):
    assert parse_scorecard_period(label) is None


def test_future_periods_are_refused_in_the_chains_timezone():
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    # 31 Dec 2025 17:00 UTC is already 1 Jan 2026 in Shanghai: 2026 has started there.
    now = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
    assert check_scorecard_period("2026", shanghai, now).label == "2026"
    assert check_scorecard_period("2026-01", shanghai, now).label == "2026-01"
    with pytest.raises(Invalid) as refused:
        check_scorecard_period("2026", ZoneInfo("UTC"), now)
    assert "period" in refused.value.errors
    with pytest.raises(Invalid):
        check_scorecard_period("2026-02", shanghai, now)


def test_rates_round_half_up_and_no_data_is_none():
    assert rate(0, 0) is None and rate(None, 0) is None
    assert rate(0, 3) == Decimal("0.0000")
    assert rate(1, 3) == Decimal("0.3333") and rate(2, 3) == Decimal("0.6667")
    assert rate(1, 8) == Decimal("0.1250") and rate(1, 16) == Decimal("0.0625")
    assert rate(Decimal("15"), Decimal("46")) == Decimal("0.3261")
    assert rate(5, 5) == Decimal("1.0000")


def test_sorting_puts_no_data_last_both_ways():
    cards = [
        Scorecard(org_id=1, name="A", code="A", tier="D1", ack_rate=Decimal("0.5")),
        Scorecard(org_id=2, name="B", code="B", tier="U1", ack_rate=None),
        Scorecard(org_id=3, name="C", code="C", tier="D2", ack_rate=Decimal("0.9")),
    ]
    assert [c.org_id for c in sort_scorecards(cards, "ack_rate", False)] == [1, 3, 2]
    assert [c.org_id for c in sort_scorecards(cards, "ack_rate", True)] == [3, 1, 2]
    assert [c.org_id for c in sort_scorecards(cards, "tier", False)] == [2, 1, 3]
    assert [c.org_id for c in sort_scorecards(cards, "name", True)] == [3, 2, 1]
