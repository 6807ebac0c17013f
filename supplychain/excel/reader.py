"""Reading the first worksheet of an uploaded xlsx: values from python-calamine (Rust), checked
against the sheet's own XML first.

calamine gives every cell's *cached* value: a formula cell reads as whatever Excel last computed,
an error cell as empty. The import must refuse formulas and see error cells as their text, as the
openpyxl reader before it did, and calamine holds the whole used range in memory (rows x columns,
from the cell references): a reference to row 1 000 000 or column XFD would allocate gigabytes.
So the sheet's XML is scanned before calamine reads it:

- the fast scan (most files): the decompressed XML, block by block, against one byte regex
  (`_FastRule.pattern`): every `<row>` and `<c>` start tag must carry its reference as its first
  attribute (as Excel, LibreOffice, WPS, openpyxl and xlsxwriter write them), which gives the
  highest row and column without parsing; no `<f>` element, no error cell (`t="e"`) and no
  integer of 16 digits or more (openpyxl read those exactly, calamine as a float) may appear
  anywhere, not even in a comment. The regex is not run as such over a typical block (it would
  try its alternatives at every `<`): a few searches with a literal start, at C speed between
  their rare hits, show where it could match, and it is tried there (`_FastRule.clear`).
- the exact scan (anything else): lxml's iterparse over the same part, no entities resolved,
  each cell placed as Excel places it (its reference, or the next row or column), with formulas
  (plain, shared, array), error cells and long integers kept as overrides of calamine's values.

Either way the limits are checked before calamine allocates anything; the values calamine gives
are then shaped as openpyxl gave them (a date as a datetime at midnight) so that every cell's
text is the one the openpyxl reader produced.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import IO, Any

from lxml import etree
from openpyxl.formula.translate import Translator
from openpyxl.utils import column_index_from_string, get_column_letter

WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_REL_WORKSHEET = "/worksheet"
_REL_CHARTSHEET = "/chartsheet"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_BLOCK = 1 << 20

# A start tag, with or without a namespace prefix (any XML name: the bytes above 0x7f are
# the UTF-8 of non-ASCII name characters).
_TAG = r"<(?:[A-Za-z_\x80-\xff][\w.\-\x80-\xff]*:)?"
_CELL_REF = r'"[A-Z]{1,3}[1-9][0-9]{0,8}"'
# Anything the fast scan cannot vouch for, lexically (a comment counts too: then the exact scan
# decides): an <f> element, a <row>, <c> or <dimension> without its reference as its first
# attribute, an error cell, an integer of 16 digits or more.
_EXACT_ONLY = (
    r"f[\s/>]"
    r"|c(?!\s+r=" + _CELL_REF + r")[\s/>]"
    r'|row(?!\s+r="[1-9][0-9]{0,8}")[\s/>]'
    r'|dimension(?!\s+ref="[A-Z]{1,3}[1-9][0-9]{0,8}(?::[A-Z]{1,3}[1-9][0-9]{0,8})?")[\s/>]'
    r"|c\s[^>]*?\bt\s*=\s*[\"']e[\"']"
    r"|v(?:\s[^>]*)?>\s*[+-]?[0-9]{16}"
)


def _greater_than(limit: int) -> str:
    """A regex for the decimal numbers (no leading zero) above `limit`."""
    digits = str(limit)
    options = [f"[1-9][0-9]{{{len(digits)},}}"]
    for i, digit in enumerate(digits):
        if digit != "9":
            rest = len(digits) - i - 1
            options.append(f"{digits[:i]}[{int(digit) + 1}-9][0-9]{{{rest}}}")
    return "(?:" + "|".join(options) + ")"


def _at_most(limit: int) -> str:
    """A regex for the decimal numbers 1 to `limit` (no leading zero)."""
    digits = str(limit)
    options = []
    for i, digit in enumerate(digits):  # as many digits as `limit`, one of them lower
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            options.append(f"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{rest}}}")
    options.append(digits)
    if len(digits) > 1:  # fewer digits
        options.append(f"[1-9][0-9]{{0,{len(digits) - 2}}}")
    return "(?:" + "|".join(options) + ")"


def _columns_up_to(limit: int) -> str:
    """A regex for the column names A to the `limit`-th (1 to 702: one or two letters, to ZZ)."""
    options = [f"[A-{get_column_letter(min(limit, 26))}]"]
    for first in range(1, 27):  # two letters: 26 names for each first letter
        last = min(26, limit - 26 * first)
        if last >= 1:
            options.append(f"{get_column_letter(first)}[A-{get_column_letter(last)}]")
    return "(?:" + "|".join(options) + ")"


# Where the rule could match, whatever the limits (searches with a literal start): any of its
# alternatives after a namespace prefix; an error type's value, however quoted.
_PREFIXED = re.compile(rb":(?:[cfv]|row|dimension)[\s/>]")
_ERROR_VALUE = (re.compile(rb"\"e[\"']"), re.compile(rb"'e[\"']"))
# A digit as "0", anything else as " ": `_may_hold_long_digits`.
_DIGIT_MARKS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


def _may_hold_long_digits(data: bytes) -> bool:
    """False when `data` holds no run of 16 digits: such a run covers 4 bytes at offsets 4k,
    4k + 4, 4k + 8 and 4k + 12, so every 4th byte tells (a slice, a translation and a find)."""
    return b"0000" in data[::4].translate(_DIGIT_MARKS)


@dataclass(frozen=True)
class _FastRule:
    """The fast scan for given limits. `pattern` is the rule: a match anywhere sends the sheet
    to the exact scan. `candidates` finds, with a literal `<` start and cheap checks after it,
    every start tag where `pattern` could match without a namespace prefix, except an error
    type (`_ERROR_VALUE`) and a long integer (`_may_hold_long_digits`): an `<f>`, a
    `<dimension>`, and each `<c>` or `<row>` not written as `<c r="A1"` or `<row r="1"` (one
    space, the reference first and within the limits)."""

    pattern: re.Pattern[bytes]
    candidates: re.Pattern[bytes]

    def clear(self, data: bytes) -> bool:
        """Whether `pattern.search(data)` finds nothing, which this decides exactly: the
        pattern is tried at each candidate, or over the whole block when a check fails."""
        if (
            _PREFIXED.search(data)
            or any(error.search(data) for error in _ERROR_VALUE)
            or _may_hold_long_digits(data)
        ):
            return self.pattern.search(data) is None
        return all(
            self.pattern.match(data, at.start()) is None for at in self.candidates.finditer(data)
        )


@lru_cache(maxsize=4)
def _fast_pattern(max_rows: int, max_columns: int) -> _FastRule:
    """The fast scan's rule: a match is something only the exact scan may judge (or refuse)."""
    allowed = "|".join(get_column_letter(i) for i in range(max_columns, 0, -1))
    too_far = rf"(?:(?!(?:{allowed})[0-9])[A-Z]|[A-Z]{{1,3}}{_greater_than(max_rows)}\")"
    pattern = (
        _TAG
        + "(?:"
        + _EXACT_ONLY
        + rf'|c\s+r="{too_far}'
        + rf'|row\s+r="{_greater_than(max_rows)}"'
        + rf'|dimension\s+ref="(?:[A-Z]{{1,3}}[0-9]{{1,9}}:)?{too_far}'
        + ")"
    )
    # Within _CELL_REF (9 digits at most) and two letters; beyond, the pattern is tried.
    row = _at_most(min(max_rows, 10**9 - 1))
    cell = _columns_up_to(min(max_columns, 702)) + row
    candidates = rf'<(?:f[\s/>]|dimension[\s/>]|c(?! r="{cell}")[\s/>]|row(?! r="{row}")[\s/>])'
    return _FastRule(re.compile(pattern.encode()), re.compile(candidates.encode()))


_LONG_INT = re.compile(r"\s*[+-]?[0-9]{16,}\s*")
_DIMENSION = re.compile(r"(?:[A-Z]{1,3}[0-9]{1,9}:)?([A-Z]{1,3})([0-9]{1,9})")
_A1 = re.compile(r"([A-Z]{1,3})([0-9]{1,9})")
_SAFE_PARSER = {"resolve_entities": False, "no_network": True, "huge_tree": False}


class SheetTooLarge(Exception):
    """The sheet reaches beyond the limits: `what` is "rows" or "columns"."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class NotAWorkbook(Exception):
    """The archive has no worksheet to read (or is no workbook calamine can open)."""


@dataclass
class FirstSheet:
    """The first worksheet: its name, the archive members its target may name, any chartsheet."""

    name: str
    parts: list[str]
    chartsheets: bool


@dataclass
class Scan:
    """What the sheet's XML says before any value is read: extent and calamine's blind spots."""

    max_row: int = 0
    max_column: int = 0
    exact: bool = False
    # row -> column -> the value openpyxl gave (formula text, error text, exact int); 1-based.
    overrides: dict[int, dict[int, Any]] = field(default_factory=dict)


def _parse(data: bytes) -> Any:
    return etree.fromstring(data, etree.XMLParser(**_SAFE_PARSER))


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def part_names(target: str) -> list[str]:
    """The archive members a relationship target from xl/workbook.xml may name (readers differ
    on relative targets: each one present is scanned)."""
    names = [target.lstrip("/")] if target.startswith("/") else []
    names += [f"xl/{target}", posixpath.normpath(f"xl/{target}"), target]
    return list(dict.fromkeys(name for name in names if name))


def first_worksheet(archive: zipfile.ZipFile) -> FirstSheet:
    """The first sheet of xl/workbook.xml that is a worksheet, through the workbook's rels."""
    book = _parse(archive.read("xl/workbook.xml"))
    rels_name = "xl/_rels/workbook.xml.rels"
    rels = _parse(archive.read(rels_name)) if rels_name in archive.NameToInfo else None
    targets = {}
    for rel in rels if rels is not None else ():
        if _local(rel.tag) == "Relationship":
            targets[rel.get("Id")] = (rel.get("Type") or "", rel.get("Target") or "")
    sheets = [
        (sheet.get("name") or "", *targets.get(sheet.get(_R_ID), ("", "")))
        for sheet in book.iter()
        if _local(sheet.tag) == "sheet"
    ]
    chartsheets = any(kind.endswith(_REL_CHARTSHEET) for _, kind, _ in sheets)
    for name, kind, target in sheets:
        if kind.endswith(_REL_WORKSHEET):
            present = [part for part in part_names(target) if part in archive.NameToInfo]
            if not present:
                raise NotAWorkbook(f"the sheet {name[:50]!r} has no part in the archive")
            return FirstSheet(name, present, chartsheets)
    raise NotAWorkbook("no worksheet")


def content_type(archive: zipfile.ZipFile, part: str) -> str | None:
    """The content type [Content_Types].xml declares for `part`."""
    types = _parse(archive.read("[Content_Types].xml"))
    for entry in types:
        if _local(entry.tag) == "Override" and (entry.get("PartName") or "").lstrip("/") == part:
            return entry.get("ContentType")
    return None


def scan_sheet(archive: zipfile.ZipFile, part: str, max_rows: int, max_columns: int) -> Scan:
    """Extent and overrides of one worksheet part; SheetTooLarge beyond the limits."""
    if _fast_scan(archive, part, _fast_pattern(max_rows, max_columns)):
        return Scan()  # within the limits, and calamine's values are openpyxl's
    scan = _exact_scan(archive, part, max_rows, max_columns)
    if scan.max_row > max_rows:
        raise SheetTooLarge("rows")
    if scan.max_column > max_columns:
        raise SheetTooLarge("columns")
    return scan


def _blocks(archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """The part in pieces that each end right before a `<`: no tag is cut in two."""
    carry = b""
    with archive.open(part) as handle:
        while block := handle.read(_BLOCK):
            data = carry + block
            cut = data.rfind(b"<")
            if cut <= 0:
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
    if carry:
        yield carry


def _fast_scan(archive: zipfile.ZipFile, part: str, rule: _FastRule) -> bool:
    """True when no block holds anything the exact scan must judge."""
    return all(rule.clear(data) for data in _blocks(archive, part))


def _exact_scan(archive: zipfile.ZipFile, part: str, max_rows: int, max_columns: int) -> Scan:
    """Every row and cell placed as Excel places them; stops at the first beyond the limits."""
    scan = Scan(exact=True)
    shared: dict[str, Translator] = {}
    row = column = 0
    with archive.open(part) as handle:
        events = etree.iterparse(
            handle, events=("start", "end"), tag=("{*}row", "{*}c", "{*}dimension", "row", "c"),
            load_dtd=False, **_SAFE_PARSER,
        )  # fmt: skip
        for event, element in events:
            name = _local(element.tag)
            if name == "dimension":
                found = _DIMENSION.fullmatch(element.get("ref") or "")
                if event == "start" and found:  # its last cell: the sheet's declared extent
                    scan.max_row = max(scan.max_row, int(found.group(2)))
                    scan.max_column = max(scan.max_column, column_index_from_string(found.group(1)))
            elif name == "row":
                if event == "start":
                    reference = element.get("r")
                    row = int(reference) if reference and reference.isdigit() else row + 1
                    column = 0
                    scan.max_row = max(scan.max_row, row)  # an empty row counts, as before
                    if row > max_rows:
                        return scan
                else:
                    element.clear()
                    while element.getprevious() is not None:
                        del element.getparent()[0]
            elif event == "end":  # a cell, complete
                reference = _A1.fullmatch(element.get("r") or "")
                if reference:
                    column = column_index_from_string(reference.group(1))
                    row = int(reference.group(2))
                else:
                    column += 1
                scan.max_row = max(scan.max_row, row)
                scan.max_column = max(scan.max_column, column)
                if row > max_rows or column > max_columns:
                    return scan  # the caller refuses it: nothing further matters
                value = _override(element, row, column, shared)
                if value is not None:
                    scan.overrides.setdefault(row, {})[column] = value
                element.clear()
    return scan


def _override(element: Any, row: int, column: int, shared: dict[str, Translator]) -> Any:
    """The value openpyxl gave where calamine's differs: a formula's text (never its cached
    value), an error cell's text, an integer of 16 digits or more exactly; else None."""
    formula = value = None
    for child in element:
        name = _local(child.tag)
        if name == "f":
            formula = child
        elif name == "v":
            value = child.text
    kind = element.get("t")
    if formula is not None:
        # As openpyxl's read-only parser: `=` + text; a shared formula's followers translated
        # from its first cell; an array formula's text.
        text = "=" + (formula.text or "")
        if formula.get("t") == "shared":
            index = formula.get("si")
            coordinate = f"{get_column_letter(column)}{row}"
            if index in shared:
                return shared[index].translate_formula(coordinate)
            if formula.text is not None:
                shared[index] = Translator(text, coordinate)
        return text
    if kind == "e":
        return value
    if kind in (None, "n") and value is not None and _LONG_INT.fullmatch(value):
        number = int(value)
        return number if abs(number) >= 10**15 else None
    return None


def sheet_rows(
    stream: IO[bytes], name: str, scan: Scan, opener: Callable[[IO[bytes]], Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of values from row 1 (Excel's numbering: the n-th row is row n), typed as openpyxl
    typed them; blank cells as None."""
    workbook = opener(stream)
    try:
        values = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    finally:
        workbook.close()
    overrides = scan.overrides
    # A formula without a cached value is no cell to calamine: rows up to the last override.
    last = max(len(values), max(overrides, default=0))
    for index in range(1, last + 1):
        row = values[index - 1] if index <= len(values) else []
        if date in map(type, row):  # openpyxl gives a datetime at midnight for a date cell
            row = [_as_openpyxl(value) for value in row]
        for column, value in overrides.get(index, {}).items():
            row.extend([None] * (column - len(row)))
            row[column - 1] = value
        yield tuple(row)


def _as_openpyxl(value: Any) -> Any:
    """A date as openpyxl gave it (a datetime at midnight); blank ("" from calamine) as None."""
    if type(value) is date:
        return datetime.combine(value, time())
    return None if value == "" else value
