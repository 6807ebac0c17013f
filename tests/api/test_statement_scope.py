"""A statement's scope (API.md "Statements"): an org's orders of the period with its counterparty
one tier nearer the core, the lines its tier's workbook lists for it. An org of D2 that buys from
D1 and sells to D3 has only its D1 orders in its statement (JSON, xlsx, version, disputes,
board); its D3 orders are its D3 customer's statement. An org in no upstream or downstream tier
(the core, an unlinked org) has an empty statement that says why."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.api.test_statements import JSON, PERIOD, _board, _confirm, _dispute, _grant, _lines
from tests.conftest import Party, activate, add_member

PO_UP, PO_DOWN, PO_CORE = "PO-UP-1", "PO-DOWN-1", "PO-A-1"


def _issue(w, buyer: Party, seller_id: str, number: str, n: int) -> dict:
    r = w.api.post(
        w.path("/orders"),
        {"counterparty_id": seller_id, "issuer_role": "buyer", "number": number,
         "lines": _lines(n)},
        token=buyer.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


def _link(w, supplier_id: str, customer_id: str) -> str:
    r = w.api.post(
        w.path("/links"), {"supplier_id": supplier_id, "customer_id": customer_id},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _new_partner(w, name: str, code: str, email: str) -> Party:
    member = add_member(w.api, w.owner, w.chain_id, name, "dealer", code, None, email)
    token = activate(w.api, member["contacts"][0]["invite_code"])
    return Party(token, member["contacts"][0]["user_id"], member["org_id"], email)


@pytest.fixture
def trading(world):
    return trading_chain(world)


def trading_chain(world):
    """D2 buys from D1a (its D1 supplier) and sells to D3, a retailer under it; D1a buys from
    the owner. Orders and reconciliation are shared with every partner."""
    w = world
    _grant(w, "orders", {"type": "all"})
    _grant(w, "reconciliation", {"type": "all"})
    d1a, d2 = w.parties["D1a"], w.parties["D2"]
    d3 = _new_partner(w, "Tangshan Retail", "DLR-201", "d3@ts.example")
    w.parties["D3"] = d3
    w.extra = {"down_link": _link(w, d2.org_id, d3.org_id)}
    w.extra["core"] = _issue(w, d1a, w.owner.org_id, PO_CORE, 1)
    w.extra["up"] = _issue(w, d2, d1a.org_id, PO_UP, 2)
    w.extra["down"] = _issue(w, d3, d2.org_id, PO_DOWN, 1)
    return w


def _view(w, org_id: str, token: str | None = None) -> dict:
    r = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={org_id}"),
        token=token or w.owner.token,
        headers=JSON,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _keys(view: dict) -> list[tuple[str, int, str]]:
    return [(x["order_number"], x["line_no"], x["role"]) for x in view["lines"]]


def _ack(w, order: dict, by: Party) -> None:
    r = w.api.post(
        w.path(f"/orders/{order['id']}/ack"), {"version": order["version"], "decision": "accept"},
        token=by.token,
    )  # fmt: skip
    assert r.status_code == 200, r.text


def _sheet_rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _xlsx(w, org_id: str, token: str | None = None):
    r = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={org_id}"),
        token=token or w.owner.token,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    return openpyxl.load_workbook(io.BytesIO(r.content))


def _covers(wb) -> str:
    return next(value for label, value, *_ in wb["Notes"].iter_rows(values_only=True)
                if label == "Covers")  # fmt: skip


def test_an_org_trading_both_ways_has_only_its_orders_nearer_the_core(trading):
    w = trading
    d1a, d2, d3 = w.parties["D1a"], w.parties["D2"], w.parties["D3"]
    mine = _view(w, d2.org_id, token=d2.token)
    assert _keys(mine) == [(PO_UP, 1, "buyer"), (PO_UP, 2, "buyer")]
    assert (mine["tier"], mine["counterparty_tier"]) == ("D2", "D1")
    assert "(D1)" in mine["scope"] and "tier D2" in mine["scope"]
    assert mine["totals"]["ordered"] == "250.00"
    # Its sale to D3 is D3's statement; D1a's holds its order with the owner, not D2's purchase.
    theirs = _view(w, d3.org_id)
    assert _keys(theirs) == [(PO_DOWN, 1, "buyer")]
    assert (theirs["tier"], theirs["counterparty_tier"]) == ("D3", "D2")
    assert _keys(_view(w, d1a.org_id)) == [(PO_CORE, 1, "buyer")]
    assert _view(w, d1a.org_id)["counterparty_tier"] == "core"
    # The xlsx statement holds the same lines and says what it covers.
    wb = _xlsx(w, d2.org_id, token=d2.token)
    lines = _sheet_rows(wb["Lines"])
    assert [(r["Org code"], r["Order no."], r["Line"], r["Role"]) for r in lines] == [
        ("DLR-101", PO_UP, 1, "buyer"),
        ("DLR-101", PO_UP, 2, "buyer"),
    ]
    assert "(D1)" in _covers(wb) and "farther from the core" in _covers(wb)
    (summary,) = _sheet_rows(wb["Summary"])
    assert summary["Org code"] == "DLR-101" and summary["Lines"] == 2
    # The board's version of each org is its statement's.
    board = {i["org_id"]: i for i in _board(w, w.owner.token)["items"]}
    for party in (d1a, d2, d3):
        assert board[party.org_id]["version"] == _view(w, party.org_id)["version"]


def test_its_version_moves_with_its_own_orders_only(trading):
    w = trading
    d1a, d2, d3 = w.parties["D1a"], w.parties["D2"], w.parties["D3"]
    seen = _view(w, d2.org_id, token=d2.token)
    assert _confirm(w, d2, seen["version"]).status_code == 200
    d3_before = _view(w, d3.org_id)["version"]
    # D2 accepts D3's order: D3's statement changes, D2's does not.
    _ack(w, w.extra["down"], d2)
    after = _view(w, d2.org_id, token=d2.token)
    assert (after["version"], after["status"]) == (seen["version"], "confirmed")
    assert _view(w, d3.org_id)["version"] != d3_before
    board = {i["org_id"]: i for i in _board(w, w.owner.token)["items"]}
    assert board[d2.org_id]["status"] == "confirmed"
    # D1a accepts D2's purchase: that is D2's statement, which reads `changed`.
    _ack(w, w.extra["up"], d1a)
    now = _view(w, d2.org_id, token=d2.token)
    assert now["version"] != seen["version"] and now["status"] == "changed"
    assert {(c["order_number"], c["field"]) for c in now["changes"]} >= {(PO_UP, "ack_status")}
    board = {i["org_id"]: i for i in _board(w, w.owner.token)["items"]}
    assert board[d2.org_id]["status"] == "changed"
    assert board[d2.org_id]["version"] == now["version"]


def test_a_dispute_on_a_line_outside_the_scope_is_422_and_changes_nothing(trading):
    w = trading
    d2 = w.parties["D2"]
    version = _view(w, d2.org_id, token=d2.token)["version"]
    refused = _dispute(
        w, d2, version,
        [{"order_number": PO_UP, "line_no": 1, "field": "qty", "note": "ours"},
         {"order_number": PO_DOWN, "line_no": 1, "field": "qty", "note": "D3's statement"}],
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]["lines"]
    assert set(errors) == {"1"} and PO_DOWN in str(errors["1"]["line_no"])
    view = _view(w, d2.org_id, token=d2.token)
    assert view["status"] == "open" and view["disputes"] == []
    ok = _dispute(w, d2, version, [{"order_number": PO_UP, "line_no": 2, "field": "price",
                                    "expected": "12.00", "note": "Agreed price"}])  # fmt: skip
    assert ok.status_code == 201, ok.text
    assert _view(w, d2.org_id)["status"] == "disputed"


def test_an_org_in_no_reconcilable_tier_has_an_empty_statement_that_says_why(trading):
    w = trading
    d2, d3 = w.parties["D2"], w.parties["D3"]
    # The core: no counterparty nearer than itself (the owner's own statement, as JSON and xlsx).
    core = _view(w, w.owner.org_id)
    assert (core["tier"], core["counterparty_tier"], core["lines"]) == ("core", None, [])
    assert core["totals"]["ordered"] == "0.00" and "no lines" in core["scope"]
    wb = _xlsx(w, w.owner.org_id)
    assert _sheet_rows(wb["Lines"]) == [] and "no lines" in _covers(wb)
    # A member never linked.
    loose = _new_partner(w, "Loose Ends Trading", "DLR-900", "loose@le.example")
    alone = _view(w, loose.org_id, token=loose.token)
    assert (alone["tier"], alone["counterparty_tier"], alone["lines"]) == ("unlinked", None, [])
    # An org whose link is removed keeps its orders, but no tier: its statement empties (as no
    # tier workbook lists them any longer), and its supplier's statement is unchanged.
    d2_before = _view(w, d2.org_id)["version"]
    r = w.api.delete(w.path(f"/links/{w.extra['down_link']}"), token=w.owner.token)
    assert r.status_code == 204, r.text
    gone = _view(w, d3.org_id, token=d3.token)
    assert (gone["tier"], gone["lines"]) == ("unlinked", [])
    assert _keys(_view(w, d2.org_id)) == [(PO_UP, 1, "buyer"), (PO_UP, 2, "buyer")]
    assert _view(w, d2.org_id)["version"] == d2_before
    assert d3.org_id not in {i["org_id"] for i in _board(w, w.owner.token)["items"]}
