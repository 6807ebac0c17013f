"""Accounts: sign-in, invitation activation, API tokens and bootstrapping the first admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from supplychain.auth import (
    LOGIN_TOKEN,
    MAX_TOKEN_DAYS,
    Actor,
    digest,
    hash_password,
    new_invite_code,
    new_token_secret,
    normalise_invite_code,
    password_matches,
    session_lifetime,
)
from supplychain.errors import Conflict, Invalid, NotFound, Unauthorized
from supplychain.models import ApiToken, Org, User
from supplychain.models.base import utcnow
from supplychain.models.directory import ORG_KINDS
from supplychain.services import sso
from supplychain.services.audit import record_event
from supplychain.services.invitations import end_invitation_mail, refuse_expired
from supplychain.services.throttling import claim_attempt, forgive_attempt

MIN_PASSWORD_LENGTH = 8
BAD_CREDENTIALS = "Wrong email or password."


@dataclass
class IssuedToken:
    """A token row and its secret, which is shown to the user once and never stored."""

    token: ApiToken
    secret: str
    user: User


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user with this email, if any."""
    return session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def check_password_strength(password: str, field: str = "password") -> None:
    """Refuse passwords too short to be worth hashing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            "Password too short.",
            {field: [f"At least {MIN_PASSWORD_LENGTH} characters."]},
        )


def issue_token(
    session: Session, user: User, name: str, kind: str = "api", expires_at: datetime | None = None
) -> IssuedToken:
    """Create a bearer token for `user`; only its hash is stored. A sign-in token expires after
    the session lifetime without use; others when `expires_at` says (never without one)."""
    secret = new_token_secret()
    if kind == LOGIN_TOKEN:
        expires_at = utcnow() + session_lifetime()
    token = ApiToken(
        user_id=user.id, name=name, kind=kind, token_hash=digest(secret), expires_at=expires_at
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret, user=user)


def login(session: Session, email: str, password: str, address: str) -> IssuedToken:
    """Sign in with email and password from client `address`; one message for unknown email and
    wrong password; throttled per email and per address (429, even for the right password)."""
    # Before the claim: being told to use the company sign-in is no failed attempt.
    sso.refuse_password_for_email(session, email)
    attempt = claim_attempt(session, address, email)
    user = find_user_by_email(session, email)
    if not password_matches(user, password):
        raise Unauthorized(BAD_CREDENTIALS)
    assert user is not None
    sso.refuse_password_for_user(session, user)
    forgive_attempt(session, attempt)
    return issue_token(session, user, name="login", kind=LOGIN_TOKEN)


def activate(session: Session, invite_code: str, password: str, address: str) -> IssuedToken:
    """Set a contact's password from its single-use invitation code and sign it in; unknown
    codes count as failed attempts of client `address` (throttled as sign-in is)."""
    # Before the claim: a weak password with a good code is no failed attempt.
    check_password_strength(password)
    attempt = claim_attempt(session, address)
    code = normalise_invite_code(invite_code)
    user = (
        session.scalar(select(User).where(User.invite_code_hash == digest(code))) if code else None
    )
    if user is None:
        raise NotFound("Unknown or already used invitation code.")
    # An expired code is refused as a dead one (and counted so), naming whom to ask.
    refuse_expired(session, user)
    sso.refuse_password_for_user(session, user)
    forgive_attempt(session, attempt)
    user.password_hash = hash_password(password)
    user.invite_code_hash = None
    user.activated_at = utcnow()
    session.flush()
    end_invitation_mail(session, user.id)
    actor = Actor(user=user, token_id=0)
    record_event(session, actor, "user.activate", "user", user.id)
    return issue_token(session, user, name="login", kind=LOGIN_TOKEN)


def change_password(
    session: Session, actor: Actor, current_password: str, new_password: str, address: str
) -> None:
    """Change the caller's password once the current one is given (a wrong one counts as a
    failed sign-in attempt of its email and `address`); every other token of the user is revoked
    at once, signing out other devices and retiring API tokens, while the calling one stays."""
    check_password_strength(new_password, "new_password")
    user_id, token_id = actor.user_id, actor.token_id
    attempt = claim_attempt(session, address, actor.user.email)
    user = session.get(User, user_id)
    if user is None or not password_matches(user, current_password):
        raise Invalid("The current password is wrong.", {"current_password": ["Wrong password."]})
    forgive_attempt(session, attempt)
    user.password_hash = hash_password(new_password)
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.id != token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    record_event(
        session, actor, "user.password_change", "user", user_id, data={"revoked": revoked.rowcount}
    )
    from supplychain.services.app_sessions import end_user_sessions

    end_user_sessions(session, user_id, token_id, "password.change")


def assign_invite_code(user: User) -> str:
    """Give a not yet activated user a fresh single-use invitation code and return it."""
    code = new_invite_code()
    user.invite_code_hash = digest(normalise_invite_code(code))
    return code


def create_api_token(
    session: Session, actor: Actor, name: str, expires_in_days: int | None = None
) -> IssuedToken:
    """A named API token for the caller, shown once; it lives until revoked, or for
    `expires_in_days` days (1 to MAX_TOKEN_DAYS) when given."""
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise Invalid(
                "Bad token lifetime.",
                {"expires_in_days": [f"A whole number of days from 1 to {MAX_TOKEN_DAYS}."]},
            )
        expires_at = utcnow() + timedelta(days=expires_in_days)
    issued = issue_token(session, actor.user, name=name, kind="api", expires_at=expires_at)
    record_event(
        session,
        actor,
        "token.create",
        "token",
        issued.token.id,
        data={"name": name, "expires_in_days": expires_in_days},
    )
    return issued


def list_api_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    """The caller's live tokens, neither revoked nor expired (never their secrets)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == actor.user_id, ApiToken.is_live)
            .order_by(ApiToken.id)
        )
    )


def revoke_api_token(session: Session, actor: Actor, token_id: int | None) -> None:
    """Revoke one of the caller's own live tokens; it stops working on the next request."""
    token = session.get(ApiToken, token_id) if token_id else None
    if token is None or token.user_id != actor.user_id or not token.is_live:
        raise NotFound("No such token.")
    token.revoked_at = utcnow()
    record_event(session, actor, "token.revoke", "token", token.id)
    from supplychain.services.app_sessions import end_sign_in_sessions

    # A sign-in session that ends takes the app sessions it opened along (sign-out).
    end_sign_in_sessions(session, [token.id], "sign_out")


def bootstrap_admin(
    session: Session, org_name: str, kind: str, email: str, name: str, password: str
) -> IssuedToken:
    """Create an org with its first admin (signed in), for a fresh installation."""
    if kind not in ORG_KINDS:
        raise Invalid("Unknown org kind.", {"kind": [f"One of: {', '.join(ORG_KINDS)}."]})
    check_password_strength(password)
    if find_user_by_email(session, email) is not None:
        raise Conflict("A user with this email exists already.", {"email": ["Already in use."]})
    org = Org(name=org_name, kind=kind)
    session.add(org)
    session.flush()
    user = User(
        org_id=org.id,
        email=normalise_email(email),
        name=name,
        role="admin",
        password_hash=hash_password(password),
        activated_at=utcnow(),
    )
    session.add(user)
    session.flush()
    actor = Actor(user=user, token_id=0)
    record_event(session, actor, "org.create", "org", org.id, data={"name": org_name})
    return issue_token(session, user, name="bootstrap", kind="api")
