"""What other features show of invoices: the tier workbook's Invoices sheet read back with
openpyxl, scorecards' invoice_match_rate, the owner's board counts."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.api.test_invoices import TODAY, confirm_s1, created, from_statement, invoice, line, po
from tests.conftest import this_period

PERIOD = this_period()
# A run commits in sessions of its own, which must see what the test made.
pytestmark = pytest.mark.committed


@pytest.fixture
def inv(world):
    world.share_app("orders").share_app("reconciliation")
    return world


def test_workbook_invoices_sheet(inv):
    w = inv
    order = po(w, "PO-1", [(10, "12.50"), (5, "3")])
    confirm_s1(w)
    tied = created(from_statement(w, '=HYPERLINK("http://x")'))
    held = created(invoice(w, "+INV-2", [line(order, 1, 1, "20")]))
    r = w.api.post(w.path(f"/invoices/{tied['id']}/approve"), {"note": "@ok"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "U1", "period": PERIOD}, token=w.owner.token
    )
    assert r.status_code == 201, r.text
    f = w.api.get(w.path(f"/reconciliation/runs/{r.json()['id']}/file"), token=w.owner.token)
    book = openpyxl.load_workbook(io.BytesIO(f.content))
    assert "Invoices" in book.sheetnames
    ws = book["Invoices"]
    assert ws.freeze_panes == "A2"
    rows = list(ws.iter_rows(values_only=True))
    header, body = rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert header[:4] == ("Seller", "Buyer", "Invoice number", "Kind")
    by_number = {row["Invoice number"]: row for row in body}
    assert set(by_number) == {'\'=HYPERLINK("http://x")', "'+INV-2"}
    first = by_number['\'=HYPERLINK("http://x")']
    assert first["Seller"] == "Steel Works" and first["Buyer"] == "Acme Motors"
    assert (first["Net"], first["Tax"], first["Gross"]) == (140, 18.2, 158.2)
    assert isinstance(first["Net"], int | float) and first["Status"] == "approved"
    assert first["Match"] == "matched" and first["Exceptions"] is None
    assert first["Decision note"] == "'@ok" and first["Statement period"] == PERIOD
    assert first["Issue date"].date().isoformat() == TODAY
    second = by_number["'+INV-2"]
    assert second["Status"] == "submitted" and second["Match"] == "exceptions"
    assert second["Exceptions"] == (
        "line 1: received_qty_variance (expected 10, actual 11); "
        "line 1: price_variance (expected 12.50, actual 20.00)"
    )
    assert held["match"]["status"] == "exceptions"
    # The Scorecard sheet has the rate: 1 of 2 of S1's invoices matched.
    card = list(book["Scorecard"].iter_rows(values_only=True))
    figures = dict(zip(card[0], card[1], strict=True))
    assert figures["Invoice match rate"] == 0.5


def test_scorecards_and_board(inv):
    w = inv
    cards = w.api.get(w.path(f"/scorecards?period={PERIOD}"), token=w.owner.token).json()["items"]
    assert {c["name"]: c["invoice_match_rate"] for c in cards}["Steel Works"] is None
    order = po(w, "PO-1", [(10, "10"), (10, "10")])
    created(invoice(w, "INV-1", [line(order, 1, 10, "10")]))
    bad = created(invoice(w, "INV-2", [line(order, 2, 10, "12")]))
    created(invoice(w, "INV-3", [line(order, 1, 1, "10")]))  # past received
    cards = w.api.get(w.path(f"/scorecards?period={PERIOD}"), token=w.owner.token).json()["items"]
    rates = {c["name"]: c["invoice_match_rate"] for c in cards}
    assert rates["Steel Works"] == "0.3333" and rates["Beijing Motors Sales"] is None
    w.api.post(w.path(f"/invoices/{bad['id']}/reject"), {"note": "price"}, token=w.owner.token)
    board = w.api.get(
        w.path(f"/reconciliation/statements?period={PERIOD}&tier=U1"), token=w.owner.token
    ).json()
    [row] = board["items"]
    assert row["invoices"] == {"submitted": 2, "rejected": 1}
    year = w.api.get(w.path(f"/scorecards?period={PERIOD[:4]}"), token=w.owner.token).json()
    assert {c["name"]: c["invoice_match_rate"] for c in year["items"]}["Steel Works"] == "0.3333"
