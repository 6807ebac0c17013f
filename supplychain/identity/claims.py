"""What the provider says about a person: the pairwise `sub`, the `sid` of a page session, and
the claims of scopes `profile`, `email` and `chain`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from supplychain.identity.keys import server_hmac
from supplychain.models import Chain, Member, Org, PasswordReset, User
from supplychain.services.chains import chain_graph

LOCALES = {"en": "en", "zh": "zh-CN"}


def pairwise_sub(chain_id: int, user_id: int) -> str:
    """The person's subject in one chain (OpenID Connect Core §8.1, the chain as the sector):
    the same in every app of the chain, unlinkable across chains, not the user id."""
    return server_hmac("sub", chain_id, user_id)


def session_sid(login_token_id: int) -> str:
    """The `sid` of a page sign-in session: the same for every app it signed in to."""
    return server_hmac("sid", login_token_id)


# Whether the person's address is proven, and their org's current membership of a chain.
_PROVEN_AND_MEMBER = (
    select(
        exists().where(
            PasswordReset.user_id == bindparam("user_id"), PasswordReset.used_at.is_not(None)
        ),
        Member,
    )
    .select_from(User)
    .outerjoin(
        Member,
        and_(
            Member.chain_id == bindparam("chain_id"),
            Member.org_id == User.org_id,
            Member.is_current,
        ),
    )
    .where(User.id == bindparam("user_id"))
    .limit(1)
)


def user_claims(session: Session, chain: Chain, user: User, scope: str) -> dict[str, Any]:
    """The claims `scope` asks for about `user` in `chain` (ID token and userinfo alike)."""
    scopes = set((scope or "").split())
    claims: dict[str, Any] = {"sub": pairwise_sub(chain.id, user.id)}
    if "profile" in scopes:
        claims["name"] = user.name
        claims["locale"] = LOCALES.get(user.language or "zh", "zh-CN")
        claims["zoneinfo"] = chain.timezone
    want_email = "email" in scopes and bool(user.email)
    want_chain = "chain" in scopes
    member: Member | None = None
    if want_email or want_chain:
        # One statement for both: whether the address is proven (only by a reset link the
        # person opened from that mailbox) and the org's current membership of the chain.
        row = session.execute(
            _PROVEN_AND_MEMBER, {"user_id": user.id, "chain_id": chain.id}
        ).first()
        if row is not None:
            verified, member = row
        else:
            verified = False
        if want_email:
            claims["email"] = user.email
            claims["email_verified"] = bool(verified)
    if want_chain:
        org = session.get(Org, user.org_id)
        claims.update(
            chain_id=str(chain.id),
            org_id=str(user.org_id),
            org_name=org.name if org else None,
            org_custom_id=member.custom_id if member else None,
            org_role=user.role,
            tier=chain_graph(session, chain).tier_of(user.org_id),
            groups=[member.group.path] if member and member.group else [],
        )
    return claims
