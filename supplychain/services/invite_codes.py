"""Invitation codes: derived, never stored.

A code is the HMAC of SECRET_KEY and a random salt kept on the invitation; the user row keeps
only the code's SHA-256 (what activation looks up). So the worker can write the code into the
mail long after the request, the owner's import answer can show it, and a leaked database alone
hands out no account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app

from supplychain.auth import digest, format_invite_code, normalise_invite_code
from supplychain.models import User
from supplychain.models.invitations import Invitation


def app_secret_key() -> str:
    """The application's SECRET_KEY, which every code is derived with."""
    return str(current_app.config["SECRET_KEY"])


def code_from_salt(secret_key: str, salt: str) -> str:
    """The invitation code a salt stands for under `secret_key` (80 bits of an HMAC)."""
    mac = hmac.new(secret_key.encode("utf-8"), b"invite-code:" + salt.encode("ascii"), "sha256")
    return format_invite_code(mac.digest()[:10])


def code_hash(code: str) -> str:
    """What the user row keeps of a code: the SHA-256 of its normalised form."""
    return digest(normalise_invite_code(code))


@dataclass(frozen=True)
class FreshCode:
    """A new code: its salt (kept), the code itself (shown once), its hash (kept)."""

    salt: str
    code: str
    hash: str


def fresh_code(secret_key: str | None = None) -> FreshCode:
    """A new random salt and the code and hash it gives."""
    salt = secrets.token_hex(16)
    code = code_from_salt(secret_key or app_secret_key(), salt)
    return FreshCode(salt, code, code_hash(code))


def current_code(secret_key: str, invitation: Invitation | None, user: User) -> str | None:
    """The person's live code, when it can be worked out again (None for an activated person,
    a code from before invitations were derived, or one that SECRET_KEY no longer gives)."""
    if invitation is None or invitation.salt is None or user.invite_code_hash is None:
        return None
    code = code_from_salt(secret_key, invitation.salt)
    return code if hmac.compare_digest(code_hash(code), user.invite_code_hash) else None


# Two symbols of a code at once, for 10 bits (the low 5 first, as format_invite_code spells them).
_PAIRS = [
    letters[low] + letters[high]
    for letters in ["ABCDEFGHJKLMNPQRSTUVWXYZ23456789"]
    for bits in range(1024)
    for low, high in [(bits & 31, bits >> 5)]
]


def fresh_codes(count: int, secret_key: str | None = None) -> list[FreshCode]:
    """`count` fresh codes (an import's), exactly as `fresh_code` makes them and over twice as
    fast: the HMAC keyed once, the symbols spelt two at a time, the hash taken of the
    normalised code as it is written."""
    keyed = hmac.new(
        (secret_key or app_secret_key()).encode("utf-8"),
        b"invite-code:",
        "sha256",
    )
    salts = secrets.token_hex(16 * count)
    pairs, sha256 = _PAIRS, hashlib.sha256
    codes = []
    for start in range(0, 32 * count, 32):
        salt = salts[start : start + 32]
        mac = keyed.copy()
        mac.update(salt.encode("ascii"))
        n = int.from_bytes(mac.digest()[:10], "big")
        raw = (
            pairs[n & 1023]
            + pairs[n >> 10 & 1023]
            + pairs[n >> 20 & 1023]
            + pairs[n >> 30 & 1023]
            + pairs[n >> 40 & 1023]
            + pairs[n >> 50 & 1023]
            + pairs[n >> 60 & 1023]
            + pairs[n >> 70]
        )
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}-{raw[12:]}"
        codes.append(FreshCode(salt, code, sha256(raw.encode("ascii")).hexdigest()))
    return codes
