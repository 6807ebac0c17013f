"""Barcodes as SVG data URIs for the documents' templates."""

from __future__ import annotations

import base64
import re
from typing import Any

import barcode
import segno

GS1_128 = barcode.get_barcode_class("gs1_128")
CODE_128 = barcode.get_barcode_class("code128")
QUIET_MODULES = 10  # each side of a linear symbol
MARGIN_MM = 1.0  # white above and below the bars


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _bars(modules: str) -> list[tuple[int, int]]:
    """(start, width) in modules of each bar of a module string such as `1101001...`."""
    return [(m.start(), m.end() - m.start()) for m in re.finditer("1+", modules)]


def _linear(symbology: Any, data: str, module_mm: float, height_mm: float) -> str:
    """A linear barcode as an SVG data URI: bars `module_mm` wide and `height_mm` high, a quiet
    zone of ten modules each side, no text under it (the templates print their own).

    The bars are one `<path>` in a viewBox counted in modules, on a white rectangle: the same
    drawing as python-barcode's SVG writer (one `<rect>` per bar, sizes in mm), which WeasyPrint
    took as long to draw as to lay out the rest of a label (2 000 labels, a 40-node SVG each)."""
    modules = symbology(data).build()[0]
    wide = len(modules) + 2 * QUIET_MODULES
    high = height_mm / module_mm
    margin = MARGIN_MM / module_mm
    path = "".join(f"M{QUIET_MODULES + x} {margin:g}h{w}v{high:g}h-{w}z" for x, w in _bars(modules))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{wide * module_mm:.3f}mm" height="{height_mm + 2 * MARGIN_MM:.3f}mm" '
        f'viewBox="0 0 {wide} {high + 2 * margin:g}">'
        '<rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>'
    )
    return _data_uri(svg.encode("ascii"))


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
