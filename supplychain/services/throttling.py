"""Sign-in throttling: after 10 failed attempts for one email, or 50 from one client address,
within 15 minutes, sign-in and activation answer 429 until the window lets one more in.

An attempt is claimed before any password is checked: its rows are written and committed at once
in a transaction of their own (so they stay when the request fails and rolls back), after a
check that the keys are under their limits, taken under a lock per key (an advisory lock on
PostgreSQL; on SQLite the write lock of `BEGIN IMMEDIATE`), so concurrent attempts can neither
lose a count nor slip past a limit together. A successful attempt deletes its rows again in the
request's own transaction: only failures count, and a success forgives nothing but itself (not
another address's failures, not the email's earlier ones). Expired rows are deleted a batch at a
time by the claims themselves.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from supplychain.db import own_transaction
from supplychain.errors import TooManyRequests
from supplychain.models import SignInAttempt
from supplychain.models.base import utcnow

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 10
MAX_FAILURES_PER_ADDRESS = 50
# Expired rows one claim deletes at most: more than the two it writes, so the table keeps up.
CLEAN_BATCH = 200


@dataclass(frozen=True)
class Claim:
    """The rows an attempt wrote, one per key; deleted again when the attempt succeeds."""

    ids: tuple[int, ...]


def email_key(email: str) -> str:
    """The key of an email: trimmed and lower-cased as sign-in compares it, then hashed."""
    return _hashed("email", email.strip().lower())


def address_key(address: str) -> str:
    """The key of a client address; an IPv6 address counts for its /64, which one client
    usually holds whole (one address each would give it 2^64 tries)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return _hashed("address", address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return _hashed("address", str(parsed.ipv4_mapped))
        return _hashed("address", str(ipaddress.IPv6Network((parsed, 64), strict=False)))
    return _hashed("address", str(parsed))


def _hashed(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8", "surrogatepass")).hexdigest()


def claim_attempt(session: Session, address: str, email: str | None = None) -> Claim:
    """Count a sign-in attempt from `address` (and for `email`) before its password is checked;
    429 with the seconds to wait when a key is at its limit already (the right password too).

    Call it before anything is written in `session`: the claim commits in a transaction of its
    own, and on SQLite that needs the write lock, so a transaction the session has open (reads
    so far, such as the caller's token) is ended first."""
    limits = {address_key(address): MAX_FAILURES_PER_ADDRESS}
    if email is not None:
        limits[email_key(email)] = MAX_FAILURES_PER_EMAIL
    session.rollback()  # nothing to end for a sign-in; the caller's token look-up otherwise
    with own_transaction(session) as connection:
        _lock_keys(connection, sorted(limits))
        now = utcnow()
        _delete_expired(connection, now)
        wait = max(
            _seconds_until_free(connection, key, limit, now) for key, limit in limits.items()
        )
        if wait > 0:
            log.warning("Sign-in throttled for %s s (%s key(s) at their limit)", wait, len(limits))
            minutes = math.ceil(wait / 60)
            raise TooManyRequests(
                f"Too many failed attempts; try again in {minutes} minutes.", retry_after=wait
            )
        ids = [
            connection.scalar(
                insert(SignInAttempt)
                .values(key_hash=key, attempted_at=now)
                .returning(SignInAttempt.id)
            )
            for key in limits
        ]
    return Claim(ids=tuple(i for i in ids if i is not None))


def forgive_attempt(session: Session, claim: Claim) -> None:
    """A successful attempt is no failure: its rows go, committed with the sign-in itself."""
    session.execute(delete(SignInAttempt).where(SignInAttempt.id.in_(claim.ids)))


def _lock_keys(connection: Connection, keys: list[str]) -> None:
    """Serialise claims on the same keys (in one order, so two claims never deadlock)."""
    if connection.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE has serialised every writer already
    for key in keys:
        lock_id = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
        connection.execute(select(func.pg_advisory_xact_lock(lock_id)))


def _delete_expired(connection: Connection, now) -> None:
    # A batch, and on PostgreSQL only rows no other claim is deleting (SKIP LOCKED): cleaning
    # never waits for, nor deadlocks with, a concurrent claim.
    expired = (
        select(SignInAttempt.id)
        .where(SignInAttempt.attempted_at <= now - WINDOW)
        .limit(CLEAN_BATCH)
        .with_for_update(skip_locked=True)
    )
    connection.execute(delete(SignInAttempt).where(SignInAttempt.id.in_(expired.scalar_subquery())))


def _seconds_until_free(connection: Connection, key: str, limit: int, now) -> int:
    """0 while `key` has fewer than `limit` attempts in the window; else the whole seconds until
    the oldest of its last `limit` attempts leaves the window."""
    blocking = connection.scalar(
        select(SignInAttempt.attempted_at)
        .where(SignInAttempt.key_hash == key, SignInAttempt.attempted_at > now - WINDOW)
        .order_by(SignInAttempt.attempted_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if blocking is None:
        return 0
    return max(1, math.ceil((blocking + WINDOW - now).total_seconds()))
