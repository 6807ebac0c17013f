"""Supplier invoices (开票) through the API: exact amounts, the three-way match (received
quantity, price tolerance, tax, unknown lines, a statement changed since), from-statement,
approval and rejection, events, isolation and every bad input of the issue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import Order
from tests.conftest import this_period

PERIOD = this_period()
JSON = {"Accept": "application/json"}
TODAY = "2026-12-01"


@pytest.fixture
def inv(world):
    """S1 (U1) sells to the owner; every partner has the orders and reconciliation apps."""
    w = world
    w.share_app("orders").share_app("reconciliation")
    return w


def po(w, number, lines, receive=True):
    """The owner orders from S1; S1 accepts and ships all; the owner receives `receive` (True:
    all; a list: per line)."""
    body = {
        "counterparty_id": w.parties["S1"].org_id,
        "issuer_role": "buyer",
        "number": number,
        "lines": [
            {"line_no": i + 1, "sku": f"SKU-{i + 1}", "qty": str(q), "unit_price": str(p)}
            for i, (q, p) in enumerate(lines)
        ],
    }
    r = w.api.post(w.path("/orders"), body, token=w.owner.token)
    assert r.status_code == 201, r.text
    order = r.json()
    s1 = w.parties["S1"]
    r = w.api.post(
        w.path(f"/orders/{order['id']}/ack"), {"version": 1, "decision": "accept"}, token=s1.token
    )
    assert r.status_code == 200, r.text
    moves = [{"line_no": i + 1, "qty": str(q)} for i, (q, _) in enumerate(lines)]
    r = w.api.post(w.path(f"/orders/{order['id']}/shipments"), {"lines": moves}, token=s1.token)
    assert r.status_code == 201, r.text
    if receive:
        got = moves if receive is True else [
            {"line_no": i + 1, "qty": str(q)} for i, q in enumerate(receive) if q
        ]  # fmt: skip
        r = w.api.post(
            w.path(f"/orders/{order['id']}/receipts"), {"lines": got}, token=w.owner.token
        )
        assert r.status_code == 201, r.text
    return order


def receive(w, order, line_no, qty):
    r = w.api.post(
        w.path(f"/orders/{order['id']}/receipts"),
        {"lines": [{"line_no": line_no, "qty": str(qty)}]},
        token=w.owner.token,
    )
    assert r.status_code == 201, r.text


def confirm_s1(w):
    s1 = w.parties["S1"]
    r = w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=s1.token, headers=JSON)
    assert r.status_code == 200, r.text
    r = w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/confirm"),
        {"version": r.json()["version"]},
        token=s1.token,
    )
    assert r.status_code == 200, r.text
    return r.json()


def invoice(w, number, lines, party=None, **extra):
    body = {
        "buyer_id": w.owner.org_id,
        "number": number,
        "kind": "vat_special",
        "issue_date": TODAY,
        "lines": lines,
        **extra,
    }
    return w.api.post(w.path("/invoices"), body, token=(party or w.parties["S1"]).token)


def line(order, line_no, qty, price, rate="0.13", **extra):
    return {
        "order_id": order["id"],
        "line_no": line_no,
        "qty": str(qty),
        "unit_price": str(price),
        "tax_rate": rate,
        **extra,
    }


def created(r):
    assert r.status_code == 201, r.text
    return r.json()


def kinds(body):
    return [(e["line"], e["kind"], e["expected"], e["actual"]) for e in body["match"]["exceptions"]]


def from_statement(w, number, party=None, **extra):
    body = {"period": PERIOD, "number": number, "kind": "vat_special", "issue_date": TODAY}
    return w.api.post(
        w.path("/invoices/from-statement"), body | extra, token=(party or w.parties["S1"]).token
    )


def test_exact_amounts_rounded_half_up_per_line(inv):
    w = inv
    order = po(w, "PO-1", [(3, "0.3333"), (1, "0.045"), (7, "19.99")])
    body = created(
        invoice(
            w,
            "INV-1",
            [
                line(order, 1, 3, "0.3333"),  # net 0.9999 -> 1.00, tax 0.13
                line(order, 2, 1, "0.045"),  # net 0.045 -> 0.05 (half up), tax 0.0065 -> 0.01
                line(order, 3, 7, "19.99", "0.09"),  # net 139.93, tax 12.5937 -> 12.59
            ],
        )
    )
    assert [(x["net"], x["tax"]) for x in body["lines"]] == [
        ("1.00", "0.13"),
        ("0.05", "0.01"),
        ("139.93", "12.59"),
    ]
    assert (body["net"], body["tax"], body["gross"]) == ("140.98", "12.73", "153.71")
    assert body["status"] == "submitted" and body["match"] == {
        "status": "matched",
        "exceptions": [],
    }
    assert body["lines"][0]["order_number"] == "PO-1" and body["lines"][0]["sku"] == "SKU-1"
    again = w.api.get(w.path(f"/invoices/{body['id']}"), token=w.owner.token).json()
    assert (again["net"], again["tax"], again["gross"]) == ("140.98", "12.73", "153.71")


def test_tax_as_printed_off_by_more_than_a_cent(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    body = created(invoice(w, "INV-1", [line(order, 1, 10, "10", tax="13.02")]))
    assert kinds(body) == [(0, "tax_variance", "13.00", "13.02")]
    ok = created(invoice(w, "INV-2", [line(order, 1, 0.0001, "10", tax="0.01")]))
    assert all(k != "tax_variance" for _, k, _, _ in kinds(ok))


def test_partial_invoicing_reaches_then_passes_received(inv):
    w = inv
    order = po(w, "PO-1", [(100, "5")], receive=[80])
    a = created(invoice(w, "INV-A", [line(order, 1, 50, "5")]))
    b = created(invoice(w, "INV-B", [line(order, 1, 30, "5")]))
    assert a["match"]["status"] == b["match"]["status"] == "matched"
    c = created(invoice(w, "INV-C", [line(order, 1, "0.5", "5")]))
    assert kinds(c) == [(0, "received_qty_variance", "80", "80.5")]
    # The earlier invoices still match: each counts what came before it.
    assert (
        w.api.get(w.path(f"/invoices/{a['id']}"), token=w.owner.token).json()["match"]["status"]
        == "matched"
    )
    # More arrives: C matches now (the match is computed when read).
    receive(w, order, 1, 1)
    assert w.api.get(w.path(f"/invoices/{c['id']}"), token=w.owner.token).json()["match"] == {
        "status": "matched",
        "exceptions": [],
    }


def test_price_tolerance(inv):
    w = inv
    r = w.api.put(
        w.path("/invoice-settings"),
        {"price_tolerance_pct": "2", "amount_tolerance": "0", "default_tax_rate": "0.13"},
        token=w.owner.token,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "price_tolerance_pct": "2",
        "amount_tolerance": "0.00",
        "default_tax_rate": "0.13",
    }
    order = po(w, "PO-1", [(10, "100"), (10, "100")])
    above = created(invoice(w, "INV-1", [line(order, 1, 10, "103")]))
    assert kinds(above) == [(0, "price_variance", "100.00", "103.00")]
    within = created(invoice(w, "INV-2", [line(order, 2, 10, "101.99")]))
    assert within["match"]["status"] == "matched"
    # An amount tolerance of 30.00 on the line (3.00 x 10) lets 103 pass too.
    w.api.put(
        w.path("/invoice-settings"),
        {"price_tolerance_pct": "2", "amount_tolerance": "30", "default_tax_rate": "0.13"},
        token=w.owner.token,
    )
    assert (
        w.api.get(w.path(f"/invoices/{above['id']}"), token=w.owner.token).json()["match"]["status"]
        == "matched"
    )


def test_from_statement_and_a_late_receipt(inv):
    w = inv
    order = po(w, "PO-1", [(10, "12.50"), (4, "3")], receive=[6, 4])
    # Not confirmed yet: 409, nothing recorded.
    r = from_statement(w, "INV-1")
    assert r.status_code == 409, r.text
    assert "period" in r.json()["errors"]
    view = confirm_s1(w)
    body = created(from_statement(w, "INV-1", tax_rate="0.09"))
    assert [(x["line_no"], x["qty"], x["unit_price"], x["tax_rate"]) for x in body["lines"]] == [
        (1, "6", "12.50", "0.09"),
        (2, "4", "3.00", "0.09"),
    ]
    assert body["statement_period"] == PERIOD
    assert body["statement_version"] == view["version"]
    assert (body["net"], body["tax"], body["gross"]) == ("87.00", "7.83", "94.83")
    assert body["match"]["status"] == "matched"
    # Everything received is invoiced: nothing is left.
    assert from_statement(w, "INV-2").status_code == 409
    # A late receipt changes the confirmed statement: the invoice shows it.
    receive(w, order, 1, 4)
    again = w.api.get(w.path(f"/invoices/{body['id']}"), token=w.parties["S1"].token).json()
    [(where, kind, expected, actual)] = kinds(again)
    assert (where, kind, expected) == (None, "statement_changed", view["version"])
    assert actual != view["version"]
    # Confirmed again, the rest is invoiced in a second invoice at the chain's rate (13 %).
    confirm_s1(w)
    second = created(from_statement(w, "INV-2"))
    assert [(x["line_no"], x["qty"], x["tax_rate"]) for x in second["lines"]] == [(1, "4", "0.13")]
    assert second["match"]["status"] == "matched"


def test_the_statement_json_shows_what_is_invoiced(inv):
    w = inv
    order = po(w, "PO-1", [(10, "12.50")])
    confirm_s1(w)
    body = created(invoice(w, "INV-1", [line(order, 1, 4, "12.50")], statement_period=PERIOD))
    view = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}"), token=w.parties["S1"].token, headers=JSON
    ).json()
    assert view["lines"][0]["invoiced_qty"] == "4"
    assert [(i["id"], i["number"], i["status"]) for i in view["invoices"]] == [
        (body["id"], "INV-1", "submitted")
    ]


def backdate(app, order, months=1):
    """Date an order in the middle of an earlier month: out of this period's statements."""
    year, month = (int(x) for x in PERIOD.split("-"))
    month -= months
    while month < 1:
        year, month = year - 1, month + 12
    with app.app_context():
        db.session.execute(
            update(Order)
            .where(Order.id == int(order["id"]))
            .values(created_at=datetime(year, month, 15, 4, tzinfo=UTC))
        )
        db.session.commit()


def test_an_invoice_tied_to_a_statement_holds_only_its_lines(inv, app):
    w = inv
    order = po(w, "PO-1", [(10, "12.50")])
    old = po(w, "PO-OLD", [(5, "3")])
    backdate(app, old)
    view = confirm_s1(w)
    assert [x["order_number"] for x in view["lines"]] == ["PO-1"]
    # Another period's order (received, not invoiced, of this seller and buyer): not this
    # statement's, whether the invoice is recorded or only previewed.
    lines = [line(order, 1, 10, "12.50"), line(old, 1, 5, "3")]
    for path in ("/invoices", "/invoices?dry_run=true"):
        body = {"buyer_id": w.owner.org_id, "number": "INV-1", "kind": "vat_special"}
        body |= {"issue_date": TODAY, "lines": lines, "statement_period": PERIOD}
        r = w.api.post(w.path(path), body, token=w.parties["S1"].token)
        assert r.status_code == 422, r.text
        assert r.json()["errors"]["lines"] == {
            "1": {"order_id": [f"Not an order of the statement for {PERIOD}."]}
        }
    # A line number the statement's order does not have.
    r = invoice(w, "INV-1", [line(order, 1, 1, "12.50"), line(order, 2, 1, "1")],
                statement_period=PERIOD)  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["errors"]["lines"] == {
        "1": {"line_no": [f"Not a line of this order in the statement for {PERIOD}."]}
    }
    assert w.api.get(w.path("/invoices"), token=w.owner.token).json()["total"] == 0
    # Untied, the old order may be invoiced; tied, the statement's own line may.
    created(invoice(w, "INV-OLD", [line(old, 1, 5, "3")]))
    body = created(invoice(w, "INV-1", [line(order, 1, 10, "12.50")], statement_period=PERIOD))
    assert body["statement_version"] == view["version"]
    assert body["match"] == {"status": "matched", "exceptions": []}


def test_the_owner_ties_a_sale_only_to_its_dealers_statement_lines(inv, app):
    w = inv
    d1a = w.parties["D1a"]
    order = _sale(w, d1a, "SO-A")
    old = _sale(w, d1a, "SO-OLD")
    backdate(app, old, months=2)
    view = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}"), token=d1a.token, headers=JSON
    ).json()
    confirmed = w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/confirm"),
        {"version": view["version"]},
        token=d1a.token,
    )
    assert confirmed.status_code == 200, confirmed.text
    r = invoice(w, "INV-1", [line(order, 1, 8, "520"), line(old, 1, 8, "520")], party=w.owner,
                buyer_id=d1a.org_id, statement_period=PERIOD)  # fmt: skip
    assert r.status_code == 422, r.text
    assert list(r.json()["errors"]["lines"]) == ["1"]
    assert "order_id" in r.json()["errors"]["lines"]["1"]
    body = created(invoice(w, "INV-1", [line(order, 1, 8, "520")], party=w.owner,
                           buyer_id=d1a.org_id, statement_period=PERIOD))  # fmt: skip
    assert body["statement_org_id"] == d1a.org_id and body["match"]["status"] == "matched"


def test_duplicate_number_is_409(inv):
    w = inv
    order = po(w, "PO-1", [(10, "1")])
    created(invoice(w, "INV-1", [line(order, 1, 1, "1")]))
    r = invoice(w, "INV-1", [line(order, 1, 1, "1")])
    assert r.status_code == 409 and "number" in r.json()["errors"]
    r = from_statement(w, "INV-1")
    assert r.status_code == 409


def test_approval_rules(inv, app):
    w = inv
    order = po(w, "PO-1", [(10, "10"), (10, "10")])
    good = created(invoice(w, "INV-1", [line(order, 1, 10, "10")]))
    bad = created(invoice(w, "INV-2", [line(order, 2, 10, "11")]))
    path = w.path(f"/invoices/{good['id']}/approve")
    assert w.api.post(path, {}, token=w.parties["S1"].token).status_code == 403
    assert w.api.post(path, {}, token=w.owner_staff.token).status_code == 403
    assert w.api.post(path, {}, token=w.parties["D1b"].token).status_code == 404
    assert w.api.post(path, {}, token=w.outsider.token).status_code == 404
    r = w.api.post(path, {}, token=w.owner.token)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert w.api.post(path, {}, token=w.owner.token).status_code == 409
    path = w.path(f"/invoices/{bad['id']}/approve")
    r = w.api.post(path, {"note": "fine"}, token=w.owner.token)
    assert r.status_code == 409 and "accept_exceptions" in r.json()["errors"]
    r = w.api.post(path, {"accept_exceptions": True}, token=w.owner.token)
    assert r.status_code == 422 and "note" in r.json()["errors"]
    r = w.api.post(
        path, {"accept_exceptions": True, "note": "Price rise agreed by phone"}, token=w.owner.token
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["decision_note"] == "Price rise agreed by phone"
    assert [e["kind"] for e in body["accepted_exceptions"]] == ["price_variance"]
    audit = w.api.get(w.path("/audit?action=invoice.approve"), token=w.owner.token).json()
    accepted = [e["data"]["accepted_exceptions"] for e in audit["items"]]
    assert accepted[0] == [] and accepted[1][0]["kind"] == "price_variance"


def test_rejection_frees_the_lines(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    confirm_s1(w)
    first = created(from_statement(w, "INV-1"))
    assert from_statement(w, "INV-2").status_code == 409
    path = w.path(f"/invoices/{first['id']}/reject")
    assert w.api.post(path, {}, token=w.owner.token).status_code == 422
    r = w.api.post(path, {"note": "Wrong tax rate"}, token=w.owner.token)
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert w.api.post(path, {"note": "again"}, token=w.owner.token).status_code == 409
    second = created(from_statement(w, "INV-2"))
    assert [(x["order_id"], x["qty"]) for x in second["lines"]] == [(order["id"], "10")]
    assert second["match"]["status"] == "matched"
    r = w.api.get(w.path("/invoices?status=rejected"), token=w.parties["S1"].token).json()
    assert [i["number"] for i in r["items"]] == ["INV-1"]


def test_events_to_both_parties_only(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10"), (10, "10")])
    a = created(invoice(w, "INV-1", [line(order, 1, 10, "10")]))
    b = created(invoice(w, "INV-2", [line(order, 2, 10, "10")]))
    w.api.post(w.path(f"/invoices/{a['id']}/approve"), {}, token=w.owner.token)
    w.api.post(w.path(f"/invoices/{b['id']}/reject"), {"note": "no"}, token=w.owner.token)
    for party in (w.parties["S1"], w.owner):
        feed = w.api.get(w.path("/events"), token=party.token).json()["items"]
        seen = [(e["type"], e["data"]["number"]) for e in feed if e["type"].startswith("invoice.")]
        assert seen == [
            ("invoice.submitted", "INV-1"),
            ("invoice.submitted", "INV-2"),
            ("invoice.approved", "INV-1"),
            ("invoice.rejected", "INV-2"),
        ]
    data = feed[-1]["data"]
    assert data["seller_id"] == w.parties["S1"].org_id and data["gross"] == "113.00"
    other = w.api.get(w.path("/events"), token=w.parties["D1b"].token).json()["items"]
    assert not [e for e in other if e["type"].startswith("invoice.")]


def test_a_third_org_sees_nothing(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    body = created(invoice(w, "INV-1", [line(order, 1, 10, "10")]))
    for party in (w.parties["D1b"], w.parties["D1a"]):
        assert w.api.get(w.path(f"/invoices/{body['id']}"), token=party.token).status_code == 404
        assert w.api.get(w.path("/invoices"), token=party.token).json()["total"] == 0
    assert w.api.get(w.path(f"/invoices/{body['id']}"), token=w.outsider.token).status_code == 404
    assert w.api.get(w.path("/invoices?box=incoming"), token=w.owner.token).json()["total"] == 1
    assert w.api.get(w.path("/invoices?box=outgoing"), token=w.owner.token).json()["total"] == 0
    out = w.api.get(w.path("/invoices?box=outgoing"), token=w.parties["S1"].token).json()
    assert [i["number"] for i in out["items"]] == ["INV-1"]
    assert out["items"][0]["match"]["status"] == "matched"
    assert [(x["order_number"], x["qty"]) for x in out["items"][0]["lines"]] == [("PO-1", "10")]


def test_unknown_line_and_another_sellers_order(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    body = created(invoice(w, "INV-1", [line(order, 1, 1, "10"), line(order, 7, 1, "10")]))
    assert kinds(body) == [(1, "unknown_line", None, "missing")]
    # The owner sells to D1a: S1 may not invoice that order (nor learn whether it exists).
    sale = w.api.post(
        w.path("/orders"),
        {
            "counterparty_id": w.parties["D1a"].org_id,
            "issuer_role": "seller",
            "lines": [{"line_no": 1, "sku": "X", "qty": "1", "unit_price": "1"}],
        },
        token=w.owner.token,
    ).json()
    r = invoice(w, "INV-2", [line(order, 1, 1, "10"), line(sale, 1, 1, "1")])
    assert r.status_code == 422
    assert r.json()["errors"]["lines"] == {
        "1": {"order_id": ["Not an order of yours with this buyer."]}
    }
    r = invoice(w, "INV-2", [{**line(order, 1, 1, "10"), "order_id": "999999"}])
    assert r.json()["errors"]["lines"] == {
        "0": {"order_id": ["Not an order of yours with this buyer."]}
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"qty": "0"}, "qty"),
        ({"qty": "-1"}, "qty"),
        ({"unit_price": "1.23456"}, "unit_price"),
        ({"tax_rate": "1.5"}, "tax_rate"),
        ({"tax_rate": "-0.01"}, "tax_rate"),
        ({"line_no": 0}, "line_no"),
        ({"order_id": "x"}, "order_id"),
    ],
)
def test_bad_lines_name_the_field(inv, change, field):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    lines = [line(order, 1, 1, "10"), line(order, 1, 1, "10") | change]
    r = invoice(w, "INV-1", lines)
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"]["json"]["lines"]["1"], r.text
    assert f"lines.1.{field}" in r.json()["message"]
    assert w.api.get(w.path("/invoices"), token=w.owner.token).json()["total"] == 0


def test_more_bad_input(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    many = [line(order, i + 1, 1, "1") for i in range(2001)]
    r = invoice(w, "INV-1", many)
    assert r.status_code == 422 and "lines" in r.json()["errors"]["json"]
    r = invoice(w, "INV-1", [line(order, 1, 1, "1"), line(order, 1, 2, "1")])
    assert r.status_code == 422 and r.json()["errors"]["lines"] == {
        "1": {"line_no": ["This order line is already on the invoice."]}
    }
    r = invoice(w, "INV-1", [line(order, 1, 1, "1")], kind="fapiao")
    assert r.status_code == 422 and "kind" in r.json()["errors"]["json"]
    r = invoice(w, "INV-1", [line(order, 1, "99999999999999", "99999999999999")])
    assert r.status_code == 422, r.text
    r = invoice(w, "INV-1", [line(order, 1, 1, "1")], buyer_id=w.parties["S1"].org_id)
    assert r.status_code == 422 and "buyer_id" in r.json()["errors"]
    # The buyer may not record an invoice on its purchases as if it were the seller.
    r = invoice(
        w, "INV-1", [line(order, 1, 1, "1")], party=w.owner, buyer_id=w.parties["S1"].org_id
    )
    assert r.status_code == 422 and "lines" in r.json()["errors"]
    r = w.api.put(
        w.path("/invoice-settings"),
        {"price_tolerance_pct": "101", "amount_tolerance": "0", "default_tax_rate": "0.13"},
        token=w.owner.token,
    )
    assert r.status_code == 422 and "price_tolerance_pct" in r.json()["errors"]
    r = w.api.put(
        w.path("/invoice-settings"),
        {"price_tolerance_pct": "1", "amount_tolerance": "0", "default_tax_rate": "0.13"},
        token=w.parties["S1"].token,
    )
    assert r.status_code == 403
    assert w.api.get(w.path("/invoices"), token=w.owner.token).json()["total"] == 0


def test_dry_run_records_nothing(inv):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    body = {
        "buyer_id": w.owner.org_id,
        "number": "INV-1",
        "kind": "vat_normal",
        "issue_date": TODAY,
        "lines": [line(order, 1, 11, "10")],
    }
    r = w.api.post(w.path("/invoices?dry_run=true"), body, token=w.parties["S1"].token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] is None and r.json()["status"] == "draft"
    assert kinds(r.json()) == [(0, "received_qty_variance", "10", "11")]
    assert w.api.get(w.path("/invoices"), token=w.owner.token).json()["total"] == 0


def test_matching_costs_a_fixed_number_of_queries(inv, count_queries):
    w = inv
    counts = []
    for n in (2, 30):
        order = po(w, f"PO-{n}", [(5, "2")] * n)
        body = created(invoice(w, f"INV-{n}", [line(order, i + 1, 5, "2") for i in range(n)]))
        with count_queries() as counter:
            r = w.api.get(w.path(f"/invoices/{body['id']}"), token=w.owner.token)
        assert r.status_code == 200 and len(r.json()["lines"]) == n
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    pages = []
    for size in (1, 2):
        with count_queries() as counter:
            r = w.api.get(w.path(f"/invoices?box=incoming&page_size={size}"), token=w.owner.token)
        assert len(r.json()["items"]) == size
        pages.append(counter.count)
    assert pages[0] == pages[1], pages


def _sale(w, dealer, number):
    """The owner sells to a D1 dealer: accepted, shipped and received in full."""
    body = {
        "counterparty_id": dealer.org_id,
        "issuer_role": "seller",
        "number": number,
        "lines": [{"line_no": 1, "sku": "TYRE", "qty": "8", "unit_price": "520"}],
    }
    order = created(w.api.post(w.path("/orders"), body, token=w.owner.token))
    ack = {"version": 1, "decision": "accept"}
    assert w.api.post(w.path(f"/orders/{order['id']}/ack"), ack, token=dealer.token).ok
    moves = {"lines": [{"line_no": 1, "qty": "8"}]}
    created(w.api.post(w.path(f"/orders/{order['id']}/shipments"), moves, token=w.owner.token))
    created(w.api.post(w.path(f"/orders/{order['id']}/receipts"), moves, token=dealer.token))
    return order


def test_the_owner_invoices_a_dealer_from_the_dealers_statement(inv):
    w = inv
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    _sale(w, d1a, "SO-A")
    _sale(w, d1b, "SO-B")
    view = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}"), token=d1a.token, headers=JSON
    ).json()
    r = w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/confirm"),
        {"version": view["version"]},
        token=d1a.token,
    )
    assert r.status_code == 200, r.text
    # Two buyers this period: name one.
    r = from_statement(w, "INV-1", party=w.owner)
    assert r.status_code == 422 and "buyer_id" in r.json()["errors"]
    # D1b's statement is not confirmed.
    assert from_statement(w, "INV-1", party=w.owner, buyer_id=d1b.org_id).status_code == 409
    body = created(from_statement(w, "INV-1", party=w.owner, buyer_id=d1a.org_id))
    assert body["statement_org_id"] == d1a.org_id and body["buyer_id"] == d1a.org_id
    assert (body["net"], body["tax"], body["gross"]) == ("4160.00", "540.80", "4700.80")
    # The dealer (an admin of the buyer) approves it.
    r = w.api.post(w.path(f"/invoices/{body['id']}/approve"), {}, token=d1a.token)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
