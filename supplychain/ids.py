"""Ids as the outside world writes them: a path segment, a JSON string or number, a CLI argument.

`parse_id` turns any of them into a row id, or None when it cannot name a row (the callers then
answer as for an unknown id: 404). `IdConverter` is the `id` URL converter, so views read
`<id:cid>` and receive the parsed id.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

MAX_ID = 2**63 - 1  # a BIGINT primary key's largest value
ID_PATTERN = r"^[1-9][0-9]{0,18}$"


def parse_id(value: Any) -> int | None:
    """An id from a path or body value, or None when it cannot name any row."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_ID else None


class IdConverter(BaseConverter):
    """`<id:name>`: the segment parsed by `parse_id`.

    Any segment matches, and one that cannot name a row reaches the view as None, which the
    services answer as an unknown id (404 with the object's own message, after authentication):
    the answer a caller gets for a malformed id is the one it gets for a missing row, and a
    request without a token is still 401 first.
    """

    def to_python(self, value: str) -> int | None:
        return parse_id(value)

    def to_url(self, value: Any) -> str:
        return super().to_url(str(value))


def id_parameter_schema(converter: IdConverter) -> dict[str, str]:
    """The OpenAPI schema of an `<id:...>` path parameter: a string, as every id in the API."""
    return {"type": "string", "minLength": 1}
