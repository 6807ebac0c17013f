"""The choices compose forms offer and the names pages show beside them.

Read-only: the audience choices of the notice form, the counterparties of the order form, the
chain's tiers, and the display names of the orgs on documents the caller may already see.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.graph import CORE, UNLINKED, tier_sort_key
from supplychain.models import Group, Link, Member, Org, User
from supplychain.services.chains import chain_graph

MAX_AUDIENCE_ORGS = 500


def org_names(session: Session, org_ids: set[int] | list[int]) -> dict[int, str]:
    """Display names of orgs the caller already sees on its documents (orders, notices)."""
    ids = sorted({i for i in org_ids if i is not None})
    if not ids:
        return {}
    rows = session.execute(select(Org.id, Org.name).where(Org.id.in_(ids)))
    return {org_id: name for org_id, name in rows}


def user_names(session: Session, user_ids: set[int | None] | list[int | None]) -> dict[int, str]:
    """Display names of the people named on documents the caller may already see (who
    confirmed a statement, who opened or resolved a dispute)."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


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
                Member.is_current,
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
        .where(Member.chain_id == access.chain_id, Member.is_current, Member.org_id != me)
        .order_by(Org.name)
        .limit(MAX_AUDIENCE_ORGS)
    ).all()
    return {"tiers": tiers, "groups": groups, "orgs": [(i, n) for i, n in orgs]}
