"""Formula-injection escaping for text cells (OWASP CSV injection guidance)."""

from __future__ import annotations

import re

# A cell starting with one of these may be read as a formula or command by spreadsheet software.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# openpyxl refuses these characters in cells (XML 1.0 forbids them).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_text(value: str | None) -> str | None:
    """Text as a spreadsheet shows it, never as a formula: a leading trigger gets a `'` prefix."""
    if value is None:
        return None
    # Printable text holds none of the characters removed below: no substitution to run.
    text = value if value.isprintable() else _ILLEGAL.sub("", value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text
