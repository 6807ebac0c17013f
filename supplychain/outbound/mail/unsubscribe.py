"""One-click unsubscribe (RFC 8058): the signed token of a person's link, and who it names.

A plain itsdangerous `URLSafeSerializer` (salt "unsubscribe", the app's `SECRET_KEY`). Links
mailed before (signed without trying zlib) keep working: `loads` reads both forms, and for an
id of ordinary size zlib does not shorten `{"u": id}`, so the token is even the same.
"""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer

UNSUBSCRIBE_SALT = "unsubscribe"


@lru_cache(maxsize=8)
def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """The signed token of a person's one-click unsubscribe link."""
    return str(_serializer(secret_key).dumps({"u": user_id}))


def unsubscribe_user_id(secret_key: str, token: str) -> int | None:
    """The person an unsubscribe token was made for; None for a forged or mangled one."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None
