"""Barcodes as SVG data URIs for the documents' templates."""

from __future__ import annotations

import base64
from typing import Any

import barcode
import segno
from barcode.writer import SVGWriter

GS1_128 = barcode.get_barcode_class("gs1_128")
CODE_128 = barcode.get_barcode_class("code128")
QUIET_MODULES = 10  # each side of a linear symbol


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _linear(symbology: Any, data: str, module_mm: float, height_mm: float) -> str:
    """A linear barcode as an SVG data URI: bars `module_mm` wide and `height_mm` high, a quiet
    zone of ten modules each side, no text under it (the templates print their own)."""
    options = {
        "module_width": module_mm,
        "module_height": height_mm,
        "quiet_zone": QUIET_MODULES * module_mm,
        "write_text": False,
    }
    return _data_uri(symbology(data, writer=SVGWriter()).render(options))


def gs1_128(element_string: str, module_mm: float = 0.5, height_mm: float = 28) -> str:
    """GS1-128 (FNC1 first) of an element string given without parentheses, e.g. `00` + SSCC."""
    return _linear(GS1_128, element_string, module_mm, height_mm)


def code_128(text: str, module_mm: float = 0.33, height_mm: float = 14) -> str:
    """Plain Code 128 of `text`."""
    return _linear(CODE_128, text, module_mm, height_mm)


def code_128_modules(text: str) -> int:
    """How many modules wide the Code 128 of `text` is, with its quiet zones (as drawn here)."""
    return len(CODE_128(text).build()[0]) + 2 * QUIET_MODULES


def qr(text: str) -> str:
    """A QR code of `text` (error correction M)."""
    return segno.make(text, error="m", micro=False).svg_data_uri(scale=4, border=4)


def sscc_human(sscc: str) -> str:
    """The SSCC's human-readable line under its symbol: `(00) 0 6141411 00000000 1 3`-style,
    grouped as extension digit, the rest of the body, check digit."""
    return f"(00) {sscc[0]} {sscc[1:17]} {sscc[17]}"
