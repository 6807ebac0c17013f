"""Signing keys (RS256) kept in the database, so every host signs alike, sealed with AES-GCM under
a key derived from SECRET_KEY (HKDF); and the server's own HMAC keys (pairwise `sub`, `sid`).

The newest key that was not rotated out signs. `rotate` makes a new key the signing key; keys
rotated out stay in the JWKS for RETIRE_AFTER (longer than any ID token lives plus the day a
relying party may cache the JWKS), then are retired at the next rotation or JWKS read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from joserfc.jwk import RSAKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supplychain.models import OidcKey
from supplychain.models.base import utcnow

ALG = "RS256"
KEY_BITS = 2048
RETIRE_AFTER = timedelta(days=2)
_SEAL_INFO = b"supplychain oidc signing keys v1"
_cache: dict[str, RSAKey] = {}
_cache_lock = threading.Lock()


def derived_key(secret_key: str, purpose: bytes) -> bytes:
    """32 bytes for `purpose`, derived from SECRET_KEY (the same on every host)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode("utf-8")
    )


def _aead() -> AESGCM:
    return AESGCM(derived_key(current_app.config["SECRET_KEY"], _SEAL_INFO))


def seal(pem: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + _aead().encrypt(nonce, pem, _SEAL_INFO)).decode("ascii")


def unseal(sealed: str) -> bytes:
    raw = base64.b64decode(sealed)
    return _aead().decrypt(raw[:12], raw[12:], _SEAL_INFO)


def server_hmac(purpose: str, *parts: object) -> str:
    """An HMAC of `parts` with the server's key for `purpose` (url-safe, 43 characters)."""
    key = derived_key(current_app.config["SECRET_KEY"], b"supplychain oidc " + purpose.encode())
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _new_key(session: Session) -> OidcKey:
    kid = secrets.token_urlsafe(12)
    key = RSAKey.generate_key(KEY_BITS, parameters={"kid": kid, "use": "sig", "alg": ALG})
    row = OidcKey(
        kid=kid, public_jwk=dict(key.as_dict(private=False)), private_key=seal(key.as_pem(True))
    )
    session.add(row)
    session.flush()
    return row


def _load(row: OidcKey) -> RSAKey | None:
    with _cache_lock:
        found = _cache.get(row.kid)
    if found is not None:
        return found
    try:
        pem = unseal(row.private_key)
    except (InvalidTag, ValueError):
        return None  # sealed under another SECRET_KEY: unusable here
    key = RSAKey.import_key(pem, parameters={"kid": row.kid, "use": "sig", "alg": ALG})
    with _cache_lock:
        _cache[row.kid] = key
    return key


def signing_key(session: Session) -> RSAKey:
    """The key that signs now; the first one is made on first use (or when SECRET_KEY changed
    and no stored key can be opened)."""
    rows = session.scalars(
        select(OidcKey)
        .where(OidcKey.rotated_out_at.is_(None), OidcKey.retired_at.is_(None))
        .order_by(OidcKey.id.desc())
    ).all()
    for row in rows:
        key = _load(row)
        if key is not None:
            return key
    key = _load(_new_key(session))
    assert key is not None
    return key


def rotate(session: Session) -> tuple[str, list[str]]:
    """Make a new signing key; the others stop signing now and are retired RETIRE_AFTER later.
    Returns the new kid and the kids retired by this call."""
    now = utcnow()
    session.execute(
        update(OidcKey)
        .where(OidcKey.rotated_out_at.is_(None), OidcKey.retired_at.is_(None))
        .values(rotated_out_at=now)
    )
    retired = retire_old(session)
    row = _new_key(session)
    return row.kid, retired


def retire_old(session: Session) -> list[str]:
    """Retire the keys rotated out more than RETIRE_AFTER ago."""
    now = utcnow()
    rows = session.scalars(
        select(OidcKey).where(
            OidcKey.retired_at.is_(None), OidcKey.rotated_out_at < now - RETIRE_AFTER
        )
    ).all()
    for row in rows:
        row.retired_at = now
    return [row.kid for row in rows]


def jwks(session: Session) -> dict[str, Any]:
    """The public keys relying parties verify with: every key not retired (rotated-out ones
    until RETIRE_AFTER has passed)."""
    cutoff = utcnow() - RETIRE_AFTER
    rows = session.scalars(
        select(OidcKey).where(OidcKey.retired_at.is_(None)).order_by(OidcKey.id.desc())
    ).all()
    keys = [
        row.public_jwk for row in rows if row.rotated_out_at is None or row.rotated_out_at >= cutoff
    ]
    return {"keys": keys}
