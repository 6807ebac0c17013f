"""Rates for the scorecards and the invoice match rate: a share in 0..1 with four places."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

RATE = Decimal("0.0001")


def rate(part: Any, whole: Any) -> Decimal | None:
    """part / whole in 0..1, rounded half-up to 4 places; None when `whole` is 0 (no data)."""
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)
