"""Orders between two linked orgs, their lines with EDI 855 acknowledgment state, and history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Index, Integer, String, UniqueConstraint, and_, case, func
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supplychain.models.base import AMOUNT, AMOUNT_SUM, Base, TradeDocument, intpk, money, str50
from supplychain.models.columns import chain_fk, order_fk, org_fk, timestamp_now, user_fk

ORDER_STATUSES = (
    "issued",
    "accepted",
    "accepted_with_changes",
    "partially_accepted",
    "rejected",
    "cancelled",
)
LINE_STATUSES = ("pending", "accepted", "rejected", "backordered", "changed")
# Line answers that let the seller ship what it confirmed.
SHIPPABLE_LINE_STATUSES = ("accepted", "changed", "backordered")
# Orders waiting for an org, as the worklist counts them.
WAITING_KINDS = ("to_ack", "to_ship", "to_receive")


# The figures of its lines and history an order keeps (`services.order_figures` sets them).
ORDER_FIGURES = (
    "first_acked_at",
    "line_count",
    "received_line_count",
    "on_time_line_count",
    "confirmed_qty_total",
    "received_qty_total",
    "discrepant_line_count",
)
# What scorecards read of an order besides its chain and date (ix_orders_chain_created_figures).
SCORECARD_COLUMNS = (
    "buyer_id",
    "seller_id",
    "issuer_id",
    "status",
    "ack_due",
    "acked_at",
    *ORDER_FIGURES,
)


@dataclass(frozen=True)
class OrderActions:
    """What one org may do to an order now: the forms its page shows, what the services allow."""

    ack: bool
    amend: bool
    cancel: bool
    ship: bool
    receive: bool


class Order(TradeDocument, Base):
    """A purchase or sales order between a buyer and a seller joined by a link."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("chain_id", "number"),
        Index("ix_orders_chain_buyer", "chain_id", "buyer_id"),
        Index("ix_orders_chain_seller", "chain_id", "seller_id"),
        Index("ix_orders_chain_created", "chain_id", "created_at"),
        # Covers scorecards: a period's orders with everything they read (the parties, the
        # acknowledgment, the figures kept of the lines), from the index alone, in index order
        # rather than one table look-up per order all over the table.
        Index("ix_orders_chain_created_figures", "chain_id", "created_at", *SCORECARD_COLUMNS),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    number: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[org_fk]
    seller_id: Mapped[org_fk]
    issuer_id: Mapped[org_fk]
    issuer_role: Mapped[str50]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str50] = mapped_column(default="issued")
    ack_code: Mapped[str | None] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer, default=1)
    ack_due: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[user_fk]
    created_at: Mapped[timestamp_now]
    updated_at: Mapped[timestamp_now]
    # Figures of the order's lines and history, kept with the order for scorecards (read without
    # the lines) by `services.order_figures.refresh_order_figures`, which every change to an
    # order runs. Received lines: received with a due date (promised, else requested); on time:
    # their latest receipt on or before it; the quantities over lines with a confirmed quantity;
    # discrepant lines by the line-level rules alone (what the order's status and its
    # acknowledgment's timeliness add is judged when read).
    line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    on_time_line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    confirmed_qty_total: Mapped[Decimal] = mapped_column(
        AMOUNT_SUM, default=Decimal(0), server_default="0"
    )
    received_qty_total: Mapped[Decimal] = mapped_column(
        AMOUNT_SUM, default=Decimal(0), server_default="0"
    )
    discrepant_line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The first acknowledgment (history), kept when amendments ask for a new one.
    first_acked_at: Mapped[datetime | None]

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.line_no", lazy="raise", cascade="all, delete-orphan"
    )

    # --- rules: who may do what to an order, in Python and (for the worklist) in SQL ----------

    @hybrid_property
    def is_live(self) -> bool:
        """Not cancelled: nothing more happens to a cancelled order."""
        return self.status != "cancelled"

    @property
    def acknowledger_id(self) -> int:
        """The party that acknowledges the order: the one that did not issue it."""
        return self.seller_id if self.issuer_id == self.buyer_id else self.buyer_id

    def refusal(
        self, org_id: int, action: str, lines: Sequence[OrderLine], version: int | None = None
    ) -> str | None:
        """Why `org_id` may not `ack`, `amend`, `cancel`, `ship` or `receive` now; None: it may.

        Checked in this order, the first that applies answers: the wrong side (`not_party`,
        `own_order`: only the side that did not issue the order acknowledges it; `not_issuer`:
        only the issuer amends or cancels; `not_seller`, `not_buyer`: who ships and receives),
        `cancelled`, `stale` (`version` is not the order's; None checks no version), `shipped`
        (once goods have shipped the order is no longer acknowledged, amended or cancelled).
        """
        if action == "ack":
            if not self.is_party(org_id):
                return "not_party"
            if org_id == self.issuer_id:
                return "own_order"
        elif action in ("amend", "cancel"):
            if org_id != self.issuer_id:
                return "not_issuer"
        elif action == "ship":
            if org_id != self.seller_id:
                return "not_seller"
        elif action == "receive":
            if org_id != self.buyer_id:
                return "not_buyer"
        else:
            raise ValueError(f"Unknown order action: {action}")
        if not self.is_live:
            return "cancelled"
        if version is not None and version != self.version:
            return "stale"
        if action in ("ack", "amend", "cancel") and any(line.shipped_qty > 0 for line in lines):
            return "shipped"
        return None

    def actions_for(self, org_id: int, lines: Sequence[OrderLine]) -> OrderActions:
        """What `org_id` may do now: every action its `refusal` allows, and shipping or receiving
        only while a line has something left to ship or receive."""

        def may(action: str) -> bool:
            return self.refusal(org_id, action, lines) is None

        return OrderActions(
            ack=may("ack"),
            amend=may("amend"),
            cancel=may("cancel"),
            ship=may("ship") and any(line.shippable_qty > 0 for line in lines),
            receive=may("receive") and any(line.receivable_qty > 0 for line in lines),
        )

    @classmethod
    def awaiting(cls, org_id: Any, which: str) -> ColumnElement[bool]:
        """SQL twin of `actions_for`, for the worklist: orders that wait for `org_id` to answer
        (`to_ack`: `ack` on an order still `issued`, not a re-acknowledgment), `to_ship` or
        `to_receive` (the `ship` and `receive` actions)."""
        if which == "to_ack":
            # An issued order has nothing shipped (amending replaces the lines): no `shipped` test.
            return and_(
                cls.is_live, cls.status == "issued", cls.is_party(org_id), cls.issuer_id != org_id
            )
        if which == "to_ship":
            return and_(
                cls.is_live, cls.seller_id == org_id, cls.lines.any(OrderLine.shippable_qty > 0)
            )
        if which == "to_receive":
            return and_(
                cls.is_live, cls.buyer_id == org_id, cls.lines.any(OrderLine.receivable_qty > 0)
            )
        raise ValueError(f"Unknown kind of waiting order: {which}")


class OrderLine(Base):
    """One line: what was ordered, what the other side confirmed, shipped and received."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)

    id: Mapped[intpk]
    order_id: Mapped[order_fk]
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
    # The chain-local day of the line's latest receipt (by the receipt's `received_at`): what
    # on-time delivery is judged by (scorecards), kept on the line so it is read without history.
    last_received_on: Mapped[date | None]

    @hybrid_property
    def shippable_qty(self) -> Decimal:
        """Confirmed and not yet shipped, on a line whose answer lets it ship; else 0."""
        if self.ack_status not in SHIPPABLE_LINE_STATUSES:
            return Decimal(0)
        return (self.confirmed_qty or Decimal(0)) - self.shipped_qty

    @shippable_qty.inplace.expression
    @classmethod
    def _shippable_qty_sql(cls) -> ColumnElement[Decimal]:
        return case(
            (
                cls.ack_status.in_(SHIPPABLE_LINE_STATUSES),
                func.coalesce(cls.confirmed_qty, 0) - cls.shipped_qty,
            ),
            else_=0,
        )

    @hybrid_property
    def receivable_qty(self) -> Decimal:
        """Shipped and not yet received."""
        return self.shipped_qty - self.received_qty


class OrderEvent(Base):
    """One step in an order's history: issued, acknowledged, amended, cancelled, shipped, received."""

    __tablename__ = "order_events"
    __table_args__ = (
        Index("ix_order_events_order", "order_id", "id"),
        # An order's first acknowledgment (scorecards) read from the index alone.
        Index("ix_order_events_order_kind_at", "order_id", "kind", "at"),
    )

    id: Mapped[intpk]
    order_id: Mapped[order_fk]
    kind: Mapped[str50]
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[timestamp_now]
    user_id: Mapped[user_fk]
    org_id: Mapped[org_fk]
    data: Mapped[dict[str, Any]]
