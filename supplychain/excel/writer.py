"""Workbooks written with xlsxwriter in constant-memory mode: each sheet's rows go to a temporary
file as they are written (one row held at a time), then the parts are zipped.

Which writer each document uses, and why:
- tier workbooks and partner statements (workbook.py): this module. They reach 100 000 lines;
  xlsxwriter writes them in about half the time openpyxl's write-only mode takes, in the same
  flat memory (figures in README).
- the import template (template.py): this module too (not in constant-memory mode: a header row
  and two dozen lines of help, with data validation on whole columns).
- openpyxl writes nothing any more; it stays for reading workbooks back in tests and benchmarks.

What every writer here guarantees:
- text is written as text, never as a formula, number or link (no write() guessing: strings go
  through write_string after safety.safe_text, so `=1+1` shows as `'=1+1`, as before);
- the same data gives the same bytes: the document's creation time is the caller's (its own
  `generated_at`), and xlsxwriter stamps every zip member with one fixed date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from supplychain.excel.safety import safe_text

# Options that keep xlsxwriter from reading meaning into text (it only would through write(),
# which nothing here calls; set all the same).
_TEXT_AS_TEXT = {
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}
# The creation time written when the caller gives none: any fixed value keeps files reproducible.
EPOCH = datetime(2000, 1, 1)


class Workbook:
    """An xlsxwriter workbook with cached formats; `close()` writes it to its target."""

    def __init__(
        self,
        target: str | IO[bytes],
        created: datetime | None = None,
        constant_memory: bool = True,
    ) -> None:
        options: dict[str, Any] = {"constant_memory": constant_memory, **_TEXT_AS_TEXT}
        self.book = xlsxwriter.Workbook(target, options)
        if created is not None and created.tzinfo is not None:
            created = created.astimezone(UTC).replace(tzinfo=None)
        self.book.set_properties({"created": created or EPOCH})
        self._formats: dict[tuple[tuple[str, Any], ...], Format] = {}

    def format(self, **properties: Any) -> Format:
        """One Format per set of properties (xlsxwriter writes each format once)."""
        key = tuple(sorted(properties.items()))
        found = self._formats.get(key)
        if found is None:
            found = self._formats[key] = self.book.add_format(properties)
        return found

    def add_worksheet(self, title: str) -> Worksheet:
        return self.book.add_worksheet(title)

    def close(self) -> None:
        self.book.close()


def write_value(
    ws: Worksheet, row: int, column: int, value: Any, cell_format: Format | None = None
) -> None:
    """One cell by the value's type: text (escaped), number, date or time; None writes nothing."""
    if value is None:
        return
    if isinstance(value, str):
        ws.write_string(row, column, safe_text(value), cell_format)
    elif isinstance(value, bool):
        ws.write_boolean(row, column, value, cell_format)
    elif isinstance(value, (date, datetime)):
        ws.write_datetime(row, column, value, cell_format)
    else:
        ws.write_number(row, column, value, cell_format)
