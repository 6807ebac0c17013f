"""What waits for a person in a chain.

Read-only: the counts and short lists on a user's home page (notices to read or acknowledge,
orders to acknowledge, ship or receive) and the page of orders waiting for the caller's org.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.models import Order, OrderLine
from supplychain.services import inbox, notices, orders
from supplychain.services.apps import require_app, usable_app_keys
from supplychain.services.pagination import Page, paginate

WAITING_KINDS = ("to_ack", "to_ship", "to_receive")


@dataclass
class Waiting:
    """One chain's to-do counts for the caller's org (None: the app is not shared with it)."""

    apps: list[str]
    unread: int | None = None
    unacked: int | None = None
    orders: dict[str, int] = field(default_factory=dict)
    first_orders: dict[str, list[Order]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many things wait, all kinds together."""
        return (self.unread or 0) + (self.unacked or 0) + sum(self.orders.values())


def _awaiting(access: ChainAccess, which: str) -> Select:
    """Orders of the caller's org that wait for it: acknowledge (the non-issuer side of an
    issued order), ship (seller, confirmed beyond shipped) or receive (buyer, shipped beyond
    received)."""
    me = access.actor.org_id
    stmt = select(Order).where(Order.chain_id == access.chain_id, Order.status != "cancelled")
    if which == "to_ack":
        return stmt.where(
            Order.status == "issued",
            Order.issuer_id != me,
            or_(Order.buyer_id == me, Order.seller_id == me),
        )
    lines = select(OrderLine.id).where(OrderLine.order_id == Order.id)
    if which == "to_ship":
        pending = lines.where(
            OrderLine.ack_status.in_(orders.SHIPPABLE_LINES),
            OrderLine.confirmed_qty > OrderLine.shipped_qty,
        )
        return stmt.where(Order.seller_id == me, exists(pending))
    pending = lines.where(OrderLine.shipped_qty > OrderLine.received_qty)
    return stmt.where(Order.buyer_id == me, exists(pending))


def waiting_for(session: Session, access: ChainAccess, preview: int = 5) -> Waiting:
    """Counts (and the first few orders) of what waits for the caller's org in one chain."""
    apps = usable_app_keys(session, access)
    waiting = Waiting(apps=apps)
    if notices.APP in apps:
        waiting.unread = inbox.inbox_page(session, access, "unread", 1, 1).total
        waiting.unacked = inbox.inbox_page(session, access, "unacked", 1, 1).total
    if orders.APP in apps:
        for which in WAITING_KINDS:
            stmt = _awaiting(access, which)
            waiting.orders[which] = (
                session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            )
            waiting.first_orders[which] = list(
                session.scalars(stmt.order_by(Order.id.desc()).limit(preview))
            )
    return waiting


def awaiting_page(
    session: Session, access: ChainAccess, which: str, page: int, page_size: int
) -> Page:
    """Orders waiting for the caller's org (`to_ack`, `to_ship`, `to_receive`), newest first."""
    require_app(session, access, orders.APP)
    if which not in WAITING_KINDS:
        raise Invalid("Unknown kind of waiting order.", {"waiting": [", ".join(WAITING_KINDS)]})
    return paginate(session, _awaiting(access, which).order_by(Order.id.desc()), page, page_size)
