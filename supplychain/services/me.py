"""The caller's own picture: user, org, and each chain with role, tier and usable apps."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from supplychain.access import memberships
from supplychain.auth import Actor
from supplychain.services.app_access import usable_app_keys
from supplychain.services.chains import chain_graph


def describe_me(session: Session, actor: Actor) -> dict[str, Any]:
    """`GET /me`: who the caller is and what it can use in every chain its org belongs to."""
    chains = [
        {
            "id": access.chain.id,
            "name": access.chain.name,
            "owner_org_id": access.chain.owner_org_id,
            "role": "owner" if access.is_owner else "partner",
            "tier": chain_graph(session, access.chain).tier_of(actor.org_id),
            "apps": usable_app_keys(session, access),
        }
        for access in memberships(session, actor)
    ]
    return {"user": actor.user, "org": actor.user.org, "chains": chains}
