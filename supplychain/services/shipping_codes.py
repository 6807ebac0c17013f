"""GS1 numbers for ship notices: SSCC check digits, building SSCCs from an org's prefix, and
reading back what a scanner sends from a label.

An SSCC is 18 digits: an extension digit, the GS1 company prefix (7 to 10 digits), a serial
filling the rest to 17 digits, and the GS1 mod-10 check digit (weights 3, 1, 3, ... from the
right end of the 17-digit body). A label's GS1-128 symbol carries `(00)` + SSCC; a scanner in
keyboard-wedge mode sends it as `00` + SSCC, often after the symbology identifier `]C1` or an
FNC1 (`\\x1d`). Packages of an org without a prefix carry their own id instead: `PKG-<id>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = re.compile(r"^[0-9]{7,10}\Z")
SSCC = re.compile(r"^[0-9]{18}\Z")
PACKAGE_CODE = re.compile(r"^PKG-?([0-9]{1,17})\Z", re.IGNORECASE)
EXTENSION_DIGIT = "0"


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of a string of digits (any GS1 key without its last digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def sscc_problem(value: str) -> str | None:
    """Why `value` is not a valid SSCC, or None."""
    if not SSCC.match(value):
        return "An SSCC is 18 digits."
    if check_digit(value[:17]) != value[17]:
        return f"Bad check digit: expected {check_digit(value[:17])}."
    return None


def serial_capacity(prefix: str) -> int:
    """How many serials an org with this prefix has (the serial fills 16 - len(prefix) digits)."""
    return 10 ** (16 - len(prefix))


def make_sscc(prefix: str, serial: int, extension: str = EXTENSION_DIGIT) -> str:
    """Extension digit + prefix + serial, zero-padded to 17 digits, + check digit."""
    width = 16 - len(prefix)
    if not 0 <= serial < 10**width:
        raise ValueError("serial out of range for this prefix")
    body = f"{extension}{prefix}{serial:0{width}d}"
    return body + check_digit(body)


def package_code(package_id: int) -> str:
    """What the label of a package without an SSCC carries (Code 128)."""
    return f"PKG-{package_id}"


@dataclass(frozen=True)
class Scanned:
    """What a scan names: an SSCC or a package id (exactly one)."""

    sscc: str | None = None
    package_id: int | None = None


class BadScan(ValueError):
    """A code that names no package: the message says why."""


def read_scan(code: str) -> Scanned:
    """A scanner's text as an SSCC or a package id: `]C1` / `]C0` symbology identifiers, FNC1
    (GS, \\x1d) and `(00)` are taken off; `00` + 18 digits or 18 bare digits are an SSCC whose
    check digit must hold; `PKG-<id>` or a bare id of up to 17 digits names a package."""
    text = code.strip()
    for symbology in ("]C1", "]C0", "]d2", "]Q3"):
        if text.startswith(symbology):
            text = text[len(symbology) :]
    text = text.replace("\x1d", "").replace(" ", "").strip()
    if text.startswith("(00)"):
        text = text[4:]
        if not SSCC.match(text):
            raise BadScan("(00) must be followed by an 18-digit SSCC.")
    elif len(text) == 20 and text.startswith("00") and text.isdigit():
        text = text[2:]
    if SSCC.match(text):
        problem = sscc_problem(text)
        if problem:
            raise BadScan(problem)
        return Scanned(sscc=text)
    match = PACKAGE_CODE.match(text)
    if match:
        return Scanned(package_id=int(match.group(1)))
    if text.isdigit() and 0 < len(text) < 18 and text.isascii():
        return Scanned(package_id=int(text))
    raise BadScan("Not an SSCC, a GS1 (00) element string or a package id.")
