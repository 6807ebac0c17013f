"""The partner import reader: an uploaded xlsx is checked as a zip archive first (size, member
count, uncompressed total), then its first worksheet's XML is scanned (extent, formulas: see
reader.py) and its values read with python-calamine.

Formulas are never evaluated: a formula cell reads as its text (`=1+1`), never as the value Excel
cached, and the import refuses it like any other bad value. What this module refuses, and how:

- 400: an empty file, not a zip archive, a zip that is no workbook, a workbook that cannot be read.
- 413: more than MAX_UPLOAD_BYTES, MAX_ZIP_MEMBERS parts, MAX_UNCOMPRESSED_BYTES unpacked,
  MAX_PART_BYTES in one part other than the first worksheet (the only part that is scanned in
  blocks), MAX_DATA_ROWS rows with content, a sheet reaching beyond row MAX_SHEET_ROWS, or cells
  beyond column MAX_COLUMNS (all checked before calamine allocates the sheet's range).
- 422 with `errors.rows`: header problems (missing, unknown or repeated columns) and values in a
  column without a header.

Each cell's text is the one the openpyxl read-only reader gave before (tests/unit/
test_excel_reader.py compares both on every kind of cell): integers without `.0`, dates as
datetimes, error cells as their text. The worst file within these limits is some 750 000 cells:
well under a second; memory stays bounded by MAX_PART_BYTES and the sheet's limited range.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any

from lxml.etree import LxmlError
from openpyxl.utils import get_column_letter
from python_calamine import CalamineError, CalamineWorkbook

from supplychain.errors import BadRequest, Invalid, TooLarge
from supplychain.excel.reader import (
    WORKSHEET_TYPE,
    NotAWorkbook,
    SheetTooLarge,
    content_type,
    first_worksheet,
    scan_sheet,
    sheet_rows,
)
from supplychain.models.directory import MAX_CUSTOM_ID

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
# Every part but the first worksheet (which is streamed) is parsed whole even in read-only mode
# (shared strings, styles...): a bound on memory and time. The shared strings of 20 000 rows of
# real partners take some 4 to 6 MB.
MAX_PART_BYTES = 10 * 1024 * 1024
MAX_ZIP_MEMBERS = 1_000
MAX_DATA_ROWS = 20_000
# Rows scanned, blank ones included: empty (formatted) rows below the data are tolerated up to
# here. With at most MAX_COLUMNS cells a row, this bounds the range calamine holds in memory.
MAX_SHEET_ROWS = 25_000
# Any cell beyond this column, even an empty formatted one, is refused: only 9 columns mean
# anything, and it keeps rows of thousands of cells from being parsed.
MAX_COLUMNS = 30
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# What a damaged or hostile archive or XML raises; caught only around the reading calls.
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    CalamineError,
    NotAWorkbook,
    LxmlError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    OSError,
    EOFError,
    NotImplementedError,
    RecursionError,
)
_METADATA_PARTS = ("[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels")
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_NOISE = re.compile(r"[\s_\-*:：]+")


# The Chinese names a WeCom user knows, offered in the template's drop-down lists beside the
# English ones; matched without case or surrounding spaces.
KIND_NAMES = {
    "manufacturer": "制造商",
    "supplier": "供应商",
    "dealer": "经销商",
    "distributor": "分销商",
    "logistics": "物流",
    "other": "其他",
}
ROLE_NAMES = {"admin": "管理员", "staff": "员工"}
CHINESE_ROLES = {"管理员": "admin", "员工": "staff", "成员": "staff"}
KIND_VALUES = {**{k: k for k in KIND_NAMES}, **{zh: en for en, zh in KIND_NAMES.items()}}
ROLE_VALUES = {**{r: r for r in ROLE_NAMES}, **CHINESE_ROLES}


@dataclass(frozen=True)
class ImportColumn:
    """One column of the import sheet: its key, header names (English, Chinese) and help text."""

    key: str
    header: str
    chinese: str
    required: str
    allowed: str
    example: str
    notes: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn(
        "company_name",
        "company name",
        "公司名称",
        "yes",
        "Text, up to 200 characters.",
        "Beijing Motors Sales",
        "The same on every row of the company. An existing member's name is updated to it.",
        ("company", "企业名称"),
    ),
    ImportColumn(
        "kind",
        "kind",
        "类型",
        "yes",
        ", ".join(KIND_NAMES) + "; or in Chinese " + ", ".join(KIND_NAMES.values()) + ".",
        "dealer",
        "The kind of an existing member's org cannot be changed by an import.",
        ("type", "企业类型"),
    ),
    ImportColumn(
        "custom_id",
        "custom id",
        "自定义ID",
        "yes",
        f"Text, up to {MAX_CUSTOM_ID} characters; unique in the chain.",
        "DLR-001",
        "The dealer or supplier code. Rows with the same custom id are one company: the current "
        "member with this code is updated, otherwise a new member is created.",
    ),
    ImportColumn(
        "group_path",
        "group path",
        "分组",
        "no",
        "Group names joined by '/', up to 10 levels of up to 100 characters; "
        "no empty, '.' or '..' levels.",
        "Dealers/North China/Beijing",
        "Missing groups are created. Left empty: a new member gets no group, an existing "
        "member keeps its group.",
        ("group", "所属分组"),
    ),
    ImportColumn(
        "contact_name",
        "contact name",
        "姓名",
        "with email",
        "Text, up to 200 characters.",
        "Chen Jing",
        "Leave contact name and email both empty to list a company without a contact.",
        ("contact", "联系人"),
    ),
    ImportColumn(
        "email",
        "email",
        "邮箱",
        "with contact name",
        "An email address, up to 200 characters; each email once in the file.",
        "chen.jing@example.com",
        "Contacts are keyed by email: a new email creates a person with a single-use invitation "
        "code (returned once, in the import's response); a person of the same company is listed "
        "as a contact; an email of a person of another org is an error.",
        ("e-mail", "email address", "电子邮箱", "邮件"),
    ),
    ImportColumn(
        "mobile",
        "mobile",
        "手机",
        "no",
        "Digits, spaces and + ( ) -; 3 to 41 characters.",
        "13800000000",
        "Format the column as text in Excel so that long numbers keep every digit.",
        ("phone", "手机号", "手机号码"),
    ),
    ImportColumn(
        "title",
        "title",
        "职务",
        "no",
        "Text, up to 200 characters.",
        "Sales manager",
        "",
        ("job title", "职位"),
    ),
    ImportColumn(
        "role",
        "role",
        "角色",
        "no (default staff)",
        "admin or staff; or in Chinese "
        + ", ".join(f"{zh} ({role})" for zh, role in CHINESE_ROLES.items())
        + ".",
        "staff",
        "An admin may manage the people of its own org.",
    ),
)
COLUMN_KEYS = tuple(column.key for column in COLUMNS)
REQUIRED_COLUMNS = ("company_name", "kind", "custom_id", "contact_name", "email")


def header_key(text: str) -> str:
    """A header as compared: case, spaces, `_`, `-`, `*` and colons do not matter."""
    return _HEADER_NOISE.sub("", text.casefold())


_HEADERS: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.header, _column.chinese, *_column.aliases):
        _HEADERS[header_key(_name)] = _column.key


@dataclass(frozen=True)
class SheetColumn:
    """Where a known column sits in the uploaded sheet, and its header as written there."""

    key: str
    index: int  # 1-based
    header: str

    @property
    def letter(self) -> str:
        return get_column_letter(self.index)


@dataclass
class SheetRow:
    """One non-blank data row: its Excel row number and its cells as text by column key."""

    number: int
    values: dict[str, str | None]


@dataclass
class ImportSheet:
    """The first sheet of an uploaded workbook: its recognised columns and non-blank data rows."""

    columns: dict[str, SheetColumn]
    rows: list[SheetRow] = field(default_factory=list)


def row_error(row: int, column: str | None, cell: str | None, message: str) -> dict[str, Any]:
    """One entry of `errors.rows`: Excel row number, column header, cell reference, message."""
    return {"row": row, "column": column, "cell": cell, "message": message}


def cell_text(value: Any) -> str | None:
    """A cell as the text a person typed: no spurious `.0`, formulas as text, blank as None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    else:
        # Array and data-table formulas come as objects holding their text.
        text = str(getattr(value, "text", None) or value).strip()
    return text or None


def read_import_sheet(stream: IO[bytes]) -> ImportSheet:
    """Check an upload as a bounded xlsx archive, then read its first sheet's header and rows."""
    big_part = _check_archive(stream)
    try:
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            if big_part in _METADATA_PARTS:
                raise _part_too_large(big_part)  # parsed whole next: never above the limit
            sheet = first_worksheet(archive)
            if big_part is not None:
                _check_big_part(archive, big_part, sheet.parts, sheet.chartsheets)
            if len(sheet.parts) > 1:
                raise NotAWorkbook("the first sheet's target names several parts")
            scan = scan_sheet(archive, sheet.parts[0], MAX_SHEET_ROWS, MAX_COLUMNS)
        stream.seek(0)
        rows = sheet_rows(stream, sheet.name, scan, CalamineWorkbook.from_filelike)
        header = next(rows, None)
        columns = _read_header(header or ())
        return ImportSheet(columns=columns, rows=list(_data_rows(rows, columns)))
    except SheetTooLarge as exc:
        raise _too_many_rows() if exc.what == "rows" else _too_many_columns()
    except NotAWorkbook as exc:
        if str(exc) == "no worksheet":
            raise BadRequest("The workbook has no worksheet.")
        raise BadRequest(f"The file could not be read as an Excel workbook ({_why(exc)}).")
    except _UNREADABLE as exc:
        raise BadRequest(f"The file could not be read as an Excel workbook ({_why(exc)}).")


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_archive(stream: IO[bytes]) -> str | None:
    """Sizes and member count from the zip directory; the one part over MAX_PART_BYTES, if any."""
    stream.seek(0, 2)
    size = stream.tell()
    if size == 0:
        raise BadRequest("The file is empty: upload an .xlsx workbook.")
    if size > MAX_UPLOAD_BYTES:
        raise TooLarge(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    stream.seek(0)
    head = stream.read(8)
    if head == _OLE2_SIGNATURE:
        raise BadRequest(
            "This is an Excel 97-2003 (.xls) file: save it as an Excel Workbook (.xlsx)."
        )
    if not head.startswith(b"PK"):
        raise BadRequest("Not an Excel workbook: upload an .xlsx file (this is no zip archive).")
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
        raise BadRequest(f"Not a readable .xlsx file: the zip archive is damaged ({_why(exc)}).")
    if len(members) > MAX_ZIP_MEMBERS:
        raise TooLarge(f"The workbook has more than {MAX_ZIP_MEMBERS} parts.")
    # A member never unpacks to more than its declared size (zipfile stops there and fails the
    # CRC check), so the declared sizes bound the work before anything is decompressed.
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise TooLarge(
            f"The workbook unpacks to more than {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB."
        )
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise BadRequest("Not an Excel workbook: a zip archive, but no .xlsx inside.")
    big = sorted(
        (member for member in members if member.file_size > MAX_PART_BYTES),
        key=lambda member: -member.file_size,
    )
    if len(big) > 1:  # the largest may be the first sheet; the next one cannot
        raise _part_too_large(big[1].filename)
    return big[0].filename if big else None


def _part_too_large(name: str) -> TooLarge:
    return TooLarge(
        f"The workbook part {name[:100]!r} unpacks to more than "
        f"{MAX_PART_BYTES // (1024 * 1024)} MB."
    )


def _check_big_part(
    archive: zipfile.ZipFile, name: str, sheet_parts: list[str], chartsheets: bool
) -> None:
    """Only the first worksheet, which is scanned in blocks, may exceed MAX_PART_BYTES: not the
    shared strings, styles or workbook, nor a part some chart sheet would read whole."""
    if content_type(archive, name) != WORKSHEET_TYPE:
        raise _part_too_large(name)
    if name not in sheet_parts or chartsheets:
        raise _part_too_large(name)


def _too_many_rows() -> TooLarge:
    return TooLarge(
        f"The sheet has more than {MAX_DATA_ROWS} data rows (or reaches beyond row "
        f"{MAX_SHEET_ROWS}): split it into several files."
    )


def _too_many_columns() -> TooLarge:
    return TooLarge(
        f"The sheet has more than {MAX_COLUMNS} columns: delete the columns right of column "
        f"{get_column_letter(MAX_COLUMNS)}."
    )


def _check_width(values: tuple[Any, ...]) -> None:
    # Rows reach the last column of the sheet's range; the scan has bounded it already.
    if len(values) > MAX_COLUMNS:
        raise _too_many_columns()


def _read_header(values: tuple[Any, ...]) -> dict[str, SheetColumn]:
    _check_width(values)
    columns: dict[str, SheetColumn] = {}
    errors = []
    for index, value in enumerate(values, start=1):
        text = cell_text(value)
        if text is None:
            continue
        letter = get_column_letter(index)
        key = _HEADERS.get(header_key(text))
        if key is None:
            errors.append(
                row_error(
                    1,
                    text[:100],
                    f"{letter}1",
                    f"Unknown column {text[:100]!r}: use the template's headers "
                    f"({', '.join(c.header for c in COLUMNS)}) or their Chinese names.",
                )
            )
        elif key in columns:
            first = columns[key]
            errors.append(
                row_error(
                    1,
                    text[:100],
                    f"{letter}1",
                    f"Column {text[:100]!r} repeats column {first.letter} ({first.header!r}).",
                )
            )
        else:
            columns[key] = SheetColumn(key=key, index=index, header=text)
    by_key = {c.key: c for c in COLUMNS}
    for key in REQUIRED_COLUMNS:
        if key not in columns:
            column = by_key[key]
            errors.append(
                row_error(
                    1,
                    column.header,
                    None,
                    f"Missing column {column.header!r} ({column.chinese}) in the header row.",
                )
            )
    if errors:
        raise Invalid(
            "The header row (row 1) does not match the import template.", {"rows": errors}
        )
    return columns


def _data_rows(
    rows: Iterator[tuple[Any, ...]], columns: dict[str, SheetColumn]
) -> Iterator[SheetRow]:
    at = [(c.index - 1, c.key) for c in columns.values()]
    known = {c.index - 1 for c in columns.values()}
    unlabelled: dict[int, int] = {}  # column index -> first row with a value under no header
    count = 0
    for number, values in enumerate(rows, start=2):
        if number > MAX_SHEET_ROWS:
            raise _too_many_rows()
        if not values:
            continue
        _check_width(values)
        texts = {key: cell_text(values[i]) if i < len(values) else None for i, key in at}
        if len(values) > len(known):
            for i, value in enumerate(values):
                if i not in known and i not in unlabelled and cell_text(value) is not None:
                    unlabelled[i] = number
        if not any(texts.values()):
            continue
        count += 1
        if count > MAX_DATA_ROWS:
            raise _too_many_rows()
        yield SheetRow(number=number, values=texts)
    if unlabelled:
        raise Invalid(
            "Some cells hold values in a column without a header.",
            {
                "rows": [
                    row_error(
                        number,
                        None,
                        f"{get_column_letter(i + 1)}{number}",
                        f"Column {get_column_letter(i + 1)} has no header: name it or clear it.",
                    )
                    for i, number in sorted(unlabelled.items(), key=lambda item: item[1])
                ]
            },
        )
