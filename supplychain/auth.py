"""Passwords, invitation codes and bearer tokens; who the caller of a request is."""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from supplychain.db import own_transaction
from supplychain.errors import Unauthorized
from supplychain.extensions import db
from supplychain.models import ApiToken, User
from supplychain.models.base import utcnow

log = logging.getLogger(__name__)

# werkzeug's scrypt default: memory-hard and current.
PASSWORD_METHOD = "scrypt"
LOGIN_TOKEN = "login"  # the kind of token sign-in and activation issue
DEFAULT_SESSION_DAYS = 30
MAX_TOKEN_DAYS = 3650  # the longest `expires_in_days` an API token may be made with
# A sign-in token's expiry moves forward at most once a day: one write per token per day, not one
# per request.
RENEWAL_STEP = timedelta(days=1)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash to check against when the email is unknown, so both failures take the same time.

    Made with the configured method, so it costs what a real user's check costs (in tests too)."""
    return generate_password_hash("not-a-real-password", method=method)


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: a user acting for its org."""

    user: User
    token_id: int

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def org_id(self) -> int:
        return self.user.org_id

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def _method() -> str:
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_METHOD)
    return PASSWORD_METHOD


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a random salt (cost from PASSWORD_HASH_METHOD)."""
    return generate_password_hash(password, method=_method())


def password_matches(user: User | None, password: str) -> bool:
    """Check a password in constant work whether or not the user exists or has a password."""
    stored = user.password_hash if user is not None and user.password_hash else None
    ok = check_password_hash(stored or _dummy_hash(_method()), password)
    return ok and stored is not None


def digest(secret: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (tokens, invite codes)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token_secret() -> str:
    """A fresh bearer token: 256 bits, prefixed so it is recognisable in logs and scanners."""
    return "sc_" + secrets.token_urlsafe(32)


def new_invite_code() -> str:
    """A single-use invitation code, short enough to read out on the phone."""
    # 80 random bits from one urandom call.
    return format_invite_code(secrets.token_bytes(10))


def format_invite_code(bits: bytes) -> str:
    """10 bytes as an invitation code: 16 symbols of a 32-letter alphabet (no 0/O, 1/I)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    number = int.from_bytes(bits, "big")
    raw = "".join(alphabet[(number >> (5 * i)) & 31] for i in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalise_invite_code(code: str) -> str:
    """Invite codes compare without case, spaces or dashes, as people type them."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def session_lifetime() -> timedelta:
    """How long a sign-in token lives without use (SUPPLYCHAIN_SESSION_DAYS, default 30)."""
    days = DEFAULT_SESSION_DAYS
    if has_app_context():
        days = current_app.config.get("SESSION_DAYS", DEFAULT_SESSION_DAYS)
    return timedelta(days=days)


def token_actor(user: User, token_id: int, kind: str, expires_at: datetime | None) -> Actor:
    """The caller of a live token. A sign-in token in use is renewed to a full session lifetime
    once at least a day (or half a lifetime, if shorter) of it has passed: the write is left for
    the end of the request (`register_token_renewal`), in a transaction of its own."""
    if kind == LOGIN_TOKEN and expires_at is not None and has_request_context():
        lifetime = session_lifetime()
        renewed = utcnow() + lifetime
        if renewed - expires_at >= min(RENEWAL_STEP, lifetime / 2):
            g.token_renewal = (token_id, renewed)
    return Actor(user=user, token_id=token_id)


# Every API request runs this: built once with a bound parameter, not per request (building a
# statement costs more than running it).
_TOKEN_USER = (
    select(ApiToken.id, ApiToken.kind, ApiToken.expires_at, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.is_live)
)


def actor_from_token(session: Session, secret: str) -> Actor:
    """Resolve a bearer token to its user; unknown, revoked or expired tokens are 401."""
    row = session.execute(_TOKEN_USER, {"token_hash": digest(secret)}).first()
    if row is None:
        raise Unauthorized("Invalid, expired or revoked token.")
    token_id, kind, expires_at, user = row
    return token_actor(user, token_id, kind, expires_at)


def bearer_secret() -> str:
    """The token of `Authorization: Bearer <token>`; 401 without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Missing bearer token.")
    return secret.strip()


def authenticate_request(session: Session) -> Actor:
    """Read `Authorization: Bearer <token>` and remember the caller on `g` for this request."""
    actor = actor_from_token(session, bearer_secret())
    g.actor = actor
    return actor


def current_actor() -> Actor:
    """The caller of the current request; views behind `authenticate_request` only."""
    actor = getattr(g, "actor", None)
    if actor is None:
        raise Unauthorized("Missing bearer token.")
    return actor


def _renew_used_token(error: BaseException | None) -> None:
    due = g.pop("token_renewal", None)
    if due is None or error is not None or db.session().in_transaction():
        # An aborted request may still hold its transaction (on SQLite, the write lock this
        # would wait for): the next request renews instead.
        return
    token_id, renewed = due
    try:
        # Its own short write transaction, after the request's own has ended: a reading request
        # never turns into a writer (on SQLite that would need the write lock mid-snapshot).
        with own_transaction(db.session()) as connection:
            connection.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == token_id,
                    ApiToken.revoked_at.is_(None),
                    ApiToken.expires_at < renewed,
                )
                .values(expires_at=renewed)
            )
    except OperationalError as exc:
        # The database is busy or away: the token keeps its expiry and a later request renews.
        log.warning("Could not renew sign-in token %s: %s", token_id, exc)


def register_token_renewal(app: Flask) -> None:
    """Write the renewals `token_actor` noted, once each request is over."""
    app.teardown_request(_renew_used_token)
