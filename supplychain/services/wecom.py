"""What the WeCom-compatible /cgi-bin API needs beyond the directory services it calls: its
access tokens (gettoken), the chains an org owns, groups by their stable numbers, members page
by page after a cursor. Import jobs: `wecom_imports`; visibility rules: `wecom_rules`.

No rule of the chain lives here: member removal, visibility rules and the import are the
directory services' (members, visibility, imports), called as they are by /api/v1. What is here
(and in `wecom_imports`, `wecom_rules`) is the mapping of WeCom's shapes onto them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess, chain_access, memberships
from supplychain.auth import Actor, digest
from supplychain.errors import Invalid, NotFound, Unauthorized
from supplychain.models import (
    ApiToken,
    Chain,
    Group,
    Member,
    Org,
    User,
    WeComAccessToken,
)
from supplychain.models.base import utcnow
from supplychain.models.directory import ROOT_GROUP_NUMBER
from supplychain.services.audit import record_event
from supplychain.services.groups import groups_query, paths_within

ACCESS_TOKEN_SECONDS = 7200  # as WeCom's
MAX_PAGE = 1000  # get_chain_corpinfo_list's largest `limit`


class UnknownCorp(Unauthorized):
    """gettoken: no org has this `corpid`."""


class BadSecret(Unauthorized):
    """gettoken: the `corpsecret` is no live API token of an admin of the org."""


class AccessTokenExpired(Unauthorized):
    """The access token was good once and its 7 200 s are over."""


@dataclass
class IssuedAccessToken:
    """A new access token: the secret (shown once) and its lifetime in seconds."""

    secret: str
    expires_in: int


def issue_access_token(session: Session, corpid: int | None, corpsecret: str) -> IssuedAccessToken:
    """An access token for org `corpid`, acting as the admin whose live API token (not a sign-in
    token) is `corpsecret`; it expires after ACCESS_TOKEN_SECONDS and dies with that API token."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(corpsecret), ApiToken.is_live)
    ).first()
    if corpid is None or session.get(Org, corpid) is None:
        raise UnknownCorp("invalid corpid")
    if row is None or row[0].kind != "api":
        raise BadSecret("invalid credential: corpsecret is no live API token")
    api_token, user = row
    if user.org_id != corpid:
        raise BadSecret("invalid credential: corpsecret is not of this corpid")
    if user.role != "admin":
        raise BadSecret("invalid credential: corpsecret is not an admin's")
    secret = "wc_" + secrets.token_urlsafe(32)
    now = utcnow()
    # Tokens of this API token that expired a day ago or more go (until then an expired one
    # still answers "expired", 42001, rather than "unknown").
    session.execute(
        delete(WeComAccessToken).where(
            WeComAccessToken.api_token_id == api_token.id,
            WeComAccessToken.expires_at < now - timedelta(days=1),
        )
    )
    token = WeComAccessToken(
        user_id=user.id,
        api_token_id=api_token.id,
        token_hash=digest(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS),
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        Actor(user=user, token_id=api_token.id),
        "wecom.token.issue",
        "api_token",
        api_token.id,
    )
    return IssuedAccessToken(secret, ACCESS_TOKEN_SECONDS)


def actor_from_access_token(session: Session, secret: str | None) -> Actor:
    """The admin an access token acts as. Unknown, or its API token revoked: Unauthorized;
    past its 7 200 s: AccessTokenExpired."""
    row = None
    if secret:
        row = session.execute(
            select(WeComAccessToken, User)
            .join(ApiToken, ApiToken.id == WeComAccessToken.api_token_id)
            .join(User, User.id == WeComAccessToken.user_id)
            .where(WeComAccessToken.token_hash == digest(secret), ApiToken.is_live)
        ).first()
    if row is None:
        raise Unauthorized("invalid access_token")
    token, user = row
    if token.expires_at <= utcnow():
        raise AccessTokenExpired("access_token expired")
    return Actor(user=user, token_id=token.api_token_id)


# --- chains and groups ---------------------------------------------------------------------------


def owned_chains(session: Session, actor: Actor) -> list[Chain]:
    """The chains the caller's org owns (WeCom lists only the chains a corp created)."""
    return [access.chain for access in memberships(session, actor) if access.is_owner]


def owned_chain(session: Session, actor: Actor, chain_id: int | None) -> ChainAccess:
    """The caller's standing in a chain its org owns; NotFound for any other (unknown, or
    someone else's, or one where the org is only a partner: nothing tells them apart)."""
    try:
        access = chain_access(session, actor, chain_id)
    except NotFound:
        raise NotFound("not a chain this corp owns")
    if not access.is_owner:
        raise NotFound("not a chain this corp owns")
    return access


def chain_groups(session: Session, access: ChainAccess) -> list[Group]:
    """The chain's groups, ordered by path (a parent before its children)."""
    return list(session.scalars(groups_query(access)))


def group_numbered(session: Session, access: ChainAccess, number: int) -> Group | None:
    """The group with this number (None for the root, ROOT_GROUP_NUMBER); Invalid if none."""
    if number == ROOT_GROUP_NUMBER:
        return None
    group = session.scalar(
        select(Group).where(Group.chain_id == access.chain_id, Group.number == number)
    )
    if group is None:
        raise Invalid("No such group.", {"groupid": [f"No group {number} in this chain."]})
    return group


def groups_numbered(session: Session, access: ChainAccess, numbers: list[int]) -> list[str]:
    """The paths of the groups with these numbers (the root is no group: Invalid)."""
    paths = []
    for number in numbers:
        group = group_numbered(session, access, number) if number != ROOT_GROUP_NUMBER else None
        if group is None:
            raise Invalid("No such group.", {"groupids": [f"No group {number} in this chain."]})
        paths.append(group.path)
    return paths


def group_numbers(session: Session, access: ChainAccess, paths: list[str]) -> list[int]:
    """The numbers of the groups at these paths."""
    if not paths:
        return []
    rows = session.execute(
        select(Group.path, Group.number).where(
            Group.chain_id == access.chain_id, Group.path.in_(paths)
        )
    )
    by_path: dict[str, int] = {path: number for path, number in rows}
    return [by_path[path] for path in paths if path in by_path]


# --- members ---------------------------------------------------------------------------------------


def _partners(access: ChainAccess) -> ColumnElement[bool]:
    return (
        (Member.chain_id == access.chain_id)
        & Member.is_current
        & (Member.org_id != access.chain.owner_org_id)
    )


def members_after(
    session: Session,
    access: ChainAccess,
    *,
    group: Group | None,
    with_subgroups: bool,
    after: int,
    limit: int,
) -> tuple[list[Member], bool]:
    """Up to `limit` current partners of the chain after member row `after`, in a stable order
    (the cursor), in `group` (None: the root) or also below it; and whether more follow."""
    access.require_owner_admin()
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid("Bad limit.", {"limit": [f"1 to {MAX_PAGE}."]})
    stmt = select(Member).where(_partners(access), Member.id > after)
    if group is not None and with_subgroups:
        stmt = stmt.join(Group, Group.id == Member.group_id).where(
            paths_within(Group.path, [group.path])
        )
    elif group is not None:
        stmt = stmt.where(Member.group_id == group.id)
    elif not with_subgroups:
        stmt = stmt.where(Member.group_id.is_(None))
    rows = list(session.scalars(stmt.order_by(Member.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def partner(session: Session, access: ChainAccess, org_id: int | None) -> Member:
    """One current partner of the chain (not the owner itself); NotFound otherwise."""
    access.require_owner_admin()
    member = None
    if org_id is not None:
        member = session.scalar(select(Member).where(_partners(access), Member.org_id == org_id))
    if member is None:
        raise NotFound("No such corp in this chain.")
    return member
