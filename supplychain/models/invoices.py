"""Supplier invoices (开票) recorded against order lines, and each chain's matching settings.

An invoice is recorded by its seller (the legal invoice is issued on the tax platform), matched
against what was ordered, confirmed and received whenever it is read (the match is never stored:
`services.invoice_matching`), and approved or rejected by its buyer. An invoice may be tied to
the confirmed version of the statement it was made from (`statement_*`): a later change to that
statement is an exception of the match.

Money: line `net` = round(qty x unit_price, 2) and line `tax` = round(net x tax_rate, 2), both
ROUND_HALF_UP; the invoice's `net`, `tax` and `gross` are the sums of its lines (exact Decimal).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import AMOUNT, AMOUNT_SUM, Base, BigId, TradeDocument, intpk, money
from supplychain.models.columns import chain_fk, order_fk, org_fk, timestamp_now, user_fk
from supplychain.periods import Period

INVOICE_KINDS = ("vat_special", "vat_normal", "other")
INVOICE_STATUSES = ("submitted", "approved", "rejected")
# Invoices whose lines count as invoiced (a rejected invoice frees its lines).
COUNTING_STATUSES = ("submitted", "approved")
EXCEPTION_KINDS = (
    "received_qty_variance",
    "price_variance",
    "tax_variance",
    "unknown_line",
    "statement_changed",
)
DEFAULT_TAX_RATE = Decimal("0.13")


class InvoiceSettings(Base):
    """A chain's matching tolerances and default tax rate (no row: 0 % and 0.00, 13 %)."""

    __tablename__ = "invoice_settings"

    chain_id: Mapped[chain_fk] = mapped_column(primary_key=True)
    # A unit price matches when within this percentage of the confirmed price...
    price_tolerance_pct: Mapped[money] = mapped_column(default=Decimal(0))
    # ...or when the line's money difference (|price - confirmed| x qty) is within this amount.
    amount_tolerance: Mapped[money] = mapped_column(default=Decimal(0))
    default_tax_rate: Mapped[money] = mapped_column(default=DEFAULT_TAX_RATE)
    updated_at: Mapped[timestamp_now]
    updated_by: Mapped[user_fk | None]


class Invoice(TradeDocument, Base):
    """One supplier invoice between a seller and a buyer of a chain."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("chain_id", "seller_id", "number"),
        Index("ix_invoices_chain_buyer_status", "chain_id", "buyer_id", "status"),
        Index("ix_invoices_chain_period", "chain_id", "statement_period"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    seller_id: Mapped[org_fk]
    buyer_id: Mapped[org_fk]
    number: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    issue_date: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    net: Mapped[Decimal] = mapped_column(AMOUNT_SUM)
    tax: Mapped[Decimal] = mapped_column(AMOUNT_SUM)
    gross: Mapped[Decimal] = mapped_column(AMOUNT_SUM)
    line_count: Mapped[int] = mapped_column(Integer)
    # The statement it was made from: its org (the party whose statement holds the orders),
    # period and the version confirmed then.
    statement_org_id: Mapped[org_fk | None]
    statement_period: Mapped[str | None] = mapped_column(String(10))
    statement_version: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[user_fk]
    created_at: Mapped[timestamp_now]
    decided_by: Mapped[user_fk | None]
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    # What the buyer accepted when it approved an invoice with exceptions (as they read then).
    accepted_exceptions: Mapped[list[Any] | None]

    @hybrid_method
    def in_period(self, period: Period) -> bool:
        """The invoice belongs to a period: the statement period it is tied to (for a year, any
        period of that year), else the period its issue date falls in."""
        if self.statement_period is not None:
            return self.statement_period == period.label or (
                len(period.label) == 4 and self.statement_period.startswith(period.label + "-")
            )
        return period.first <= self.issue_date <= period.last

    @in_period.inplace.expression
    @classmethod
    def _in_period_sql(cls, period: Period) -> ColumnElement[bool]:
        tied = (
            cls.statement_period.like(period.label + "-%")
            if len(period.label) == 4  # a year (scorecards): its months' and weeks' statements
            else cls.statement_period == period.label
        )
        return or_(
            tied,
            and_(
                cls.statement_period.is_(None),
                cls.issue_date >= period.first,
                cls.issue_date <= period.last,
            ),
        )


class InvoiceLine(Base):
    """One invoice line against one order line (by order and line number)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        Index("ix_invoice_lines_invoice", "invoice_id", "position"),
        Index("ix_invoice_lines_order_line", "order_id", "line_no"),
    )

    id: Mapped[intpk]
    invoice_id: Mapped[int] = mapped_column(BigId, ForeignKey("invoices.id"))
    # 0-based place in the invoice's `lines` (what errors and exceptions name).
    position: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[order_fk]
    line_no: Mapped[int] = mapped_column(Integer)
    qty: Mapped[money]
    unit_price: Mapped[money]
    tax_rate: Mapped[Decimal] = mapped_column(AMOUNT)
    net: Mapped[money]
    tax: Mapped[money]
