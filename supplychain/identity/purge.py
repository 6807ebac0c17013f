"""Housekeeping: the provider's dead authorization codes and tokens are deleted in bulk (two
statements whatever their count), by the scheduler's `oidc-purge` job and `supplychain oidc
purge`.

What must stay is what reuse detection reads. Tokens that descend from one code are a family
(`OidcToken.code_id`): a rotated refresh token that comes back revokes its family, and so does a
code used twice. Both only matter while the family holds a token that still works, so a family is
deleted whole, and only once every one of its tokens has been dead (revoked, rotated or expired,
access and refresh) for `GRACE`; a code goes once it has expired `GRACE` ago and no token of its
family is left. Until then a rotated refresh token or a used code is recognised as reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from supplychain.models import OidcCode, OidcToken

GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    codes: int
    tokens: int


def purge(session: Session, now: datetime) -> Purged:
    """Delete the token families dead for `GRACE` and the codes expired `GRACE` ago that no
    token descends from any more (in the caller's transaction)."""
    cutoff = now - GRACE
    # A token still counts (for its family) if it works after the cutoff, or was revoked after it.
    counts = or_(
        OidcToken.revoked_at > cutoff,
        (OidcToken.revoked_at.is_(None))
        & or_(OidcToken.access_expires_at > cutoff, OidcToken.refresh_expires_at > cutoff),
    )
    kept_families = select(OidcToken.code_id).where(counts).scalar_subquery()
    tokens = session.execute(
        delete(OidcToken)
        .where(OidcToken.code_id.not_in(kept_families))
        .execution_options(synchronize_session=False)
    )
    codes = session.execute(
        delete(OidcCode)
        .where(OidcCode.expires_at < cutoff, ~exists().where(OidcToken.code_id == OidcCode.id))
        .execution_options(synchronize_session=False)
    )
    return Purged(codes=codes.rowcount, tokens=tokens.rowcount)
