"""A reviewer's hostile input through the API, read back from the documents it reaches: the
statement workbook (openpyxl and calamine, as Excel reads it) with times and dates at the edges
of what Excel can show, prices with four decimals, and figures past Excel's 15 digits."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
from python_calamine import CalamineWorkbook

from tests.api.test_statements import _grant
from tests.conftest import this_period

PERIOD = this_period()


def _order(w, party, number, lines, **extra):
    body = {"counterparty_id": w.owner.org_id, "issuer_role": "buyer", "number": number}
    r = w.api.post(w.path("/orders"), {**body, "lines": lines, **extra}, token=party.token)
    assert r.status_code == 201, r.text
    return r.json()


def _statement(w, party) -> bytes:
    r = w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=party.token)
    assert r.status_code == 200, r.text
    return r.content


def _lines_sheet(data: bytes) -> list[dict]:
    ws = openpyxl.load_workbook(io.BytesIO(data))["Lines"]
    rows = list(ws.iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def _granted(world):
    _grant(world, "orders", {"type": "all"})
    _grant(world, "reconciliation", {"type": "tier", "value": "D1"})
    return world


def test_an_ack_due_past_year_9999_in_the_chains_zone_still_gives_the_statement(world):
    # 9999-12-31T23:00Z is accepted (in the future, within UTC's years) but is in year 10000 in
    # Shanghai: the statement was a 500 (OverflowError converting it for the Ack due cell).
    w = _granted(world)
    d1a = w.parties["D1a"]
    line = {"line_no": 1, "sku": "A", "qty": "1", "unit_price": "1.00"}
    _order(w, d1a, "PO-FAR", [line], ack_due="9999-12-31T23:00:00Z")
    [row] = _lines_sheet(_statement(w, d1a))
    # The last moment Excel shows, in a date-time cell.
    assert row["Ack due"].value == datetime(9999, 12, 31, 23, 59, 59)
    assert row["Ack due"].is_date and row["Ack due"].number_format == "yyyy-mm-dd hh:mm"


def test_a_day_before_1900_is_text_not_a_broken_date_cell(world):
    # Excel's dates start in 1900: 0001-01-01 was written as the serial -693594, which Excel shows
    # as ##### and openpyxl refuses to read ("outside the limits for dates").
    w = _granted(world)
    d1a = w.parties["D1a"]
    lines = [
        {"line_no": 1, "sku": "A", "qty": "1", "unit_price": "1.00", "requested_date": day}
        for day in ("0001-01-01",)
    ] + [
        {"line_no": 2, "sku": "B", "qty": "1", "unit_price": "1.00", "requested_date": "1900-01-01"}
    ]
    _order(w, d1a, "PO-OLD", lines)
    data = _statement(w, d1a)
    first, second = _lines_sheet(data)
    assert first["Requested date"].value == "0001-01-01"
    assert first["Requested date"].data_type == "s"
    assert second["Requested date"].value == datetime(1900, 1, 1)
    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
        rows = book.get_sheet_by_name("Lines").to_python()
    column = rows[0].index("Requested date")
    assert [row[column] for row in rows[1:]] == ["0001-01-01", datetime(1900, 1, 1).date()]


def _places_shown(number_format: str) -> int:
    """How many decimal places a format like `#,##0.00##` can show."""
    return len(number_format.partition(".")[2])


def test_prices_with_four_decimals_show_all_four(world):
    # The API takes prices with four decimals; the money format `#,##0.00` showed 0.0125 as
    # 0.01 next to an ordered amount of 12.50 for 1000 pieces.
    w = _granted(world)
    d1a = w.parties["D1a"]
    lines = [{"line_no": 1, "sku": "SCREW", "qty": "1000", "unit_price": "0.0125"}]
    po = _order(w, d1a, "PO-SCREWS", lines)
    r = w.api.post(
        w.path(f"/orders/{po['id']}/ack"),
        {"version": 1, "decision": "lines",
         "lines": [{"line_no": 1, "status": "changed", "qty": "1000", "unit_price": "0.0175"}]},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    [row] = _lines_sheet(_statement(w, d1a))
    for column, price in (("Unit price", "0.0125"), ("Confirmed price", "0.0175")):
        cell = row[column]
        assert cell.data_type == "n" and str(cell.value) == price
        assert _places_shown(cell.number_format) >= 4, (column, cell.number_format)
    # Amounts keep two places at least.
    assert row["Ordered amount"].value == 12.5
    assert row["Ordered amount"].number_format.startswith("#,##0.00")


def test_figures_past_excels_15_digits_are_named_in_the_notes(world):
    # The API takes 14 integer digits and 4 decimals (18 significant digits); Excel keeps 15. A
    # quantity of 99999999999999.9999 showed as 100,000,000,000,000.0 without a word.
    w = _granted(world)
    d1a = w.parties["D1a"]
    lines = [
        {"line_no": 1, "sku": "BULK", "qty": "99999999999999.9999", "unit_price": "0.01"},
        {"line_no": 2, "sku": "FINE", "qty": "99999999999.9999", "unit_price": "0.01"},
    ]
    _order(w, d1a, "PO-HUGE", lines)
    data = _statement(w, d1a)
    book = openpyxl.load_workbook(io.BytesIO(data))
    huge, fine = _lines_sheet(data)
    # Still numbers (API.md: numbers as numbers).
    assert huge["Ordered qty"].data_type == "n" and fine["Ordered qty"].data_type == "n"
    assert fine["Ordered qty"].value == 99999999999.9999  # 15 digits: exact
    notes = {row[0]: row[1] for row in book["Notes"].iter_rows(values_only=True) if row[0]}
    note = notes["Rounded figures"]
    assert note.startswith("2 figures have more than the 15 significant digits Excel keeps")
    # The quantity, in Lines and in Discrepancies (the line is not acknowledged); the amount
    # (1000000000000.00, 13 digits) is exact.
    assert "(Lines!Q2, Discrepancies!Q2)" in note


def test_a_statement_of_ordinary_figures_has_no_rounding_note(world):
    w = _granted(world)
    d1a = w.parties["D1a"]
    _order(w, d1a, "PO-1", [{"line_no": 1, "sku": "A", "qty": "12.5", "unit_price": "9.99"}])
    book = openpyxl.load_workbook(io.BytesIO(_statement(w, d1a)))
    assert "Rounded figures" not in [row[0] for row in book["Notes"].iter_rows(values_only=True)]
