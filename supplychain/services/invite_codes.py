"""Invitation codes made many at once (an import's): exactly the codes, salts and hashes that
invitations.fresh_code makes one at a time, at a fraction of the cost per code."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app

from supplychain.services.invitations import FreshCode

# Two symbols of a code at once, for 10 bits (the low 5 first, as format_invite_code spells them).
_PAIRS = [
    letters[low] + letters[high]
    for letters in ["ABCDEFGHJKLMNPQRSTUVWXYZ23456789"]
    for bits in range(1024)
    for low, high in [(bits & 31, bits >> 5)]
]


def fresh_codes(count: int, secret_key: str | None = None) -> list[FreshCode]:
    """`count` fresh codes, exactly as `invitations.fresh_code` makes them and over twice as
    fast: the HMAC keyed once, the symbols spelt two at a time, the hash taken of the
    normalised code as it is written."""
    keyed = hmac.new(
        (secret_key or str(current_app.config["SECRET_KEY"])).encode("utf-8"),
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
