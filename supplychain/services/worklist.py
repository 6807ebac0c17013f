"""What waits for a person in a chain, and the choices and names the pages show beside it.

Read-only: the counts and short lists on a user's home page (notices to read or acknowledge,
orders to acknowledge, ship or receive), the audience and counterparty choices of the compose
forms, and the display names of the orgs on documents the caller may already see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.graph import CORE, UNLINKED, tier_sort_key
from supplychain.models import Group, Link, Member, Order, OrderLine, Org
from supplychain.services import notices, orders
from supplychain.services.apps import require_app, usable_app_keys
from supplychain.services.chains import chain_graph
from supplychain.services.pagination import Page, paginate

WAITING_KINDS = ("to_ack", "to_ship", "to_receive")
MAX_AUDIENCE_ORGS = 500


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
        waiting.unread = notices.inbox_page(session, access, "unread", 1, 1).total
        waiting.unacked = notices.inbox_page(session, access, "unacked", 1, 1).total
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


def org_names(session: Session, org_ids: set[int] | list[int]) -> dict[int, str]:
    """Display names of orgs the caller already sees on its documents (orders, notices)."""
    ids = sorted({i for i in org_ids if i is not None})
    if not ids:
        return {}
    rows = session.execute(select(Org.id, Org.name).where(Org.id.in_(ids)))
    return {org_id: name for org_id, name in rows}


def chain_tiers(session: Session, access: ChainAccess) -> list[str]:
    """The tiers present in the chain besides the core, upstream first."""
    tiers = set(chain_graph(session, access.chain).tiers.values()) - {CORE}
    return sorted(tiers, key=tier_sort_key)


def linked_orgs(session: Session, access: ChainAccess) -> dict[str, list[tuple[int, str]]]:
    """Orgs linked to the caller's: `suppliers` it may buy from, `customers` it may sell to."""
    me = access.actor.org_id
    other = case((Link.supplier_id == me, Link.customer_id), else_=Link.supplier_id)
    rows = session.execute(
        select(other, Org.name, Link.supplier_id == me)
        .join(Org, Org.id == other)
        .join(
            Member,
            and_(
                Member.chain_id == Link.chain_id,
                Member.org_id == other,
                Member.removed_at.is_(None),
            ),
        )
        .where(
            Link.chain_id == access.chain_id, or_(Link.supplier_id == me, Link.customer_id == me)
        )
        .order_by(Org.name)
    ).all()
    result: dict[str, list[tuple[int, str]]] = {"suppliers": [], "customers": []}
    for org_id, name, i_supply in rows:
        result["customers" if i_supply else "suppliers"].append((org_id, name))
    return result


def audience_choices(session: Session, access: ChainAccess) -> dict[str, Any]:
    """What the compose form offers: the owner any tier, group or member; a partner only the
    owner and the orgs it is linked to (the rule `broadcast_notice` enforces)."""
    me = access.actor.org_id
    if not access.is_owner:
        linked = linked_orgs(session, access)
        owner_id = access.chain.owner_org_id
        orgs = {owner_id: org_names(session, [owner_id]).get(owner_id, "")}
        for org_id, name in linked["suppliers"] + linked["customers"]:
            orgs[org_id] = name
        return {"tiers": [], "groups": [], "orgs": sorted(orgs.items(), key=lambda i: i[1])}
    tiers = [t for t in chain_tiers(session, access) if t != UNLINKED]
    groups = list(
        session.scalars(
            select(Group.path).where(Group.chain_id == access.chain_id).order_by(Group.path)
        )
    )
    orgs = session.execute(
        select(Org.id, Org.name)
        .join(Member, Member.org_id == Org.id)
        .where(Member.chain_id == access.chain_id, Member.removed_at.is_(None), Member.org_id != me)
        .order_by(Org.name)
        .limit(MAX_AUDIENCE_ORGS)
    ).all()
    return {"tiers": tiers, "groups": groups, "orgs": [(i, n) for i, n in orgs]}


def awaiting_page(
    session: Session, access: ChainAccess, which: str, page: int, page_size: int
) -> Page:
    """Orders waiting for the caller's org (`to_ack`, `to_ship`, `to_receive`), newest first."""
    require_app(session, access, orders.APP)
    if which not in WAITING_KINDS:
        raise Invalid("Unknown kind of waiting order.", {"waiting": [", ".join(WAITING_KINDS)]})
    return paginate(session, _awaiting(access, which).order_by(Order.id.desc()), page, page_size)
