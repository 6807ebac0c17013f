"""Decimal amounts and quantities as text: one notation for the API, the pages, the printed
documents and the invoice match's messages."""

from __future__ import annotations

from decimal import Decimal


def format_decimal(value: Decimal, min_decimals: int = 0) -> str:
    """Plain notation without needless trailing zeros, keeping `min_decimals` places (money: 2)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    places = len(text.partition(".")[2])
    if places < min_decimals:
        text = format(value.quantize(Decimal(1).scaleb(-min_decimals)), "f")
    return text
