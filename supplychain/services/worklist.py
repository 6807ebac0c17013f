"""What waits for a person in a chain.

Read-only: the counts and short lists on a user's home page (notices to read or acknowledge,
orders to acknowledge, ship or receive) and the page of orders waiting for the caller's org.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.models import Order
from supplychain.models.orders import WAITING_KINDS
from supplychain.services import inbox, notices, orders
from supplychain.services.app_access import require_app, usable_app_keys
from supplychain.services.pagination import Page, paginate


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
    """Orders of the caller's org that wait for it to acknowledge, ship or receive, by the
    rules of `Order.awaiting` (the SQL twin of what the order page offers)."""
    return select(Order).where(
        Order.chain_id == access.chain_id, Order.awaiting(access.actor.org_id, which)
    )


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
