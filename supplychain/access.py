"""Who is asking, in which chain, with what rights: ChainAccess and the membership look-ups.

Below the services: every chain-scoped service takes a ChainAccess. Standing comes from the
org's current (not removed) membership; what a member may see of others is the services'
business (services/visibility.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import Session, lazyload

from supplychain.auth import Actor, digest, token_actor
from supplychain.errors import Forbidden, NotFound, Unauthorized
from supplychain.models import ApiToken, Chain, Member, User


@dataclass
class ChainAccess:
    """A caller inside one chain: the chain, the caller and its org's membership."""

    chain: Chain
    actor: Actor
    member: Member

    @property
    def chain_id(self) -> int:
        """The chain's id."""
        return self.chain.id

    @property
    def is_owner(self) -> bool:
        """The caller belongs to the chain's core org."""
        return self.chain.owner_org_id == self.actor.org_id

    def require_owner(self) -> None:
        """Only the core org's people may do this."""
        if not self.is_owner:
            raise Forbidden("Only the chain owner's people may do this.")

    def require_owner_admin(self) -> None:
        """Only the core org's admins may do this."""
        self.require_owner()
        if not self.actor.is_admin:
            raise Forbidden("Only an admin of the chain owner may do this.")


def _live_member_of(org_id: Any) -> ColumnElement[bool]:
    """Join condition: `org_id`'s current (not removed) membership of the joined chain."""
    return (Member.chain_id == Chain.id) & (Member.org_id == org_id) & Member.is_current


# Run by every chain-scoped request: built once, with bound parameters.
_CHAIN_MEMBER = (
    select(Chain, Member)
    .join(Member, _live_member_of(bindparam("org_id")))
    .where(Chain.id == bindparam("chain_id"))
)


# A chain-scoped API request asks both at once: who the token is, and its org's membership in
# the chain of the path (outer joins: a good token in a wrong chain still authenticates).
_TOKEN_CHAIN_MEMBER = (
    select(ApiToken.id, ApiToken.kind, ApiToken.expires_at, User, Chain, Member)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Chain, Chain.id == bindparam("chain_id"))
    .outerjoin(Member, _live_member_of(User.org_id))
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.is_live)
    # Orgs and the member's group load when a view asks (their inner joins would also drop
    # the row of a token whose org is no member).
    .options(lazyload(User.org), lazyload(Member.org), lazyload(Member.group))
)


def actor_in_chain(
    session: Session, secret: str, chain_id: int
) -> tuple[Actor, ChainAccess | None]:
    """The token's user (401 if unknown, revoked or expired) and its standing in chain
    `chain_id` (None when the chain is unknown or the org no member), in one statement."""
    row = session.execute(
        _TOKEN_CHAIN_MEMBER, {"token_hash": digest(secret), "chain_id": chain_id}
    ).first()
    if row is None:
        raise Unauthorized("Invalid, expired or revoked token.")
    token_id, kind, expires_at, user, chain, member = row
    actor = token_actor(user, token_id, kind, expires_at)
    if chain is None or member is None:
        return actor, None
    return actor, ChainAccess(chain=chain, actor=actor, member=member)


def chain_access(session: Session, actor: Actor, chain_id: int | None) -> ChainAccess:
    """The caller's standing in a chain; 404 when the chain is unknown or its org is no member."""
    row = None
    if chain_id is not None:
        row = session.execute(_CHAIN_MEMBER, {"org_id": actor.org_id, "chain_id": chain_id}).first()
    if row is None:
        raise NotFound("No such chain.")
    chain, member = row
    return ChainAccess(chain=chain, actor=actor, member=member)


def memberships(session: Session, actor: Actor) -> list[ChainAccess]:
    """The caller's standing in every chain its org currently belongs to."""
    rows = session.execute(
        select(Chain, Member).join(Member, _live_member_of(actor.org_id)).order_by(Chain.id)
    ).all()
    return [ChainAccess(chain=c, actor=actor, member=m) for c, m in rows]


def chains_query(actor: Actor) -> Select:
    """Chains the caller's org currently belongs to, oldest first."""
    return select(Chain).join(Member, _live_member_of(actor.org_id)).order_by(Chain.id)
