"""Ship notices (送货单, ASN): one seller -> buyer delivery with lines of several orders, the
packages they travel in (each with an SSCC when the seller has a GS1 company prefix)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import AMOUNT, Base, BigId, TradeDocument, intpk, money, str50
from supplychain.models.columns import chain_fk, order_fk, org_fk, timestamp_now, user_fk

NOTICE_STATUSES = ("issued", "partially_received", "received", "cancelled")
PACKAGE_KINDS = ("carton", "pallet", "other")


class ShipNotice(TradeDocument, Base):
    """What a seller sends a buyer on one delivery; issuing it is the shipment."""

    __tablename__ = "ship_notices"
    __table_args__ = (
        UniqueConstraint("seller_id", "number"),
        Index("ix_ship_notices_chain_buyer", "chain_id", "buyer_id", "id"),
        Index("ix_ship_notices_chain_seller", "chain_id", "seller_id", "id"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    number: Mapped[str] = mapped_column(String(64))
    seller_id: Mapped[org_fk]
    buyer_id: Mapped[org_fk]
    status: Mapped[str50] = mapped_column(default="issued")
    shipped_at: Mapped[timestamp_now]
    expected_at: Mapped[datetime | None]
    carrier_name: Mapped[str | None] = mapped_column(String(200))
    carrier_code: Mapped[str | None] = mapped_column(String(50))
    tracking_numbers: Mapped[list[Any]]
    # The reference the orders' shipment events carry (a POST .../shipments `ref`, else the number).
    ref: Mapped[str | None] = mapped_column(String(100))
    cancel_reason: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[user_fk]
    created_at: Mapped[timestamp_now]
    updated_at: Mapped[timestamp_now]


class ShipNoticePackage(Base):
    """A carton, pallet or other unit of a notice; its SSCC is unique for the seller."""

    __tablename__ = "ship_notice_packages"
    __table_args__ = (
        UniqueConstraint("notice_id", "seq"),
        UniqueConstraint("seller_id", "sscc"),
    )

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("ship_notices.id"), index=True)
    seller_id: Mapped[org_fk]
    seq: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20), default="carton")
    weight_kg: Mapped[Decimal | None] = mapped_column(AMOUNT)
    sscc: Mapped[str | None] = mapped_column(String(18))
    received_at: Mapped[datetime | None]


class ShipNoticeLine(Base):
    """A quantity of one order line on a notice, in a package or loose."""

    __tablename__ = "ship_notice_lines"
    __table_args__ = (
        UniqueConstraint("notice_id", "seq"),
        Index("ix_ship_notice_lines_order", "order_id"),
    )

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("ship_notices.id"))
    seq: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[order_fk]
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    package_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ship_notice_packages.id"))
    qty: Mapped[money]
    received_qty: Mapped[money] = mapped_column(default=Decimal(0))
