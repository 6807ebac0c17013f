"""Orgs shared beyond one owner's chain: orgs and people are global, so an owner may add people,
hand out invitation codes or rename only in orgs that are its own partners alone. Used by the
directory (members), the Excel import and invitations alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.models import Chain, Member

SHARED_ORG = (
    "This org also belongs to another owner's chain (or owns one): only its own admins may add "
    "its people or give them invitation codes."
)


def orgs_shared_beyond(session: Session, org_ids: list[int], owner_org_id: int) -> set[int]:
    """The orgs among `org_ids` that own a chain or belong (now or before) to a chain of another
    owner. Orgs and people are global: an owner may create people, hand out invitation codes or
    rename only in orgs that are its own partners alone, or one owner could take over another's
    supplier account."""
    if not org_ids:
        return set()
    ids = sorted(set(org_ids) - {owner_org_id})
    elsewhere = (
        select(Member.org_id)
        .join(Chain, Chain.id == Member.chain_id)
        .where(Member.org_id.in_(ids), Chain.owner_org_id != owner_org_id)
    )
    owners = select(Chain.owner_org_id).where(Chain.owner_org_id.in_(ids))
    return set(session.scalars(elsewhere.union(owners)))
