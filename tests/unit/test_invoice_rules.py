"""The invoice match's pure rules: money rounded half up, line tax, price tolerance, what counts
as invoiced before an invoice, and an invoice's period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from supplychain.models.invoices import Invoice
from supplychain.periods import parse_period
from supplychain.services.invoice_matching import (
    Settings,
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
