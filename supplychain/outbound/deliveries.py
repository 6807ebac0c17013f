"""What a delivery worker hands a sender and what a sender answers: shared by the webhook and
email senders and the worker loop, so neither sender knows how deliveries are claimed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds the lease of, with its event as the body needs it."""

    id: int
    channel: str
    event_id: int
    event_type: str
    chain_id: int
    occurred_at: datetime
    data: dict[str, Any]
    attempts: int
    endpoint_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    """How one send went: `ok`, or why not and whether another attempt may succeed."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
