"""The import reader on its own: header matching, cell text, limits and hostile archives."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from supplychain.errors import BadRequest, Invalid, TooLarge
from supplychain.excel import importer
from supplychain.excel.importer import (
    COLUMNS,
    KIND_NAMES,
    KIND_VALUES,
    ROLE_NAMES,
    ROLE_VALUES,
    cell_text,
    header_key,
    read_import_sheet,
)
from supplychain.excel.template import import_template
from supplychain.models.directory import ORG_KINDS, USER_ROLES

HEADER = [column.header for column in COLUMNS]


def workbook_bytes(rows: list[list[Any]], header: list[Any] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER if header is None else header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def replace_part(data: bytes, prefix: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            target.writestr(name, content if name.startswith(prefix) else source.read(name))
    return buffer.getvalue()


def read(data: bytes):
    return read_import_sheet(io.BytesIO(data))


def test_vocabulary_matches_the_models():
    assert tuple(KIND_NAMES) == ORG_KINDS
    assert tuple(ROLE_NAMES) == USER_ROLES
    assert set(KIND_VALUES.values()) == set(ORG_KINDS)
    assert set(ROLE_VALUES.values()) == set(USER_ROLES)
    assert KIND_VALUES["经销商"] == "dealer" and ROLE_VALUES["管理员"] == "admin"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("company name", "companyname"),
        ("  Company_Name ", "companyname"),
        ("CUSTOM-ID", "customid"),
        ("*邮箱", "邮箱"),
        ("自定义ID", "自定义id"),
        ("姓名：", "姓名"),
        ("group\u3000path", "grouppath"),
    ],
)
def test_header_key_ignores_case_spaces_and_marks(text, key):
    assert header_key(text) == key


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("  ", None),
        ("  Acme ", "Acme"),
        (13800000000, "13800000000"),
        (13800000000.0, "13800000000"),
        (1.5, "1.5"),
        (True, "TRUE"),
        (datetime(2024, 5, 1, 8, 30), "2024-05-01T08:30:00"),
        (date(2024, 5, 1), "2024-05-01"),
        (ArrayFormula("A1:A2", "=SUM(B1:B2)"), "=SUM(B1:B2)"),
    ],
)
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_template_reads_back_as_all_columns_and_no_rows():
    sheet = read(import_template())
    assert [column.key for column in sheet.columns.values()] == [c.key for c in COLUMNS]
    assert sheet.rows == []


def test_rows_keep_their_excel_numbers_and_blank_rows_are_skipped():
    rows = [
        ["A", "dealer", "A-1", None, "X", "x@a.example", None, None, None],
        [None] * 9,
        [],
        ["B", "dealer", 1001, None, None, None, None, None, None],
    ]
    sheet = read(workbook_bytes(rows))
    assert [row.number for row in sheet.rows] == [2, 5]
    assert sheet.rows[1].values["custom_id"] == "1001"
    assert sheet.rows[1].values["email"] is None


def test_columns_in_any_order_optional_ones_left_out():
    header = ["邮箱", "Kind", "company name", "CUSTOM ID", "联系人"]
    sheet = read(workbook_bytes([["x@a.example", "经销商", "A", "A-1", "X"]], header))
    assert sheet.columns["email"].letter == "A" and sheet.columns["contact_name"].header == "联系人"
    assert "group_path" not in sheet.columns
    assert sheet.rows[0].values == {
        "email": "x@a.example",
        "kind": "经销商",
        "company_name": "A",
        "custom_id": "A-1",
        "contact_name": "X",
    }


def test_formulas_are_read_as_text_never_evaluated():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(["=1+1", "dealer", "=A2", None, "X", '=HYPERLINK("http://x")', None, None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    values = read(buffer.getvalue()).rows[0].values
    assert values["company_name"] == "=1+1"
    assert values["custom_id"] == "=A2"
    assert values["email"] == '=HYPERLINK("http://x")'


def test_a_wrong_declared_dimension_does_not_hide_cells():
    data = workbook_bytes([["A", "dealer", "A-1", None, "X", "x@a.example", None, None, "admin"]])
    source = zipfile.ZipFile(io.BytesIO(data))
    sheet_xml = source.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:I2"/>' in sheet_xml
    data = replace_part(
        data,
        "xl/worksheets/sheet1.xml",
        sheet_xml.replace('<dimension ref="A1:I2"/>', '<dimension ref="A1"/>').encode(),
    )
    sheet = read(data)
    assert len(sheet.columns) == 9 and sheet.rows[0].values["role"] == "admin"


def test_header_problems_are_invalid_with_row_one():
    with pytest.raises(Invalid) as caught:
        read(workbook_bytes([], [*HEADER, "notes"]))
    assert caught.value.errors == {
        "rows": [
            {
                "row": 1,
                "column": "notes",
                "cell": "J1",
                "message": caught.value.errors["rows"][0]["message"],
            }
        ]
    }
    assert read(workbook_bytes([])).rows == []  # a header alone is a valid, empty import
    with pytest.raises(Invalid) as caught:
        read(workbook_bytes([], []))  # no header at all
    missing = {e["column"] for e in caught.value.errors["rows"]}
    assert missing == {"company name", "kind", "custom id", "contact name", "email"}


def test_values_under_no_header_are_invalid():
    rows = [["A", "dealer", "A-1", None, "X", "x@a.example", None, None, None, None, "?"]]
    with pytest.raises(Invalid) as caught:
        read(workbook_bytes(rows, [*HEADER, None, None]))
    assert [(e["row"], e["cell"]) for e in caught.value.errors["rows"]] == [(2, "K2")]


def test_row_and_column_limits(monkeypatch):
    monkeypatch.setattr(importer, "MAX_DATA_ROWS", 3)
    row = ["A", "dealer", "A-1", None, None, None, None, None, None]
    assert len(read(workbook_bytes([row] * 3)).rows) == 3
    with pytest.raises(TooLarge):
        read(workbook_bytes([row] * 4))
    with pytest.raises(TooLarge):
        read(workbook_bytes([], [*HEADER, *[f"x{i}" for i in range(30)]]))
    monkeypatch.setattr(importer, "MAX_SHEET_ROWS", 10)
    with pytest.raises(TooLarge):
        read(workbook_bytes([row, *[[None] * 9] * 20]))


def test_not_a_workbook_is_bad_request():
    for data in (b"", b"hello", b"PK\x03\x04broken", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" * 8):
        with pytest.raises(BadRequest):
            read(data)


def test_zip_bomb_is_refused_from_its_directory():
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as member,
    ):
        for _ in range(101):
            member.write(b"\0" * (1 << 20))
    start = time.perf_counter()
    with pytest.raises(TooLarge):
        read(buffer.getvalue())
    assert time.perf_counter() - start < 1


def test_an_oversized_styles_part_is_refused():
    data = replace_part(workbook_bytes([]), "xl/styles.xml", b" " * (importer.MAX_PART_BYTES + 1))
    with pytest.raises(TooLarge) as caught:
        read(data)
    assert "xl/styles.xml" in caught.value.message


def write_only_bytes(rows: list[list[Any]]) -> bytes:
    """A workbook as openpyxl's write-only mode makes it: inline strings, no shared strings."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_strings_part(data: bytes, path: str, count: int) -> bytes:
    """The workbook plus a shared strings part of `count` entries at `path`, declared as such."""
    source = zipfile.ZipFile(io.BytesIO(data))
    parts = {name: source.read(name) for name in source.namelist()}
    parts[path] = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + b"<si><t>x</t></si>" * count
        + b"</sst>"
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        f'<Override PartName="/{path}" ContentType="application/'
        f'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'.encode(),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return buffer.getvalue()


def test_only_the_first_worksheet_may_exceed_the_part_limit(monkeypatch):
    monkeypatch.setattr(importer, "MAX_PART_BYTES", 12_000)  # the theme part is 10 140
    rows = [
        [f"Company {i}", "dealer", f"C-{i}", None, None, None, None, None, None] for i in range(300)
    ]
    # Only the sheet is big, and it is streamed.
    data = write_only_bytes(rows)
    assert len(read(data).rows) == 300
    # A second big part, parsed whole: refused.
    with pytest.raises(TooLarge) as caught:
        read(with_strings_part(data, "xl/sharedStrings.xml", 1000))
    assert "xl/sharedStrings.xml" in caught.value.message
    # The only big part, but no worksheet, though its path says so: refused.
    small = write_only_bytes(rows[:1])
    with pytest.raises(TooLarge) as caught:
        read(with_strings_part(small, "xl/worksheets/strings.xml", 1000))
    assert "xl/worksheets/strings.xml" in caught.value.message


def test_billion_laughs_is_bad_request_not_expanded():
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&a9;</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()
    data = replace_part(workbook_bytes([]), "xl/worksheets/sheet1.xml", xml)
    start = time.perf_counter()
    with pytest.raises(BadRequest):
        read(data)
    assert time.perf_counter() - start < 5
