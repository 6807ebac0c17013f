"""Chains: creating one, serialising changes to its graph, the graph with tiers, cached per
graph_version and rebuilt only after a change, and an org's current membership.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supplychain import graph as chain_graphs
from supplychain.auth import Actor
from supplychain.errors import Forbidden, Invalid
from supplychain.models import Chain, Contact, Link, Member
from supplychain.services.audit import record_event

GRAPHS = chain_graphs.GraphCache()
CURRENCIES_PATTERN = "^[A-Z]{3}$"
_TIMEZONES: frozenset[str] | None = None


def lock_chain(session: Session, chain: Chain) -> None:
    """Serialise changes to one chain's graph (row lock on PostgreSQL; SQLite writes are serial)."""
    lock_chain_id(session, chain.id)


def lock_chain_id(session: Session, chain_id: int) -> None:
    """Serialise changes to one chain, known by id (see `lock_chain`)."""
    session.execute(select(Chain.id).where(Chain.id == chain_id).with_for_update())


def current_member(session: Session, chain_id: int, org_id: int | None) -> Member | None:
    """`org_id`'s current (not removed) membership of the chain; None if it has none."""
    if org_id is None:
        return None
    return session.scalar(
        select(Member).where(
            Member.chain_id == chain_id, Member.org_id == org_id, Member.is_current
        )
    )


def bump_graph_version(session: Session, chain: Chain) -> None:
    """Invalidate cached tiers after members or links changed: the next read rebuilds the graph
    for the new version."""
    session.execute(
        update(Chain).where(Chain.id == chain.id).values(graph_version=Chain.graph_version + 1)
    )
    session.info.setdefault("graph_dirty", set()).add(chain.id)
    session.refresh(chain, ["graph_version"])


def _check_timezone(name: str) -> None:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    if name not in _TIMEZONES:
        raise Invalid("Unknown timezone.", {"timezone": ["Not an IANA timezone name."]})


def create_chain(session: Session, actor: Actor, name: str, currency: str, timezone: str) -> Chain:
    """Create a chain owned by the caller's org (tier core); only org admins may."""
    if not actor.is_admin:
        raise Forbidden("Only an org admin may create a chain.")
    _check_timezone(timezone)
    chain = Chain(name=name, owner_org_id=actor.org_id, currency=currency, timezone=timezone)
    session.add(chain)
    session.flush()
    session.add(Member(chain_id=chain.id, org_id=actor.org_id, custom_id=None))
    session.add(Contact(chain_id=chain.id, org_id=actor.org_id, user_id=actor.user_id))
    session.flush()
    record_event(
        session,
        actor,
        "chain.create",
        "chain",
        chain.id,
        chain_id=chain.id,
        data={"name": name, "currency": currency, "timezone": timezone},
    )
    return chain


def chain_graph(session: Session, chain: Chain) -> chain_graphs.ChainGraph:
    """The chain's graph with tiers, cached per graph_version (rebuilt only after a change)."""

    def load() -> chain_graphs.ChainGraph:
        org_ids = session.scalars(
            select(Member.org_id).where(Member.chain_id == chain.id, Member.is_current)
        )
        links = session.execute(
            select(Link.supplier_id, Link.customer_id).where(Link.chain_id == chain.id)
        )
        return chain_graphs.build_chain_graph(
            chain.owner_org_id, list(org_ids), [(s, c) for s, c in links]
        )

    if chain.id in session.info.get("graph_dirty", ()):
        # Uncommitted changes: never cache a graph another transaction might not see.
        return load()
    return GRAPHS.get(chain.id, chain.graph_version, load)
