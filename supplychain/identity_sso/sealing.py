"""Secrets this server must send on later (an IdP client secret, a PKCE verifier), sealed with a
key derived from SECRET_KEY: a leaked table does not leak them, and every host of one deployment
opens what another sealed."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_PURPOSE = b"supplychain company sign-in secrets v1"


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(value: str) -> str:
    """`value` encrypted and authenticated (Fernet) with the app's derived key."""
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(value.encode("utf-8")).decode()


class SealBroken(ValueError):
    """A sealed value that this key cannot open (SECRET_KEY changed, or the value was altered)."""


def unseal(sealed: str) -> str:
    """The value `seal` sealed; SealBroken when the key or the value is not the one it was."""
    try:
        return _fernet(current_app.config["SECRET_KEY"]).decrypt(sealed.encode()).decode("utf-8")
    except (InvalidToken, UnicodeDecodeError) as exc:
        raise SealBroken("This secret cannot be opened with the current SECRET_KEY.") from exc
