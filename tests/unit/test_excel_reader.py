"""The calamine reader against the openpyxl reader it replaced: the same text for every kind of
cell, formulas refused wherever they are, the limits checked before calamine allocates."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula
from python_calamine import CalamineWorkbook

from supplychain.errors import Invalid, TooLarge
from supplychain.excel import importer, reader
from supplychain.excel.importer import (
    COLUMNS,
    MAX_COLUMNS,
    MAX_SHEET_ROWS,
    cell_text,
    read_import_sheet,
)
from supplychain.services.import_rows import FORMULA_REFUSED, RowErrors, read_rows

HEADER = [column.header for column in COLUMNS]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def saved(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_sheet_xml(data: bytes, rows_xml: str, extra: str = "", prefix: str = "") -> bytes:
    """`data` with its first sheet's XML replaced by these rows (optionally namespace-prefixed)."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns{":" + prefix if prefix else ""}="{MAIN}"'
    xml = f"<{p}worksheet {xmlns}>{extra}<{p}sheetData>{rows_xml}</{p}sheetData></{p}worksheet>"
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            body = xml.encode() if name == "xl/worksheets/sheet1.xml" else source.read(name)
            target.writestr(name, body)
    return buffer.getvalue()


def old_texts(data: bytes) -> list[list[str | None]]:
    """The cells' texts as the openpyxl read-only reader gave them (the reader before)."""
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, rich_text=False)
    sheet = workbook.worksheets[0]
    sheet.reset_dimensions()
    rows = [[cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return _trimmed(rows)


def new_texts(data: bytes) -> list[list[str | None]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = reader.first_worksheet(archive)
        scan = reader.scan_sheet(archive, sheet.parts[0], MAX_SHEET_ROWS, MAX_COLUMNS)
    rows = reader.sheet_rows(io.BytesIO(data), sheet.name, scan, CalamineWorkbook.from_filelike)
    return _trimmed([[cell_text(value) for value in row] for row in rows])


def _trimmed(rows: list[list[str | None]]) -> list[list[str | None]]:
    out = []
    for row in rows:
        while row and row[-1] is None:
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


def varied_workbook() -> bytes:
    """Every kind of value a partner sheet may hold, with the number formats Excel offers."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    values: list[tuple[Any, str | None]] = [
        ("text", None),
        ("  padded  ", None),
        ("中文 名称", None),
        (13800000000, None),
        (12345678901234567890, None),  # openpyxl writes it as a float: both read the float
        (-7, None),
        (0, None),
        (1.5, None),
        (1e20, None),
        (0.1 + 0.2, None),
        (Decimal("12.30"), None),
        (3, "0.00"),
        (True, None),
        (False, None),
        (datetime(2024, 5, 1), None),
        (date(2024, 5, 2), None),
        (datetime(2024, 5, 1, 8, 30, 15), None),
        (time(8, 30), None),
        (45000, "yyyy-mm-dd"),
        (45000.75, "yyyy-mm-dd hh:mm"),
        (45000, "d-mmm-yy"),
        (45000, "mm/dd/yyyy"),
        (45000, 'yyyy"年"m"月"d"日"'),
        (0.25, "hh:mm"),
        (1.25, "[h]:mm"),
        (45000, "#,##0"),
        (1234.5, "#,##0.00"),
        (0.125, "0.00%"),
        (1234.5, '0.00 "kg"'),
        (45000, "@"),
        ("007", "@"),
        (timedelta(hours=30), None),
    ]
    sheet.append(HEADER)
    for row, (value, number_format) in enumerate(values, start=2):
        for column in (1, 3):
            cell = sheet.cell(row=row, column=column, value=value)
            if number_format:
                cell.number_format = number_format
    sheet.cell(row=len(values) + 5, column=3, value="after a gap")
    return saved(workbook)


def test_every_kind_of_cell_reads_as_the_openpyxl_reader_read_it():
    data = varied_workbook()
    assert new_texts(data) == old_texts(data)
    assert [row[0] for row in new_texts(data)[1:5]] == [
        "text",
        "padded",
        "中文 名称",
        "13800000000",
    ]


def test_cells_only_the_exact_scan_reads_like_openpyxl():
    rows = (
        '<row r="1"><c r="A1" t="e"><v>#N/A</v></c><c r="B1"><v>12345678901234567890</v></c>'
        '<c r="C1"><v>-1234567890123456</v></c><c r="D1"><v>1E3</v></c><c r="E1"><v>007</v></c>'
        '<c r="F1" t="d"><v>2024-05-01T10:00:00</v></c><c r="G1" t="b"><v>1</v></c>'
        '<c r="H1" t="inlineStr"><is><t>ok</t></is></c><c r="I1" t="e"><v>#DIV/0!</v></c></row>'
        '<row r="2"><c r="A2"><v>1234567890123456.5</v></c></row>'
    )
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows)
    assert new_texts(data) == old_texts(data)
    assert new_texts(data)[0][:3] == ["#N/A", "12345678901234567890", "-1234567890123456"]


def test_cells_without_references_are_placed_as_excel_places_them():
    rows = (
        '<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c></row>'
        '<row r="4"><c><v>1</v></c><c r="D4"><v>2</v></c><c><v>3</v></c></row>'
    )
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows)
    assert new_texts(data) == old_texts(data) == [["a", "b"], [], [], ["1", None, None, "2", "3"]]


def test_a_prefixed_namespace_and_attributes_in_another_order_read_alike():
    rows = (
        '<x:row r="1"><x:c t="inlineStr" r="A1"><x:is><x:t>a</x:t></x:is></x:c>'
        '<x:c r="B1"><x:v>2</x:v></x:c></x:row>'
    )
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows, prefix="x")
    assert new_texts(data) == old_texts(data) == [["a", "2"]]


def test_a_formula_under_a_non_ascii_prefix_reads_as_its_text():
    rows = '<é:row r="1"><é:c r="A1"><é:f>1+1</é:f><é:v>2</é:v></é:c></é:row>'
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows, prefix="é")
    assert new_texts(data) == old_texts(data) == [["=1+1"]]


def formula_sheet() -> bytes:
    """Formulas of every kind, each with a cached value calamine alone would read."""
    rows = (
        '<row r="1">'
        + "".join(
            f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>'
            for i, h in enumerate(HEADER)
        )
        + "</row>"
        '<row r="2"><c r="A2" t="str"><f>"Acme"</f><v>Acme</v></c>'
        '<c r="B2" t="inlineStr"><is><t>dealer</t></is></c>'
        '<c r="C2" t="str"><f t="shared" ref="C2:C3" si="0">"A-"&amp;ROW()</f><v>A-2</v></c>'
        '<c r="E2" t="inlineStr"><is><t>X</t></is></c>'
        '<c r="F2" t="str"><f t="array" ref="F2">LOWER("x@a.example")</f><v>x@a.example</v></c>'
        "</row>"
        '<row r="3"><c r="A3" t="inlineStr"><is><t>Beta</t></is></c>'
        '<c r="B3" t="inlineStr"><is><t>dealer</t></is></c>'
        '<c r="C3" t="str"><f t="shared" si="0"/><v>A-3</v></c>'
        '<c r="E3" t="inlineStr"><is><t>Y</t></is></c>'
        '<c r="F3" t="inlineStr"><is><t>y@b.example</t></is></c>'
        '<c r="G3"><f>1+1</f></c></row>'
    )
    return with_sheet_xml(saved(openpyxl.Workbook()), rows)


def test_formulas_read_as_their_text_never_their_cached_value():
    data = formula_sheet()
    assert new_texts(data) == old_texts(data)
    sheet = read_import_sheet(io.BytesIO(data))
    first, second = (row.values for row in sheet.rows)
    assert first["company_name"] == '="Acme"' and first["email"] == '=LOWER("x@a.example")'
    assert first["custom_id"] == '="A-"&ROW()' and second["custom_id"] == '="A-"&ROW()'
    assert second["mobile"] == "=1+1"  # no cached value: no cell to calamine, still refused


def test_every_formula_becomes_a_row_error():
    sheet = read_import_sheet(io.BytesIO(formula_sheet()))
    errors = RowErrors(sheet)
    read_rows(sheet, errors)
    with pytest.raises(Invalid) as caught:
        errors.raise_if_any()
    refused = {(e["row"], e["cell"]) for e in caught.value.errors["rows"]}
    refused &= {
        (e["row"], e["cell"])
        for e in caught.value.errors["rows"]
        if e["message"] == FORMULA_REFUSED
    }
    assert refused == {(2, "A2"), (2, "C2"), (2, "F2"), (3, "C3"), (3, "G3")}


@pytest.mark.parametrize(
    "cell",
    [
        '<c r="J2"><f>1+1</f><v>2</v></c>',  # a formula under no header
        '<c r="J2" t="str"><f t="array" ref="J2:J3">"x"</f><v>x</v></c>',
    ],
)
def test_a_formula_in_a_column_without_header_is_refused(cell):
    header = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>' for i, h in enumerate(HEADER)
    )
    rows = f'<row r="1">{header}</row><row r="2">{cell}</row>'
    with pytest.raises(Invalid) as caught:
        read_import_sheet(io.BytesIO(with_sheet_xml(saved(openpyxl.Workbook()), rows)))
    assert [e["cell"] for e in caught.value.errors["rows"]] == ["J2"]


def test_a_comment_that_looks_like_a_formula_goes_to_the_exact_scan_and_reads_alike():
    rows = '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows, extra="<!-- <f>1</f> <c> -->")
    assert new_texts(data) == old_texts(data) == [["a"]]


def test_workbooks_from_openpyxl_take_the_fast_scan():
    data = varied_workbook()
    pattern = reader._fast_pattern(MAX_SHEET_ROWS, MAX_COLUMNS)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert reader._fast_scan(archive, "xl/worksheets/sheet1.xml", pattern)
    with zipfile.ZipFile(io.BytesIO(formula_sheet())) as archive:
        assert not reader._fast_scan(archive, "xl/worksheets/sheet1.xml", pattern)


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        ('<c r="XFD2"><v>1</v></c>', "columns"),
        ('<c r="XFD1048576"><v>1</v></c>', "rows"),
        ('<c r="AE2"><v>1</v></c>', "columns"),
        ('<c r="A1048576"><v>1</v></c>', "rows"),
        ('<c r="A25001"><v>1</v></c>', "rows"),
        # Attributes in another order: the exact scan places it.
        ('<c t="n" r="A900000"><v>1</v></c>', "rows"),
    ],
)
@pytest.mark.parametrize("row", ["<row>", '<row r="2">'], ids=["no-row-ref", "row-ref"])
def test_cells_far_away_are_refused_before_calamine_reads_them(cell, what, row, monkeypatch):
    class Never:
        @staticmethod
        def from_filelike(_stream: Any) -> Any:
            raise AssertionError("calamine must not read this sheet")

    monkeypatch.setattr(importer, "CalamineWorkbook", Never)
    rows = '<row r="1"><c r="A1" t="inlineStr"><is><t>company name</t></is></c></row>'
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows + f"{row}{cell}</row>")
    with pytest.raises(TooLarge) as caught:
        read_import_sheet(io.BytesIO(data))
    assert ("columns" if what == "columns" else "rows") in caught.value.message


@pytest.mark.parametrize(
    "extra",
    [
        ('<row r="25001"/>', ""),  # an empty row past the limit, as openpyxl counted it
        ("", '<dimension ref="A30000"/>'),  # a declared extent of one cell
        ("", '<dimension ref="A1:AE2"/>'),
        ('<row r="3"><c r="B3"><f>1</f></c></row><row r="25001"/>', ""),  # the exact scan
    ],
)
def test_rows_and_extents_declared_past_the_limits_are_refused(extra):
    header = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>' for i, h in enumerate(HEADER)
    )
    rows = f'<row r="1">{header}</row>'
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows + extra[0], extra=extra[1])
    with pytest.raises(TooLarge):
        read_import_sheet(io.BytesIO(data))


def test_the_limits_themselves_are_allowed():
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>company name</t></is></c>'
        '<c r="AD1" s="0"/></row><row r="25000"/>'
    )
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows)
    with pytest.raises(Invalid):  # read to the end: only the header's missing columns are wrong
        read_import_sheet(io.BytesIO(data))


def test_greater_than():
    import re

    for limit in (9, 10, 99, 25_000, 20_009):
        pattern = re.compile(reader._greater_than(limit) + "$")
        assert [n for n in range(1, 3 * limit) if pattern.match(str(n))] == list(
            range(limit + 1, 3 * limit)
        )


def test_an_array_formula_object_still_reads_as_its_text():
    assert cell_text(ArrayFormula("A1:A2", "=SUM(B1:B2)")) == "=SUM(B1:B2)"


def test_escaped_characters_read_as_excel_means_them():
    """The one difference from openpyxl, which showed `_xHHHH_` escapes as written: Excel writes
    a typed `_x0041_` as `_x005F_x0041_` and a carriage return as `_x000D_`."""
    rows = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>x_x005F_x0041_y</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>a_x000D_b</t></is></c></row>'
    )
    data = with_sheet_xml(saved(openpyxl.Workbook()), rows)
    assert new_texts(data) == [["x_x0041_y", "a\rb"]]
    assert old_texts(data) == [["x_x005F_x0041_y", "a_x000D_b"]]


def test_at_most():
    import re

    for limit in (1, 9, 10, 99, 100, 25_000, 20_009, 30_000):
        pattern = re.compile(reader._at_most(limit) + "$")
        assert [n for n in range(0, 3 * limit) if pattern.match(str(n))] == list(
            range(1, limit + 1)
        )
        assert not pattern.match("0" + str(limit))  # no leading zero


def test_columns_up_to():
    import re

    from openpyxl.utils import get_column_letter

    names = [get_column_letter(n) for n in range(1, 26**3 + 26**2 + 27)]  # to ZZZ
    for limit in (1, 9, 26, 27, 30, 52, 53, 100, 702):
        pattern = re.compile(reader._columns_up_to(limit) + "$")
        assert [name for name in names if pattern.match(name)] == names[:limit]


@pytest.mark.parametrize("length", [16, 17, 19, 40])
def test_every_run_of_16_digits_may_be_a_long_integer(length):
    for before in range(8):
        data = b"<" * before + b"7" * length + b"<v>1</v>"
        assert reader._may_hold_long_digits(data), (before, length)
    assert not reader._may_hold_long_digits(b'<c r="A12345"><v>123456789012</v></c>' * 20)


# What the fast scan's rule must judge alike however it is searched for: each line is part of a
# sheet's XML and whether the rule lets it through (True) or sends it to the exact scan (False).
FAST_RULE_CASES = [
    ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="AD1" s="2"/></row>', True),
    ('<row r="25000"><c r="A25000"><v>1</v></c></row>', True),
    ('<row r="1" spans="1:9" x14ac:dyDescent="0.25"><c r="B1"/></row>', True),
    ('<dimension ref="A1:AD25000"/><cols><col min="1" max="3"/></cols>', True),
    (
        '<dimension ref="A1"/><c r="A1" t="inlineStr"><is><t xml:space="preserve"> e </t></is></c>',
        True,
    ),
    ('<c r="A1" t="str"><v>Joe\'s \'e\' "e"</v></c>', True),  # searched for over the block
    ('<c r="A1"><v>123456789012345</v></c><c r="B1"><v>0.12345678901234567</v></c>', True),
    ('<c r="A1" t="inlineStr"><is><t>1234567890123456789</t></is></c>', True),
    ("<fx/><ff>1</ff><rows/><cx/><vv>1234567890123456</vv>", True),
    ("<f>1+1</f>", False),
    ("<f/>", False),
    ('<f t="shared" si="0"/>', False),
    ("<x:f>1</x:f>", False),
    ("<_a.b-c:f/>", False),
    ("<é:f>1</é:f>", False),
    ('<名:c r="AE1"/>', False),
    ("<!-- <f>1</f> -->", False),
    ('<c t="n" r="A1"><v>1</v></c>', False),  # the reference not first
    ('<c  r="A1"><v>1</v></c>', True),  # a candidate the pattern lets through
    ('<c\tr="A1"/>', True),
    ("<c><v>1</v></c>", False),
    ("<c/>", False),
    ('<c r="A025"/>', False),
    ('<c r="AE1"/>', False),
    ('<c r="XFD1"/>', False),
    ('<c r="A25001"/>', False),
    ('<c r="A1000000000"/>', False),
    ('<x:c r="AE1"/>', False),
    ('<x:c r="A1"><x:v>1</x:v></x:c>', True),
    ("<row/>", False),
    ("<row>", False),
    ('<row r="0">', False),
    ('<row r="25001"/>', False),
    ('<row spans="1:2" r="1">', False),
    ('<x:row r="25001">', False),
    ('<x:row r="2"><x:c r="B2"/></x:row>', True),
    ('<dimension ref="A1:AE2"/>', False),
    ('<dimension ref="AE1:A5"/>', False),
    ('<dimension ref="A30000"/>', False),
    ('<dimension ref="A30000:A5"/>', True),  # as the rule has it: the last cell counts
    ("<dimension/>", False),
    ('<x:dimension ref="A1:AE2"/>', False),
    ('<c r="A1" t="e"><v>#N/A</v></c>', False),
    ("<c r=\"A1\" t = 'e'><v>#N/A</v></c>", False),
    ('<c r="A1" s="1" t="e"/>', False),
    ('<x:c r="A1" t="e"/>', False),
    ('<c r="A1" t="s"><v>1</v></c><x t="e"/>', True),  # t="e" on no cell
    ("<v>1234567890123456</v>", False),
    ("<v> -1234567890123456</v>", False),
    ("<v>+12345678901234567.5</v>", False),
    ('<v xml:space="preserve">1234567890123456</v>', False),
    ("<x:v>1234567890123456</x:v>", False),
    ("<v>1.234567890123456789</v>", True),
]


@pytest.mark.parametrize(("xml", "fast"), FAST_RULE_CASES)
def test_the_fast_rule_judges_as_its_pattern_alone(xml, fast):
    rule = reader._fast_pattern(MAX_SHEET_ROWS, MAX_COLUMNS)
    data = f'<worksheet xmlns="{MAIN}"><sheetData>{xml}</sheetData></worksheet>'.encode()
    assert (rule.pattern.search(data) is None) == fast
    assert rule.clear(data) == fast


def test_the_fast_rule_judges_as_its_pattern_alone_on_any_mix():
    import random

    rule = reader._fast_pattern(MAX_SHEET_ROWS, MAX_COLUMNS)
    pieces = [xml.encode() for xml, _ in FAST_RULE_CASES] + [b"<", b" ", b'"', b"'", b":", b"e"]
    shuffled = random.Random(26)
    for _ in range(3_000):
        data = b"".join(shuffled.choices(pieces, k=shuffled.randint(1, 6)))
        if shuffled.random() < 0.5:  # cut anywhere: a block may start or end mid-tag
            data = data[shuffled.randint(0, len(data)) :]
        assert rule.clear(data) == (rule.pattern.search(data) is None), data


@pytest.mark.parametrize(
    "far",
    ['<row r="25001"/>', '<c r="A25001"><v>1</v></c>', '<c r="AE3"/>', "<x:f>1</x:f>"],
)
def test_the_fast_scan_finds_what_lies_across_any_block_boundary(far, monkeypatch):
    cells = "".join(f'<c r="{chr(65 + i)}2" t="s"><v>{i}</v></c>' for i in range(9))
    rows = f'<row r="1">{cells}</row><row r="2">{cells}{far}</row><row r="3">{cells}</row>'
    with zipfile.ZipFile(io.BytesIO(with_sheet_xml(saved(openpyxl.Workbook()), rows))) as archive:
        rule = reader._fast_pattern(MAX_SHEET_ROWS, MAX_COLUMNS)
        for size in range(4, 400, 3):
            monkeypatch.setattr(reader, "_BLOCK", size)
            assert not reader._fast_scan(archive, "xl/worksheets/sheet1.xml", rule), size
    clean = with_sheet_xml(saved(openpyxl.Workbook()), rows.replace(far, ""))
    with zipfile.ZipFile(io.BytesIO(clean)) as archive:
        for size in range(4, 400, 3):
            monkeypatch.setattr(reader, "_BLOCK", size)
            assert reader._fast_scan(archive, "xl/worksheets/sheet1.xml", rule), size
