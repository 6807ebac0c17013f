"""Workbooks written with xlsxwriter in constant-memory mode: each sheet's rows go to a temporary
file as they are written (one row held at a time), then the parts are zipped.

Which writer each document uses, and why:
- tier workbooks and partner statements (workbook.py): this module. They reach 100 000 lines;
  xlsxwriter writes them in about half the time openpyxl's write-only mode takes, in the same
  flat memory (figures in README).
- the import template (template.py): this module too (not in constant-memory mode: a header row
  and two dozen lines of help, with data validation on whole columns).
- openpyxl writes nothing any more; it stays for reading workbooks back in tests and benchmarks.

Rows of the big sheets (RowStream) skip xlsxwriter's per-cell dispatch: in constant-memory mode
xlsxwriter keeps one row in a table and serialises it cell by cell through a dozen calls; a
RowStream writes each row's <row> element itself, with the same cell XML (inline strings escaped
as xlsxwriter escapes them, numbers as `%.16G`, dates as xlsxwriter's serial numbers, the
column's style index), straight into the sheet's row-data file, and tells the worksheet where
its rows end. That halves the writing time. It leans on five of xlsxwriter's internals (the
row-data file `fh`, `previous_row`, `_write_single_row`, `_check_dimensions`,
`_convert_date_time`, and Format._get_xf_index); without any of them, or outside
constant-memory mode, the same rows go through xlsxwriter's public write_* calls instead
(tests/unit/test_excel_writer.py reads both back alike).

What every writer here guarantees:
- text is written as text, never as a formula, number or link (no write() guessing: strings go
  through write_string after safety.safe_text, so `=1+1` shows as `'=1+1`, as before);
- the same data gives the same bytes: the document's creation time is the caller's (its own
  `generated_at`), and xlsxwriter stamps every zip member with one fixed date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from supplychain.excel.safety import FORMULA_TRIGGERS, SHORT_ENOUGH, safe_text

# Options that keep xlsxwriter from reading meaning into text (it only would through write(),
# which nothing here calls; set all the same).
_TEXT_AS_TEXT = {
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}
# The creation time written when the caller gives none: any fixed value keeps files reproducible.
EPOCH = datetime(2000, 1, 1)
# Excel's dates start on 1900-01-01: an earlier day (a requested date typed as 0001-01-01) would
# be a negative serial, which Excel shows as ##### and readers refuse. It is written as ISO text.
FIRST_YEAR = 1900


def _iso(value: date | datetime) -> str:
    return value.isoformat(" ", "minutes") if isinstance(value, datetime) else value.isoformat()


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
        if value.year < FIRST_YEAR:
            ws.write_string(row, column, _iso(value))
        else:
            ws.write_datetime(row, column, value, cell_format)
    else:
        ws.write_number(row, column, value, cell_format)


# Column kinds of a RowStream.
TEXT_KIND, NUMBER_KIND, DATE_KIND = "text", "number", "date"
_KINDS = {kind: kind for kind in (TEXT_KIND, NUMBER_KIND, DATE_KIND)}
_INTERNALS = ("fh", "previous_row", "_write_single_row", "_check_dimensions", "_convert_date_time")
# What xlsxwriter escapes in an inline string: _xHHHH_ look-alikes (prefixed `_x005F`), control
# characters (as _xHHHH_), two non-characters, and XML's & < >.
_NEEDS_ESCAPE = re.compile(r"_x[0-9a-fA-F]{4}_|[\x00-\x08\x0b-\x1f\ufffe\uffff&<>]")
_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_TRIGGERS = frozenset(FORMULA_TRIGGERS)
_PRESERVE = ' xml:space="preserve"'


def _escaped(text: str) -> str:
    text = _ESCAPED_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda found: f"_x{ord(found.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_string(value: str) -> str:
    """The <is> element of a text cell: escaped for spreadsheets (safety.safe_text) and XML."""
    if not value.isprintable() or value[:1] in _TRIGGERS or len(value) > SHORT_ENOUGH:
        value = safe_text(value) or ""
    if _NEEDS_ESCAPE.search(value):
        value = _escaped(value)
    preserve = _PRESERVE if value[:1].isspace() or value[-1:].isspace() else ""
    return f"<is><t{preserve}>{value}</t></is>"


# Excel keeps 15 significant digits of a number: a Decimal with more (an amount from ten
# trillion, a quantity with four decimals from a hundred billion) shows rounded. Such cells stay
# numbers (API.md: numbers as numbers) and are listed, so the Notes sheet can say so.
EXCEL_DIGITS = 15
# No Decimal of the API (at most four decimals) below this has more than 15 digits.
_SURELY_EXACT = Decimal(10) ** (EXCEL_DIGITS - 4)
MAX_ROUNDED_LISTED = 20


def loses_digits(value: Any) -> bool:
    """Whether Excel cannot hold `value` exactly: a Decimal of more than 15 significant digits
    (its `.16G` form is then longer than 15 characters: the row stream checks only those)."""
    if value.__class__ is not Decimal or -_SURELY_EXACT < value < _SURELY_EXACT:
        return False
    return len(value.normalize().as_tuple().digits) > EXCEL_DIGITS


class RowStream:
    """Rows of typed cells for one constant-memory worksheet, below rows it already holds."""

    def __init__(self, ws: Worksheet, columns: list[tuple[str, Format | None]]) -> None:
        self.ws = ws
        self.columns = columns
        # Number cells Excel shows rounded (loses_digits): how many, and the first few refs.
        self.rounded = 0
        self.rounded_refs: list[str] = []
        self.fast = bool(getattr(ws, "constant_memory", False)) and all(
            hasattr(ws, name) for name in _INTERNALS
        )
        self.last_row: int | None = None
        if self.fast:
            self._letters = [xl_col_to_name(index) for index in range(len(columns))]
            self._styles = [
                f' s="{fmt._get_xf_index()}"' if fmt is not None else "" for _, fmt in columns
            ]
            kinds = [_KINDS[kind] for kind, _ in columns]  # the constants: compared with `is`
            self._cells = list(zip(self._letters, self._styles, kinds, strict=True))

    def write(self, row: int, values: list[Any]) -> None:
        """Row `row` (0-based; after every row written before): None writes no cell."""
        if len(values) != len(self.columns):
            raise ValueError(f"{len(values)} values for {len(self.columns)} columns")
        if not self.fast:
            for column, (value, (kind, fmt)) in enumerate(zip(values, self.columns, strict=True)):
                if value is not None:
                    write_value(self.ws, row, column, value, fmt if kind != TEXT_KIND else None)
                    if loses_digits(value):
                        self._rounded(f"{xl_col_to_name(column)}{row + 1}")
            return
        ws = self.ws
        if self.last_row is None:
            ws._write_single_row(row)  # out with the rows xlsxwriter holds (the header)
            ws._check_dimensions(row, 0)
        number = row + 1
        parts = [f'<row r="{number}">']
        for value, (letter, style, kind) in zip(values, self._cells, strict=True):
            if value is None:
                continue
            if kind is TEXT_KIND and value.__class__ is str:
                parts.append(f'<c r="{letter}{number}" t="inlineStr">{inline_string(value)}</c>')
            elif kind is NUMBER_KIND and value.__class__ in (Decimal, int, float):
                shown = f"{value:.16G}"
                # A figure past 15 digits shows 16 of them: only longer forms are checked.
                if len(shown) > EXCEL_DIGITS and loses_digits(value):
                    self._rounded(f"{letter}{number}")
                parts.append(f'<c r="{letter}{number}"{style}><v>{shown}</v></c>')
            elif (
                kind is DATE_KIND
                and value.__class__ in (date, datetime)
                and value.year >= FIRST_YEAR
            ):
                serial = ws._convert_date_time(value)
                parts.append(f'<c r="{letter}{number}"{style}><v>{serial:.16G}</v></c>')
            else:
                parts.append(self._odd_cell(f"{letter}{number}", style, kind, value))
        if len(parts) > 1:
            parts.append("</row>")
            ws.fh.write("".join(parts))
        ws.previous_row = row
        self.last_row = row

    def _rounded(self, ref: str) -> None:
        self.rounded += 1
        if len(self.rounded_refs) < MAX_ROUNDED_LISTED:
            self.rounded_refs.append(f"{self.ws.name}!{ref}")

    def _odd_cell(self, ref: str, style: str, kind: str, value: Any) -> str:
        """A value of another type than its column's: written by its own type."""
        style = "" if kind is TEXT_KIND else style
        if isinstance(value, str):
            return f'<c r="{ref}"{style} t="inlineStr">{inline_string(value)}</c>'
        if isinstance(value, bool):
            return f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, (date, datetime)) and value.year < FIRST_YEAR:
            return f'<c r="{ref}" t="inlineStr">{inline_string(_iso(value))}</c>'
        if isinstance(value, (date, datetime)):
            return f'<c r="{ref}"{style}><v>{self.ws._convert_date_time(value):.16G}</v></c>'
        if isinstance(value, (int, float, Decimal)):
            return f'<c r="{ref}"{style}><v>{value:.16G}</v></c>'
        raise TypeError(f"cannot write a {type(value).__name__} to a cell")

    def finish(self) -> None:
        """Tell the worksheet how far its rows reach (its dimension, autofilter, panes)."""
        if self.fast and self.last_row is not None:
            self.ws._check_dimensions(self.last_row, len(self.columns) - 1)
