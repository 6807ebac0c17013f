"""The invoice match's pure rules: money rounded half up, line tax, price tolerance, what counts
as invoiced before an invoice, and an invoice's period."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from supplychain.decimals import format_decimal
from supplychain.models.invoices import Invoice
from supplychain.periods import parse_period
from supplychain.services.invoice_matching import (
    LineToMatch,
    OrderLinesNow,
    Settings,
    ToMatch,
    _line_exceptions,
    invoiced_before,
    line_tax,
    money,
    price_within,
)
from supplychain.services.scorecards import parse_scorecard_period


def test_money_rounds_half_up_not_to_even():
    assert money(Decimal("0.005")) == Decimal("0.01")
    assert money(Decimal("0.015")) == Decimal("0.02")
    assert money(Decimal("0.025")) == Decimal("0.03")  # half-even would give 0.02
    assert money(Decimal("0.9999")) == Decimal("1.00")
    assert money(Decimal("-0.005")) == Decimal("-0.01")


def test_line_tax():
    assert line_tax(Decimal("139.93"), Decimal("0.09")) == Decimal("12.59")
    assert line_tax(Decimal("0.05"), Decimal("0.13")) == Decimal("0.01")
    assert line_tax(Decimal("100.00"), Decimal("0")) == Decimal("0.00")


def test_price_tolerance_percent_or_amount():
    two_pct = Settings(price_tolerance_pct=Decimal("2"))
    assert price_within(Decimal("102.00"), Decimal("100"), Decimal("10"), two_pct)
    assert not price_within(Decimal("102.01"), Decimal("100"), Decimal("10"), two_pct)
    assert price_within(Decimal("98.00"), Decimal("100"), Decimal("10"), two_pct)
    assert not price_within(Decimal("103"), Decimal("100"), Decimal("10"), two_pct)
    amount = Settings(amount_tolerance=Decimal("30"))
    assert price_within(Decimal("103"), Decimal("100"), Decimal("10"), amount)  # 3.00 x 10 = 30.00
    assert not price_within(Decimal("103"), Decimal("100"), Decimal("11"), amount)
    assert price_within(Decimal("100"), Decimal("100"), Decimal("1"), Settings())
    assert not price_within(Decimal("100.0001"), Decimal("100"), Decimal("1"), Settings())


def test_invoiced_before_counts_earlier_invoices_only():
    counted = [(3, Decimal("10")), (5, Decimal("4")), (9, Decimal("1"))]
    assert invoiced_before(counted, 5) == Decimal("10")
    assert invoiced_before(counted, 10) == Decimal("15")
    assert invoiced_before(counted, None) == Decimal("15")  # a draft comes after all of them
    assert invoiced_before([], 1) == Decimal("0")


def test_an_invoices_period():
    month, whole_year = parse_period("2026-11"), parse_scorecard_period("2026")
    assert month is not None and whole_year is not None
    tied = Invoice(statement_period="2026-11", issue_date=date(2026, 12, 3))
    loose = Invoice(statement_period=None, issue_date=date(2026, 11, 30))
    later = Invoice(statement_period=None, issue_date=date(2026, 12, 1))
    # Tied to a statement: its period, whatever the issue date; else the issue date's.
    assert tied.in_period(month) and loose.in_period(month) and not later.in_period(month)
    # A year (scorecards): the statements of its months and weeks too.
    assert tied.in_period(whole_year) and later.in_period(whole_year)
    assert not Invoice(statement_period="2025-12", issue_date=date(2026, 1, 5)).in_period(
        whole_year
    )


def test_robot_messages_link_to_the_invoice():
    from supplychain.outbound.robot import robot_markdown
    from supplychain.outbound.vocabulary import page_path

    assert page_path("invoice.approved", 3, {"id": "12"}) == "/chains/3/invoices/12"
    base = "https://sc.example.com"
    zh = robot_markdown("invoice.rejected", 3, {"id": "12"}, "zh", base)
    assert zh.startswith("**发票已退回**") and zh.endswith(f"({base}/chains/3/invoices/12)")
    en = robot_markdown("invoice.rejected", 3, {"id": "12"}, "en", base)
    assert en.startswith("**Invoice rejected**")


def _reference_exceptions(item, now, counted, settings):
    """The rules as API.md words them, line by line with no shortcut (the match before it was
    made fast): what `_line_exceptions` must answer exactly."""
    out = []
    for line in item.lines:
        order = now.orders.get(line.order_id)
        found = now.lines.get((line.order_id, line.line_no))
        if (
            found is None
            or order is None
            or (order[2], order[3]) != (item.buyer_id, item.seller_id)
        ):
            out.append({"line": line.position, "kind": "unknown_line", "expected": None,
                        "actual": "missing"})  # fmt: skip
            continue
        if order[4] == "cancelled":
            out.append({"line": line.position, "kind": "unknown_line", "expected": None,
                        "actual": "cancelled"})  # fmt: skip
            continue
        invoiced = line.qty + invoiced_before(counted.get((line.order_id, line.line_no), []),
                                              item.invoice_id)  # fmt: skip
        if invoiced > found[4]:
            out.append({"line": line.position, "kind": "received_qty_variance",
                        "expected": format_decimal(found[4], 0),
                        "actual": format_decimal(invoiced, 0)})  # fmt: skip
        if not price_within(line.unit_price, found[3], line.qty, settings):
            out.append({"line": line.position, "kind": "price_variance",
                        "expected": format_decimal(found[3], 2),
                        "actual": format_decimal(line.unit_price, 2)})  # fmt: skip
        expected_tax = line_tax(line.net, line.tax_rate)
        if abs(line.tax - expected_tax) > Decimal("0.01"):
            out.append({"line": line.position, "kind": "tax_variance",
                        "expected": format_decimal(expected_tax, 2),
                        "actual": format_decimal(line.tax, 2)})  # fmt: skip
    return out


def test_the_line_pass_answers_as_the_rules_do():
    """Thousands of lines around every edge (tax a half cent and a cent either side of the
    rounded figure, prices at and past both tolerances, quantities at and past received with
    earlier invoices, missing lines, another party's and cancelled orders): the one-pass match
    gives exactly the exceptions of the rules applied one by one."""
    rng = random.Random(24)
    orders = {
        1: (1, "PO-1", 10, 20, "accepted"),
        2: (2, "PO-2", 10, 20, "cancelled"),
        3: (3, "PO-3", 11, 20, "accepted"),  # another buyer's
    }
    cents = [Decimal(n) / 10_000 for n in (-150, -101, -100, -99, -51, -50, -49, 0, 49, 50, 51,
                                            99, 100, 101, 150)]  # fmt: skip
    lines, order_lines, counted = [], {}, {}
    for position in range(4_000):
        order_id = rng.choice([1, 1, 1, 1, 2, 3, 4])
        line_no = position + 1
        reference = Decimal(rng.randint(1, 2_000_000)) / 10_000
        received = Decimal(rng.randint(0, 1_000))
        if rng.random() > 0.05 and order_id in orders:  # order 4: not the chain's, not read
            order_lines[(order_id, line_no)] = (order_id, line_no, f"SKU-{line_no}", reference,
                                                received)  # fmt: skip
        earlier = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            earlier.append((rng.randint(1, 9), Decimal(rng.randint(0, 300))))
        if earlier:
            counted[(order_id, line_no)] = earlier
        qty = rng.choice([received, received + Decimal("0.0001"), Decimal(rng.randint(1, 999))])
        price = reference + rng.choice(
            [Decimal(0), Decimal("0.0001"), -Decimal("0.0001"), reference / 50, reference / 49]
        )
        rate = rng.choice([Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.03"),
                           Decimal("0.0001"), Decimal(0)])  # fmt: skip
        net = money(qty * price)
        tax = rng.choice([line_tax(net, rate), net * rate]) + rng.choice(cents)
        lines.append(LineToMatch(position, order_id, line_no, qty, price, rate, net, tax))
    now = OrderLinesNow(dict(orders), order_lines)
    for settings in (Settings(), Settings(Decimal(2)), Settings(Decimal(0), Decimal("0.5"))):
        for invoice_id in (None, 5, 100):
            item = ToMatch(invoice_id, seller_id=20, buyer_id=10, lines=lines)
            expected = _reference_exceptions(item, now, counted, settings)
            assert _line_exceptions(item, now, counted, settings) == expected
            kinds = {e["kind"] for e in expected}
            assert kinds == {
                "unknown_line", "received_qty_variance", "price_variance", "tax_variance"
            }  # fmt: skip
