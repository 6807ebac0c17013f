"""A reviewer's hostile input through the API into the tier workbook (a run, committed): text
longer than a spreadsheet cell holds."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.api.test_invoices import created, invoice, line, po
from tests.conftest import this_period

PERIOD = this_period()
# A run commits in sessions of its own, which must see what the test made.
pytestmark = pytest.mark.committed
# What Excel holds in one cell; a longer one makes it "repair" the file, dropping the cell.
CELL_LIMIT = 32767


def test_exceptions_longer_than_a_cell_are_cut_to_fit(world):
    # An invoice of 350 lines, each over-invoiced at another price, has 700 exceptions: their
    # text (~40 000 characters) went into one Exceptions cell as it was.
    w = world.share_app("orders").share_app("reconciliation")
    n = 350
    order = po(w, "PO-BIG", [(10, "10")] * n)
    body = created(invoice(w, "INV-BIG", [line(order, i + 1, 11, "12") for i in range(n)]))
    assert len(body["match"]["exceptions"]) == 2 * n
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "U1", "period": PERIOD}, token=w.owner.token
    )
    assert r.status_code == 201, r.text
    f = w.api.get(w.path(f"/reconciliation/runs/{r.json()['id']}/file"), token=w.owner.token)
    assert f.status_code == 200, f.text
    ws = openpyxl.load_workbook(io.BytesIO(f.content))["Invoices"]
    rows = list(ws.iter_rows(values_only=True))
    [row] = [dict(zip(rows[0], values, strict=True)) for values in rows[1:]]
    text = row["Exceptions"]
    assert len(text) == CELL_LIMIT
    assert text.startswith("line 1: received_qty_variance (expected 10, actual 11); ")
    assert text.endswith("…")  # says it was cut
