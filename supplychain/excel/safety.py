"""Formula-injection escaping for text cells (OWASP CSV injection guidance), and the length a
cell holds."""

from __future__ import annotations

import re

# A cell starting with one of these may be read as a formula or command by spreadsheet software.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# openpyxl refuses these characters in cells (XML 1.0 forbids them).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# What one cell holds (Excel counts UTF-16 units): a longer text makes Excel "repair" the file,
# emptying the cell. Longer text is cut, ending with CUT_MARK.
MAX_CELL_CHARS = 32767
CUT_MARK = "…"
# No text of at most this many characters is longer than a cell in UTF-16.
SHORT_ENOUGH = MAX_CELL_CHARS // 2


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_cell(text: str) -> str:
    """The text, cut (ending with CUT_MARK) to what one cell holds."""
    if len(text) <= SHORT_ENOUGH or _utf16_length(text) <= MAX_CELL_CHARS:
        return text
    cut = text[: MAX_CELL_CHARS - 1]
    while _utf16_length(cut) > MAX_CELL_CHARS - 1:
        cut = cut[: -max(1, (_utf16_length(cut) - MAX_CELL_CHARS + 1) // 2)]
    return cut + CUT_MARK


def safe_text(value: str | None) -> str | None:
    """Text as a spreadsheet shows it, never as a formula: a leading trigger gets a `'` prefix;
    cut to what one cell holds."""
    if value is None:
        return None
    # Printable text holds none of the characters removed below: no substitution to run.
    text = value if value.isprintable() else _ILLEGAL.sub("", value)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return fit_cell(text)
