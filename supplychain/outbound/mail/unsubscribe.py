"""One-click unsubscribe (RFC 8058): the signed token of a person's link, and who it names."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin

UNSUBSCRIBE_SALT = "unsubscribe"


class _TokenSerializer(URLSafeSerializer):
    """URLSafeSerializer without trying zlib: a token's payload is a few bytes, which zlib only
    makes longer (so the tokens are the same), and trying costs a millisecond per message."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


@lru_cache(maxsize=8)
def _token_serializer(secret_key: str) -> URLSafeSerializer:
    return _TokenSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """The signed token of a person's one-click unsubscribe link."""
    return str(_token_serializer(secret_key).dumps({"u": user_id}))


def unsubscribe_user_id(secret_key: str, token: str) -> int | None:
    """The person an unsubscribe token was made for; None for a forged or mangled one."""
    try:
        data = URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None
