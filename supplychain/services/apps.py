"""Apps a chain offers and which of them an org may use there."""

from __future__ import annotations

from sqlalchemy.orm import Session

from supplychain.services.directory import ChainAccess

BUILTIN_APPS = ("notices", "orders", "reconciliation")


def usable_app_keys(session: Session, access: ChainAccess) -> list[str]:
    """App keys the caller's org may use in the chain: all for the owner, granted ones for partners.

    Grants arrive with the apps-and-grants feature; until a grant exists a partner has no app.
    """
    if access.is_owner:
        return list(BUILTIN_APPS)
    return []
