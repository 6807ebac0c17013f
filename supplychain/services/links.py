"""Supply links between members, the whole graph (snapshot and SVG), tiers, and the impact of
an org that stops supplying.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from supplychain import graph as chain_graphs
from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.models import Chain, Group, Link, Member, Org
from supplychain.services.audit import record_action, record_event
from supplychain.services.chains import (
    bump_graph_version,
    chain_graph,
    current_member,
    lock_chain,
)
from supplychain.services.events import publish_about
from supplychain.services.members import require_member


def create_link(session: Session, access: ChainAccess, supplier_id: int, customer_id: int) -> Link:
    """Add a supply edge between two members; 409 for a duplicate or a cycle."""
    access.require_owner_admin()
    chain = access.chain
    lock_chain(session, chain)
    errors: dict[str, list[str]] = {}
    if current_member(session, chain.id, supplier_id) is None:
        errors["supplier_id"] = ["Not a member of this chain."]
    if current_member(session, chain.id, customer_id) is None:
        errors["customer_id"] = ["Not a member of this chain."]
    if errors:
        raise Invalid("Both ends of a link must be members.", errors)
    if supplier_id == customer_id:
        raise Conflict("An org cannot supply itself.", {"customer_id": ["Same as supplier_id."]})
    exists = session.scalar(
        select(Link.id).where(
            Link.chain_id == chain.id,
            Link.supplier_id == supplier_id,
            Link.customer_id == customer_id,
        )
    )
    if exists:
        raise Conflict("This link exists already.")
    if chain_graphs.creates_cycle(chain_graph(session, chain), supplier_id, customer_id):
        raise Conflict("This link would create a cycle in the supply graph.")
    from supplychain.services.app_sessions import AccessWatch

    watch = AccessWatch(session, chain, scopes=["tier"])
    link = Link(chain_id=chain.id, supplier_id=supplier_id, customer_id=customer_id)
    session.add(link)
    session.flush()
    bump_graph_version(session, chain)
    watch.finish("link.created")
    record_event(
        session,
        access.actor,
        "link.create",
        "link",
        link.id,
        chain_id=chain.id,
        data={"supplier_id": str(supplier_id), "customer_id": str(customer_id)},
    )
    _publish_link_event(session, access, "link.created", link)
    return link


def delete_link(session: Session, access: ChainAccess, link_id: int | None) -> None:
    """Remove a supply edge; owner admins only."""
    access.require_owner_admin()
    link = session.get(Link, link_id) if link_id else None
    if link is None or link.chain_id != access.chain_id:
        raise NotFound("No such link.")
    lock_chain(session, access.chain)
    from supplychain.services.app_sessions import AccessWatch

    watch = AccessWatch(session, access.chain, scopes=["tier"])
    session.delete(link)
    session.flush()
    bump_graph_version(session, access.chain)
    watch.finish("link.deleted")
    record_action(
        session,
        access,
        "link.delete",
        "link",
        link_id,
        data={"supplier_id": str(link.supplier_id), "customer_id": str(link.customer_id)},
    )
    _publish_link_event(session, access, "link.deleted", link)


def _publish_link_event(session: Session, access: ChainAccess, type: str, link: Link) -> None:
    """Tell the chain owner (only) of a supply edge added or removed."""
    publish_about(
        session,
        "link",
        link,
        type=type,
        data={
            "id": str(link.id),
            "supplier_id": str(link.supplier_id),
            "customer_id": str(link.customer_id),
        },
        org_ids=[access.chain.owner_org_id],
    )


def links_query(access: ChainAccess) -> Select:
    """Links the caller may see: all for the owner, the ones touching its own org for a partner."""
    stmt = select(Link).where(Link.chain_id == access.chain_id)
    if not access.is_owner:
        org = access.actor.org_id
        stmt = stmt.where(or_(Link.supplier_id == org, Link.customer_id == org))
    return stmt.order_by(Link.id)


def graph_snapshot(session: Session, access: ChainAccess) -> dict[str, Any]:
    """Nodes with tiers and groups, and links, of the whole chain; the owner's view."""
    access.require_owner()
    graph = chain_graph(session, access.chain)
    rows = session.execute(
        select(Member.org_id, Org.name, Org.kind, Group.path)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == access.chain_id, Member.is_current)
        .order_by(Member.org_id)
    ).all()
    nodes = [
        {"org_id": org_id, "name": name, "kind": kind, "tier": graph.tier_of(org_id), "group": path}
        for org_id, name, kind, path in rows
    ]
    links = session.execute(
        select(Link.id, Link.supplier_id, Link.customer_id)
        .where(Link.chain_id == access.chain_id)
        .order_by(Link.id)
    ).all()
    return {
        "nodes": nodes,
        "links": [{"id": i, "supplier_id": s, "customer_id": c} for i, s, c in links],
    }


def graph_svg(snapshot: dict[str, Any]) -> str:
    """The snapshot drawn as SVG, one column per tier."""
    return chain_graphs.render_svg(
        snapshot["nodes"],
        [(link["supplier_id"], link["customer_id"]) for link in snapshot["links"]],
    )


def member_impact(session: Session, access: ChainAccess, org_id: int | None) -> dict[str, Any]:
    """If this org stops: every org downstream (affected) and those with no other supply (cut off)."""
    access.require_owner()
    member = require_member(session, access, org_id)
    graph = chain_graph(session, access.chain)
    affected, cut_off = chain_graphs.impact(graph, member.org_id)
    return {
        "org_id": member.org_id,
        "affected": [{"org_id": o, "tier": graph.tier_of(o)} for o in affected],
        "cut_off": [{"org_id": o, "tier": graph.tier_of(o)} for o in cut_off],
    }


def tier_of_member(session: Session, chain: Chain, org_id: int) -> str:
    """The computed tier of one org in the chain."""
    return chain_graph(session, chain).tier_of(org_id)
