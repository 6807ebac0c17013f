"""The body every receiver of an event gets (webhooks and the pull feed), as API.md shapes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def event_body(
    event_id: int, type: str, chain_id: int, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """`{id: "evt_<id>", type, chain_id, occurred_at, data}`: ids as strings, time ISO 8601."""
    return {
        "id": f"evt_{event_id}",
        "type": type,
        "chain_id": str(chain_id),
        "occurred_at": occurred_at.isoformat(),
        "data": data,
    }
