"""The one shape of an event as receivers see it: webhook bodies and the pull feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def event_body(
    event_id: int, type: str, chain_id: int, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """The event body of API.md: ids as strings, the time ISO 8601 with its offset."""
    return {
        "id": f"evt_{event_id}",
        "type": type,
        "chain_id": str(chain_id),
        "occurred_at": occurred_at.isoformat(),
        "data": data,
    }
