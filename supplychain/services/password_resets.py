"""Password reset by email: a single-use link valid for an hour, stored only as its SHA-256.

Asking is answered the same way whether or not the email belongs to someone (no account
enumeration); the caller mails the link after its commit. Confirming sets the password, uses
up every open link of the person and revokes all their tokens (every device signs in again).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from supplychain.auth import Actor, digest, hash_password
from supplychain.errors import NotFound
from supplychain.models import ApiToken, User
from supplychain.models.base import utcnow
from supplychain.models.events import PasswordReset
from supplychain.services.accounts import check_password_strength, find_user_by_email
from supplychain.services.audit import record_event
from supplychain.services.throttling import claim_attempt

LIFETIME = timedelta(hours=1)
# Links one person may be sent per LIFETIME: more asks are answered alike and mail nothing,
# so nobody can flood someone's mailbox through this form.
MAX_LINKS_PER_PERSON = 3
UNKNOWN_LINK = "This password reset link is unknown, used or expired."


@dataclass(frozen=True)
class ResetLink:
    """A reset link to mail: its secret token exists only here and in the mail."""

    user: User
    token: str


def request_password_reset(session: Session, email: str, address: str) -> ResetLink | None:
    """Make a reset link for the active person with this email (None for nobody, someone not
    yet activated, or someone sent too many links within the hour). Each ask counts against
    client `address` as a failed sign-in does (throttled, 429)."""
    claim_attempt(session, address)
    user = find_user_by_email(session, email)
    if user is None or user.password_hash is None or user.activated_at is None:
        return None
    now = utcnow()
    recent = session.scalar(
        select(func.count())
        .select_from(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.created_at > now - LIFETIME)
    )
    if (recent or 0) >= MAX_LINKS_PER_PERSON:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id, token_hash=digest(token), created_at=now, expires_at=now + LIFETIME
        )
    )
    record_event(
        session, Actor(user=user, token_id=0), "user.password_reset_request", "user", user.id
    )
    session.flush()
    return ResetLink(user=user, token=token)


def check_reset_link(session: Session, token: str) -> PasswordReset:
    """The open reset behind a link's token; unknown, used and expired links are one 404."""
    reset = (
        session.scalar(select(PasswordReset).where(PasswordReset.token_hash == digest(token)))
        if token
        else None
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise NotFound(UNKNOWN_LINK)
    return reset


def confirm_password_reset(session: Session, token: str, new_password: str) -> User:
    """Set a new password through a reset link: the link and every other open one of the person
    are used up, and all the person's tokens are revoked."""
    check_password_strength(new_password, "new_password")
    reset = check_reset_link(session, token)
    user = session.get(User, reset.user_id)
    if user is None:
        raise NotFound(UNKNOWN_LINK)
    now = utcnow()
    # Used up in one conditional statement: of two concurrent confirmations, one wins.
    used = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise NotFound(UNKNOWN_LINK)
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    user.password_hash = hash_password(new_password)
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    record_event(
        session,
        Actor(user=user, token_id=0),
        "user.password_reset",
        "user",
        user.id,
        data={"revoked": revoked.rowcount},
    )
    from supplychain.services.app_sessions import end_user_sessions

    end_user_sessions(session, user.id, None, "password.reset")
    session.flush()
    return user
