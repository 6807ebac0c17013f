"""Orders between two linked orgs, their lines with EDI 855 acknowledgment state, and history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supplychain.models.base import AMOUNT, Base, BigId, intpk, money, str50, utcnow

ORDER_STATUSES = (
    "issued",
    "accepted",
    "accepted_with_changes",
    "partially_accepted",
    "rejected",
    "cancelled",
)
LINE_STATUSES = ("pending", "accepted", "rejected", "backordered", "changed")


class Order(Base):
    """A purchase or sales order between a buyer and a seller joined by a link."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("chain_id", "number"),
        Index("ix_orders_chain_buyer", "chain_id", "buyer_id"),
        Index("ix_orders_chain_seller", "chain_id", "seller_id"),
        Index("ix_orders_chain_created", "chain_id", "created_at"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[int] = mapped_column(BigId, ForeignKey("chains.id"))
    number: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"))
    seller_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"))
    issuer_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"))
    issuer_role: Mapped[str50]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str50] = mapped_column(default="issued")
    ack_code: Mapped[str | None] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer, default=1)
    ack_due: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.line_no", lazy="raise", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    """One line: what was ordered, what the other side confirmed, shipped and received."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)

    id: Mapped[intpk]
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(500))
    qty: Mapped[money]
    unit: Mapped[str | None] = mapped_column(String(20))
    unit_price: Mapped[money]
    requested_date: Mapped[date | None]
    ack_status: Mapped[str] = mapped_column(String(20), default="pending")
    ack_code: Mapped[str | None] = mapped_column(String(2))
    confirmed_qty: Mapped[Decimal | None] = mapped_column(AMOUNT)
    confirmed_price: Mapped[Decimal | None] = mapped_column(AMOUNT)
    promised_date: Mapped[date | None]
    ack_reason: Mapped[str | None] = mapped_column(String(500))
    shipped_qty: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    received_qty: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))


class OrderEvent(Base):
    """One step in an order's history: issued, acknowledged, amended, cancelled, shipped, received."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)

    id: Mapped[intpk]
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"))
    kind: Mapped[str50]
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    org_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"))
    data: Mapped[dict[str, Any]]
