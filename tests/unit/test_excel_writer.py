"""The xlsxwriter workbooks read back: by openpyxl (values, types, number formats, frozen header,
autofilter, no formula, no link), by LibreOffice headless (numbers stay numbers, formula-like
text stays text), and byte for byte the same for the same data."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from supplychain.excel import template, writer
from supplychain.excel.importer import COLUMNS, KIND_NAMES, MAX_DATA_ROWS
from supplychain.excel.workbook import (
    DISPUTE_COLUMNS,
    LINE_COLUMNS,
    SCORECARD_COLUMNS,
    SUMMARY_COLUMNS,
    DisputeRecord,
    LineRecord,
    OrgRecord,
    StatementStatus,
    WorkbookMeta,
    write_reconciliation_workbook,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
# User text a spreadsheet could take for a formula, a number or a link: it must stay text.
ODD = [
    "=SUM(A1:A9)",
    "+86 spare",
    "-40°C rated",
    "@risk item",
    "\tindented",
    '=HYPERLINK("http://evil.example","click")',
    "http://example.com/part",
    "007",
    "1e5",
]
SHEETS = ["Summary", "Lines", "Discrepancies", "Disputes", "Scorecard", "Notes"]
KINDS = {"qty": "#,##0.0###", "money": "#,##0.00##", "date": "yyyy-mm-dd"}
KINDS |= {"datetime": "yyyy-mm-dd hh:mm", "int": "0", "percent": "0.00%", "hours": "0.00"}


@dataclass
class Card:
    code: str | None
    name: str
    tier: str
    orders: int
    lines: int
    ack_rate: float | None
    median_ack_hours: float | None
    on_time_rate: float | None
    fill_rate: float | None
    discrepancy_lines: int
    notice_ack_rate: float | None
    notice_response_rate: float | None
    invoice_match_rate: float | None = None


def orgs() -> list[OrgRecord]:
    return [
        OrgRecord(1, "DLR-001", "Beijing Motors", "Dealers/North", "D1"),
        OrgRecord(2, "=cmd", ODD[5], None, "D1"),
        OrgRecord(3, None, "No orders yet", None, "D1"),
    ]


def lines(n: int = 12) -> list[LineRecord]:
    at = datetime(2026, 10, 3, 1, 30, tzinfo=UTC)
    out = []
    for i in range(n):
        qty = Decimal("12.5") if i % 4 == 0 else Decimal(10 + i)
        price = Decimal("35.50") + i
        out.append(
            LineRecord(
                org_id=1 + i % 2, role="buyer", counterparty_code="OWN",
                counterparty_name="Owner Co", order_number=f"SO-{i // 3:04d}",
                order_date=date(2026, 10, 1 + i), order_status="acknowledged", bak02="AC",
                currency="CNY" if i % 5 else "USD", line_no=1 + i % 3, sku=f"P-{i:05d}",
                description=ODD[i % len(ODD)], unit="pcs", ordered_qty=qty, unit_price=price,
                requested_date=date(2026, 11, 1) if i % 2 else None, ack_status="accepted",
                ack01="IA", confirmed_qty=qty if i % 3 else qty - 1, confirmed_price=price,
                promised_date=date(2026, 11, 2), shipped_qty=qty, received_qty=qty,
                ack_due=at + timedelta(days=1), acked_at=at + timedelta(hours=i),
                reason="=obsolete" if i == 7 else None,
            )
        )  # fmt: skip
    return out


def disputes() -> list[DisputeRecord]:
    return [
        DisputeRecord(
            "DLR-001", "Beijing Motors", 7, "open", datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
            "SO-0000", 1, "qty", "12", "=1+1", "+ we counted 12", None, None,
        )
    ]  # fmt: skip


def meta(generated_at: datetime = NOW) -> WorkbookMeta:
    return WorkbookMeta(
        title="Reconciliation of tier D1", chain="Golden Star", tier="D1", period="2026-10",
        first_day=date(2026, 10, 1), last_day=date(2026, 10, 31), timezone="Asia/Shanghai",
        generated_at=generated_at.astimezone(TZ), revision=2, scope="D1 and its counterparties",
    )  # fmt: skip


def cards() -> list[Card]:
    return [
        Card("DLR-001", "Beijing Motors", "D1", 2, 6, 0.5, 4.25, None, 0.9873, 3, None, 1.0),
        Card(None, "=cmd", "D1", 0, 0, None, None, None, None, 0, None, None),
    ]


def tier_workbook(generated_at: datetime = NOW, n: int = 12) -> bytes:
    buffer = io.BytesIO()
    stats = write_reconciliation_workbook(
        buffer, meta(generated_at), orgs(), lines(n), TZ, NOW,
        statuses={1: StatementStatus("confirmed", datetime(2026, 11, 3, 8, 0, tzinfo=UTC))},
        disputes=disputes(), scorecards=cards(),
    )  # fmt: skip
    assert stats.rows == n and stats.orgs == 3
    return buffer.getvalue()


def statement_workbook() -> bytes:
    """A partner statement: one org, no Scorecard sheet."""
    buffer = io.BytesIO()
    one = [line for line in lines() if line.org_id == 1]
    write_reconciliation_workbook(buffer, meta(), orgs()[:1], one, TZ, NOW, disputes=disputes())
    return buffer.getvalue()


def header_and_rows(ws: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    rows = list(ws.iter_rows())
    header = [cell.value for cell in rows[0]]
    return header, [dict(zip(header, row, strict=False)) for row in rows[1:]]


def column_widths(ws: Any) -> dict[int, float]:
    """Width by column number (a <col> element may span several columns of one width)."""
    return {
        index: dimension.width
        for dimension in ws.column_dimensions.values()
        for index in range(dimension.min, dimension.max + 1)
    }


# --- read back with openpyxl --------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(tier_workbook()))


def test_sheets_headers_frozen_pane_and_filter(book):
    assert book.sheetnames == SHEETS
    specs = [SUMMARY_COLUMNS, LINE_COLUMNS, LINE_COLUMNS, DISPUTE_COLUMNS, SCORECARD_COLUMNS]
    for name, columns in zip(SHEETS, specs, strict=False):
        ws = book[name]
        header, rows = header_and_rows(ws)
        assert header == [column[0] for column in columns], name
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref == f"A1:{get_column_letter(len(columns))}{len(rows) + 1}", name
        first = ws["A1"]
        assert first.font.b and first.fill.fgColor.rgb == "FFDDE6F0", name
        widths = column_widths(ws)
        for index, column in enumerate(columns, start=1):
            assert column[1] <= widths[index] <= column[1] + 1, (name, column[0])
    assert len(header_and_rows(book["Lines"])[1]) == 12
    assert book["Notes"].freeze_panes is None


def test_numbers_dates_and_text_keep_their_types_and_formats(book):
    _, rows = header_and_rows(book["Lines"])
    by_header = {column[0]: column[2] for column in LINE_COLUMNS}
    seen_kinds = set()
    for row in rows:
        for header, cell in row.items():
            if cell.value is None:
                continue
            kind = by_header[header]
            seen_kinds.add(kind)
            if kind == "text":
                assert cell.data_type == "s" and cell.number_format == "General", header
            elif kind in ("date", "datetime"):
                assert cell.is_date and cell.number_format == KINDS[kind], header
                assert isinstance(cell.value, datetime), header
            else:
                assert cell.data_type == "n" and cell.number_format == KINDS[kind], header
                assert isinstance(cell.value, (int, float)), header
    assert seen_kinds == {"text", "date", "datetime", "int", "qty", "money"}
    first = rows[0]
    assert first["Ordered qty"].value == 12.5 and first["Unit price"].value == 35.5
    assert first["Ordered amount"].value == Decimal("443.75")
    assert first["Order date"].value == datetime(2026, 10, 1)
    # Local wall-clock time of the chain (UTC+8), to the minute.
    assert first["Ack due"].value == datetime(2026, 10, 4, 9, 30)
    assert rows[1]["Line"].value == 2 and isinstance(rows[1]["Line"].value, int)


def test_formula_like_text_stays_text_with_a_quote_and_no_link(book):
    texts = set()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)
                assert cell.hyperlink is None, (ws.title, cell.coordinate)
                if isinstance(cell.value, str):
                    texts.add(cell.value)
    assert {
        "'=SUM(A1:A9)",
        "'+86 spare",
        "'-40°C rated",
        "'@risk item",
        "'\tindented",
        '\'=HYPERLINK("http://evil.example","click")',
        "http://example.com/part",
        "007",
        "1e5",
        "'=obsolete",
        "'=cmd",
        "'=1+1",
        "'+ we counted 12",
    } <= texts


def test_summary_disputes_scorecard_and_notes(book):
    _, summary = header_and_rows(book["Summary"])
    values = [{k: c.value for k, c in row.items()} for row in summary]
    assert [(v["Org code"], v["Currency"]) for v in values] == [
        ("DLR-001", "CNY"),
        ("DLR-001", "USD"),
        ("'=cmd", "CNY"),
        ("'=cmd", "USD"),
        (None, None),
    ]
    assert values[0]["Statement status"] == "confirmed"
    assert values[0]["Confirmed at"] == datetime(2026, 11, 3, 16, 0)
    assert values[4]["Org name"] == "No orders yet" and values[4]["Orders"] == 0
    _, [dispute] = header_and_rows(book["Disputes"])
    assert dispute["Opened at"].value == datetime(2026, 11, 2, 11, 0)
    assert dispute["Line note"].value == "'=1+1" and dispute["Dispute"].value == 7
    _, scorecards = header_and_rows(book["Scorecard"])
    assert scorecards[0]["Ack rate"].number_format == "0.00%"
    assert scorecards[0]["Fill rate"].value == pytest.approx(0.9873)
    assert scorecards[0]["On-time rate"].value is None  # no data: no cell, never 0
    notes = {row[0]: row[1] for row in book["Notes"].iter_rows(values_only=True) if row}
    assert notes["Generated at"] == datetime(2026, 11, 5, 10, 0)
    assert notes["First day"] == datetime(2026, 10, 1) and notes["Revision"] == 2
    assert notes["Line rows"] == 12 and notes["QTY"].startswith("confirmed quantity")
    assert book["Notes"]["A1"].font.b


def test_a_statement_has_no_scorecard_sheet():
    statement = openpyxl.load_workbook(io.BytesIO(statement_workbook()))
    assert statement.sheetnames == ["Summary", "Lines", "Discrepancies", "Disputes", "Notes"]
    assert statement["Lines"].auto_filter.ref == "A1:AH7"


def test_the_template_reads_back_with_its_lists_and_text_columns():
    book = openpyxl.load_workbook(io.BytesIO(template.import_template()))
    data, help_sheet = book.worksheets
    assert list(data.iter_rows(values_only=True)) == [tuple(c.header for c in COLUMNS)]
    assert data.freeze_panes == "A2" and help_sheet.freeze_panes == "A2"
    assert data["A1"].font.b and data["A1"].fill.fgColor.rgb == "FFDDEBF7"
    validations = {str(dv.sqref): dv for dv in data.data_validations.dataValidation}
    kind = validations[f"B2:B{MAX_DATA_ROWS + 1}"]
    assert kind.type == "list" and kind.showErrorMessage and kind.allow_blank
    assert kind.formula1 == '"' + ",".join([*KIND_NAMES, *KIND_NAMES.values()]) + '"'
    assert kind.errorTitle == "Invalid kind"
    assert set(validations) == {f"B2:B{MAX_DATA_ROWS + 1}", f"I2:I{MAX_DATA_ROWS + 1}"}
    for letter in ("C", "G"):  # custom id and mobile: text, so codes keep their leading zeros
        assert data.column_dimensions[letter].number_format == "@"
    rules = [row[0] for row in help_sheet.iter_rows(values_only=True)]
    assert rules[len(COLUMNS) + 2] == "Rules" and help_sheet[f"A{len(COLUMNS) + 3}"].font.b
    assert help_sheet["E2"].alignment.wrap_text


# --- the same data, the same bytes ---------------------------------------------------------------


def test_the_same_data_gives_the_same_bytes():
    first = tier_workbook()
    time.sleep(1.1)  # a clock anywhere in the file would show by now
    assert tier_workbook() == first
    assert statement_workbook() == statement_workbook()
    other = tier_workbook(NOW + timedelta(minutes=1))
    assert other != first  # the time it was made for is in it (Notes, document properties)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 31, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert '<dcterms:created xsi:type="dcterms:W3CDTF">2026-11-05T02:00:00Z<' in core
    template.import_template.cache_clear()
    made = template.import_template()
    time.sleep(1.1)
    template.import_template.cache_clear()
    assert template.import_template() == made


# --- opened by LibreOffice ------------------------------------------------------------------------

# Tab-separated, UTF-8, every text cell quoted, cells as shown (with their number formats), every
# sheet to its own file.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):9,34,76,1,,0,true,true,true,false,false,-1"
_FIELD = re.compile(r'(?:"((?:[^"]|"")*)"|([^\t\n"]*))(\t|\n|$)')


def read_csv(path: Path) -> list[list[tuple[str, bool]]]:
    """Rows of (text, quoted): LibreOffice quotes text cells, never numbers."""
    content = path.read_text(encoding="utf-8")
    rows: list[list[tuple[str, bool]]] = [[]]
    for match in _FIELD.finditer(content):
        quoted, bare, end = match.groups()
        if match.start() == len(content):
            break
        rows[-1].append((quoted.replace('""', '"'), True) if quoted is not None else (bare, False))
        if end == "\n":
            rows.append([])
    return [row for row in rows if row]


@pytest.fixture(scope="module")
def libreoffice(tmp_path_factory) -> Path:
    """The tier workbook and the template converted by LibreOffice, once for the module."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("libreoffice")
    (folder / "tier.xlsx").write_bytes(tier_workbook())
    (folder / "template.xlsx").write_bytes(template.import_template())
    out = folder / "csv"
    command = [
        soffice,
        f"-env:UserInstallation={(folder / 'profile').as_uri()}",
        "--headless",
        "--convert-to",
        CSV_FILTER,
        "--outdir",
        str(out),
        str(folder / "tier.xlsx"),
        str(folder / "template.xlsx"),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return out


def test_libreoffice_sees_numbers_as_numbers_and_odd_text_as_text(libreoffice):
    header, *rows = read_csv(libreoffice / "tier-Lines.csv")
    assert all(quoted for _, quoted in header)
    assert [text for text, _ in header] == [column[0] for column in LINE_COLUMNS]
    assert len(rows) == 12
    kinds = [column[2] for column in LINE_COLUMNS]
    number = re.compile(r"-?[0-9][0-9,]*(\.[0-9]+)?")
    for row in rows:
        for (text, quoted), kind in zip(row, kinds, strict=False):
            if not text:
                continue
            if kind == "text":
                assert quoted, (kind, text)
            elif kind == "date":
                assert not quoted and re.fullmatch(r"\d{4}-\d\d-\d\d", text), text
            elif kind == "datetime":
                assert not quoted and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", text), text
            else:
                assert not quoted and number.fullmatch(text), (kind, text)
    values = {name: text for (name, _), (text, _) in zip(header, rows[0], strict=False)}
    assert values["Ordered qty"] == "12.5" and values["Ordered amount"] == "443.75"
    assert values["Unit price"] == "35.50" and values["Order date"] == "2026-10-01"
    assert values["Description"] == "'=SUM(A1:A9)"  # shown as typed, never computed
    descriptions = {row[14][0] for row in rows}
    assert {"'=SUM(A1:A9)", "'+86 spare", "007", "1e5", "'\tindented"} <= descriptions
    assert all(row[14][1] for row in rows)  # every description quoted: text


def test_libreoffice_reads_every_sheet_and_the_template(libreoffice):
    for name in SHEETS:
        assert (libreoffice / f"tier-{name}.csv").exists(), name
    summary = read_csv(libreoffice / "tier-Summary.csv")
    orders, quoted = summary[1][5]
    assert orders.isdigit() and not quoted
    assert summary[3][1] == ('\'=HYPERLINK("http://evil.example","click")', True)
    instructions = read_csv(libreoffice / "template-Instructions.csv")
    assert instructions[1][0] == ("company name", True)


# --- the row stream and xlsxwriter's own calls ------------------------------------------------


def every_cell(data: bytes) -> dict[tuple[str, str], tuple[Any, str, str]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {
        (ws.title, cell.coordinate): (cell.value, cell.data_type, cell.number_format)
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if cell.value is not None
    }


def test_the_row_stream_writes_what_xlsxwriters_own_calls_write(monkeypatch):
    streamed = tier_workbook()
    monkeypatch.setattr(writer, "_INTERNALS", ("an_attribute_xlsxwriter_lacks",))
    called = tier_workbook()
    assert every_cell(streamed) == every_cell(called)
    assert len(every_cell(streamed)) > 500


def test_text_is_escaped_for_xml_and_for_spreadsheets_alike(monkeypatch):
    odd = [
        'a & b <c> "d"',
        "  leading and trailing  ",
        "_x0041_ stays as typed",
        "line\nbreak",
        "carriage\rreturn",
        "bell\x07removed",
        "中文 名称",
        "=1+1",
    ]
    records = lines(len(odd))
    for record, text in zip(records, odd, strict=True):
        record.description = text
    monkeypatch.setattr(sys.modules[__name__], "lines", lambda n=12: records)
    streamed = tier_workbook(n=len(odd))
    monkeypatch.setattr(writer, "_INTERNALS", ("an_attribute_xlsxwriter_lacks",))
    called = tier_workbook(n=len(odd))
    for data in (streamed, called):
        # calamine reads the _xHHHH_ escapes as Excel does (openpyxl shows them as written).
        with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
            rows = book.get_sheet_by_name("Lines").to_python()
        assert [row[14] for row in rows[1:]] == [
            'a & b <c> "d"',
            "  leading and trailing  ",
            "_x0041_ stays as typed",
            "line\nbreak",
            "carriage\rreturn",
            "bellremoved",
            "中文 名称",
            "'=1+1",
        ]


def both_paths(monkeypatch, records) -> tuple[bytes, bytes]:
    """The tier workbook of `records` by the row stream, then by xlsxwriter's own calls."""
    monkeypatch.setattr(sys.modules[__name__], "lines", lambda n=12: records)
    streamed = tier_workbook(n=len(records))
    monkeypatch.setattr(writer, "_INTERNALS", ("an_attribute_xlsxwriter_lacks",))
    return streamed, tier_workbook(n=len(records))


def test_text_longer_than_a_cell_is_cut_on_both_paths(monkeypatch):
    # Excel holds 32767 UTF-16 units in a cell (an emoji is two); past that it "repairs" the file.
    records = lines(3)
    texts = ["a" * 40000, "😀" * 20000, "中" * 32767]
    for record, text in zip(records, texts, strict=True):
        record.description = text
    for data in both_paths(monkeypatch, records):
        ws = openpyxl.load_workbook(io.BytesIO(data))["Lines"]
        cut = [row[14] for row in ws.iter_rows(min_row=2, values_only=True)]
        assert cut == ["a" * 32766 + "…", "😀" * 16383 + "…", "中" * 32767]


def test_figures_past_15_digits_are_listed_on_both_paths(monkeypatch):
    records = lines(3)
    records[1].ordered_qty = Decimal("99999999999999.9999")  # 18 digits: Excel shows 1E+14
    records[2].unit_price = Decimal("12345678901.2345")  # 15 digits: exact
    for data in both_paths(monkeypatch, records):
        notes = openpyxl.load_workbook(io.BytesIO(data))["Notes"]
        found = {row[0]: row[1] for row in notes.iter_rows(values_only=True) if row[0]}
        # The quantity in Lines and in Discrepancies (its confirmed quantity differs); its
        # amount (3650000000000000.00) and the 15-digit price are exact.
        assert found["Rounded figures"] == (
            "2 figures have more than the 15 significant digits Excel keeps and show rounded "
            "(Lines!Q3, Discrepancies!Q3); the statement's JSON view has them exact."
        )
