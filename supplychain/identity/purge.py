"""Housekeeping: the provider's dead authorization codes, tokens and app sessions are deleted in
bulk (three statements whatever their count), by the scheduler's `oidc-purge` job and
`supplychain oidc purge`.

What must stay is what reuse detection reads. Tokens that descend from one code are a family
(`OidcToken.code_id`): a rotated refresh token that comes back revokes its family, and so does a
code used twice. Both only matter while the family holds a token that still works, so a family is
deleted whole, and only once every one of its tokens has been dead (revoked, rotated or expired,
access and refresh) for `GRACE`; a code goes once it has expired `GRACE` ago and no token of its
family is left. Until then a rotated refresh token or a used code is recognised as reused.

An app session (`OidcSession`) that ended more than `SESSION_RETENTION` ago goes too, once no
code or token refers to it any more (their families are purged first, in the same run; its
foreign keys cascade, and the guard keeps the purge from ever taking a family reuse detection
still reads). Nothing else refers to it: a queued back-channel logout (`oidc_logouts`, and the
delivery pointing at it) holds its own copy of the client id, `sub` and `sid`. A session is only
revived (its `ended_at` cleared) while its page sign-in lives; if its row is gone by then, the
authorization endpoint makes it again with the same `sub` and `sid` (both derived, not stored
state). A month keeps which apps a person was signed in to within reach of a support question;
sign-ins themselves stay in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from supplychain.models import OidcCode, OidcSession, OidcToken

GRACE = timedelta(days=1)
SESSION_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Purged:
    codes: int
    tokens: int
    sessions: int


def purge(session: Session, now: datetime) -> Purged:
    """Delete the token families dead for `GRACE`, the codes expired `GRACE` ago that no token
    descends from any more, and the app sessions ended `SESSION_RETENTION` ago that no code or
    token refers to (in the caller's transaction)."""
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
    # A token's code stays while the token does, so the codes' test alone would hold them
    # back; the tokens' is said too (both are probes of an index).
    sessions = session.execute(
        delete(OidcSession)
        .where(
            OidcSession.ended_at < now - SESSION_RETENTION,
            ~exists().where(OidcToken.session_id == OidcSession.id),
            ~exists().where(OidcCode.session_id == OidcSession.id),
        )
        .execution_options(synchronize_session=False)
    )
    return Purged(codes=codes.rowcount, tokens=tokens.rowcount, sessions=sessions.rowcount)
