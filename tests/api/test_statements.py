"""Statements (对账确认) through the API: the JSON view, confirmation with a version (stale:
409), `changed` after a late receipt or an amendment, line-level disputes and their resolution,
the owner's board, isolation between partners, events, audit and bad input."""

from __future__ import annotations

import pytest

from tests.conftest import add_member, this_period

PERIOD = this_period()
JSON = {"Accept": "application/json"}


def _lines(n=2):
    return [
        {"line_no": i + 1, "sku": f"SKU-{i + 1}", "qty": "10", "unit_price": "12.50"}
        for i in range(n)
    ]


def _grant(w, app_key, scope):
    r = w.api.post(w.path("/grants"), {"app": app_key, "scope": scope}, token=w.owner.token)
    assert r.status_code == 201, r.text


def _order(w, party, number, n=2):
    r = w.api.post(
        w.path("/orders"),
        {
            "counterparty_id": w.owner.org_id,
            "issuer_role": "buyer",
            "number": number,
            "lines": _lines(n),
        },
        token=party.token,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def stmt(world):
    return answering_chain(world)


def answering_chain(world):
    """D1a ordered from the owner (accepted, shipped); D1b has an order of its own; both have
    the reconciliation app, D2 has not."""
    w = world
    _grant(w, "orders", {"type": "all"})
    _grant(w, "reconciliation", {"type": "tier", "value": "D1"})
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    po = _order(w, d1a, "PO-A-1")
    ack = w.api.post(
        w.path(f"/orders/{po['id']}/ack"), {"version": 1, "decision": "accept"}, token=w.owner.token
    )
    assert ack.status_code == 200, ack.text
    ship = w.api.post(
        w.path(f"/orders/{po['id']}/shipments"),
        {"lines": [{"line_no": 1, "qty": "10"}, {"line_no": 2, "qty": "10"}]},
        token=w.owner.token,
    )
    assert ship.status_code == 201, ship.text
    _order(w, d1b, "PO-B-1", 1)
    w.extra = {"po": po}
    return w


def _view(w, party, org_id=None, token=None):
    query = f"?org_id={org_id}" if org_id else ""
    r = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}{query}"),
        token=token or party.token,
        headers=JSON,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def _confirm(w, party, version, **extra):
    return w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/confirm"),
        {"version": version, **extra},
        token=party.token,
    )


def _dispute(w, party, version, lines=None, **extra):
    lines = lines or [
        {"order_number": "PO-A-1", "line_no": 2, "field": "shipped", "expected": "8",
         "note": "Only 8 arrived"}
    ]  # fmt: skip
    return w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/disputes"),
        {"version": version, "lines": lines, **extra},
        token=party.token,
    )


def _board(w, token, query=""):
    r = w.api.get(w.path(f"/reconciliation/statements?period={PERIOD}{query}"), token=token)
    assert r.status_code == 200, r.text
    return r.json()


def _events(w, party, type_):
    r = w.api.get(w.path(f"/events?type={type_}"), token=party.token)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _actions(w, action):
    r = w.api.get(w.path(f"/audit?action={action}"), token=w.owner.token)
    return [e for e in r.json()["items"]]


def test_json_view_beside_the_xlsx(stmt):
    w = stmt
    d1a = w.parties["D1a"]
    view = _view(w, d1a)
    assert view["org_id"] == d1a.org_id and view["period"] == PERIOD
    assert view["status"] == "open" and len(view["version"]) == 64
    assert [(x["order_number"], x["line_no"]) for x in view["lines"]] == [
        ("PO-A-1", 1),
        ("PO-A-1", 2),
    ]
    line = view["lines"][0]
    assert (line["qty"], line["unit_price"], line["shipped_qty"], line["received_qty"]) == (
        "10",
        "12.50",
        "10",
        "0",
    )
    assert line["flags"] == ["RECV"]
    assert view["totals"] == {
        "ordered": "250.00",
        "confirmed": "250.00",
        "shipped": "250.00",
        "received": "0.00",
    }
    assert view["disputes"] == [] and view["confirmed_at"] is None
    # Without asking for JSON the statement is the xlsx, as before.
    xlsx = w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=d1a.token)
    assert xlsx.status_code == 200
    assert xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    # The owner reads any member's; the version is the same whoever reads it.
    assert _view(w, None, d1a.org_id, token=w.owner.token)["version"] == view["version"]


def test_confirm_then_a_late_receipt_reads_changed_with_the_difference(stmt):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    seen = _view(w, d1a)
    r = _confirm(w, d1a, seen["version"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "confirmed" and body["confirmed_by"] == d1a.user_id
    assert body["confirmed_at"] is not None
    # Confirming the same version again changes nothing (no second event).
    assert _confirm(w, d1a, seen["version"]).status_code == 200
    assert len(_events(w, d1a, "statement.confirmed")) == 1
    board = {i["org_id"]: i for i in _board(w, w.owner.token)["items"]}
    assert board[d1a.org_id]["status"] == "confirmed"
    assert board[d1a.org_id]["confirmed_at"] is not None
    assert board[d1b.org_id]["status"] == "open"
    # A late receipt changes the figures behind the confirmation.
    receipt = w.api.post(
        w.path(f"/orders/{w.extra['po']['id']}/receipts"),
        {"lines": [{"line_no": 2, "qty": "7"}]},
        token=d1a.token,
    )
    assert receipt.status_code == 201, receipt.text
    now = _view(w, d1a)
    assert now["status"] == "changed" and now["version"] != seen["version"]
    assert now["confirmed_version"] == seen["version"]
    assert now["changes"] == [
        {"order_number": "PO-A-1", "line_no": 2, "field": "received_qty",
         "confirmed": "0.0000", "current": "7.0000"}
    ]  # fmt: skip
    assert now["confirmed_totals"]["received"] == "0.00"
    assert now["totals"]["received"] == "87.50"
    assert _board(w, w.owner.token, "&status=changed")["items"][0]["org_id"] == d1a.org_id
    # The old version is stale; the new one confirms again.
    stale = _confirm(w, d1a, seen["version"])
    assert stale.status_code == 409, stale.text
    assert _confirm(w, d1a, now["version"]).json()["status"] == "confirmed"
    assert len(_events(w, d1a, "statement.confirmed")) == 2


def test_an_amendment_after_confirmation_reads_changed(stmt):
    w = stmt
    d1b = w.parties["D1b"]
    seen = _view(w, d1b)
    assert _confirm(w, d1b, seen["version"]).status_code == 200
    order = _view(w, d1b)["lines"][0]["order_id"]
    amended = w.api.post(
        w.path(f"/orders/{order}/amend"),
        {
            "version": 1,
            "lines": [{"line_no": 1, "sku": "SKU-1", "qty": "4", "unit_price": "12.50"}],
        },
        token=d1b.token,
    )
    assert amended.status_code == 200, amended.text
    now = _view(w, d1b)
    assert now["status"] == "changed"
    fields = {c["field"]: (c["confirmed"], c["current"]) for c in now["changes"]}
    assert fields["qty"] == ("10.0000", "4.0000")
    assert (now["confirmed_totals"]["ordered"], now["totals"]["ordered"]) == ("125.00", "50.00")


def test_dispute_resolve_and_confirm_again(stmt):
    w = stmt
    d1a = w.parties["D1a"]
    seen = _view(w, d1a)
    r = _dispute(w, d1a, seen["version"], note="Please check the shipment")
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert dispute["status"] == "open" and dispute["note"] == "Please check the shipment"
    assert dispute["lines"] == [
        {"order_id": w.extra["po"]["id"], "order_number": "PO-A-1", "line_no": 2,
         "field": "shipped", "expected": "8", "note": "Only 8 arrived"}
    ]  # fmt: skip
    view = _view(w, d1a)
    assert view["status"] == "disputed" and [d["id"] for d in view["disputes"]] == [dispute["id"]]
    row = next(i for i in _board(w, w.owner.token)["items"] if i["org_id"] == d1a.org_id)
    assert (row["status"], row["open_disputes"]) == ("disputed", 1)
    # No confirmation while a dispute is open; partners do not resolve.
    assert _confirm(w, d1a, seen["version"]).status_code == 409
    resolve = w.path(f"/reconciliation/disputes/{dispute['id']}/resolve")
    body = {"resolution": "accepted", "note": "Two were short; credit note follows"}
    assert w.api.post(resolve, body, token=d1a.token).status_code == 403
    done = w.api.post(resolve, body, token=w.owner_staff.token)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "accepted"
    assert done.json()["resolved_by"] == w.owner_staff.user_id
    # Resolving twice is a conflict.
    again = w.api.post(resolve, {"resolution": "rejected", "note": "x"}, token=w.owner.token)
    assert again.status_code == 409
    # The statement is open again; the history keeps the resolved dispute.
    view = _view(w, d1a)
    assert view["status"] == "open"
    assert view["disputes"][0]["status"] == "accepted"
    assert view["disputes"][0]["resolution_note"] == body["note"]
    assert _confirm(w, d1a, view["version"]).json()["status"] == "confirmed"
    # A second dispute after confirming: disputed again, then rejected, then open.
    second = _dispute(w, d1a, view["version"]).json()
    assert _view(w, d1a)["status"] == "disputed"
    rejected = w.api.post(
        w.path(f"/reconciliation/disputes/{second['id']}/resolve"),
        {"resolution": "rejected", "note": "Delivery note signed for 10"},
        token=w.owner.token,
    )
    assert rejected.json()["status"] == "rejected"
    assert _view(w, d1a)["status"] == "open"
    # Every step audited.
    assert len(_actions(w, "statement.dispute")) == 2
    assert len(_actions(w, "dispute.resolve")) == 2
    assert len(_actions(w, "statement.confirm")) == 1


def test_events_go_to_the_statements_org_and_the_owner_only(stmt):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    seen = _view(w, d1a)
    dispute = _dispute(w, d1a, seen["version"]).json()
    w.api.post(
        w.path(f"/reconciliation/disputes/{dispute['id']}/resolve"),
        {"resolution": "rejected", "note": "no"},
        token=w.owner.token,
    )
    _confirm(w, d1a, seen["version"])
    for type_ in ("statement.disputed", "dispute.resolved", "statement.confirmed"):
        for party in (d1a, w.owner):
            (event,) = _events(w, party, type_)
            assert event["data"]["org_id"] == d1a.org_id
            assert event["data"]["period"] == PERIOD
        assert _events(w, d1b, type_) == []
    (resolved,) = _events(w, d1a, "dispute.resolved")
    assert resolved["data"]["resolution"] == "rejected"
    assert resolved["data"]["id"] == dispute["id"]


def test_a_partner_never_sees_another_partners_statement_disputes_or_board(stmt):
    w = stmt
    d1a, d1b, d2 = w.parties["D1a"], w.parties["D1b"], w.parties["D2"]
    dispute = _dispute(w, d1a, _view(w, d1a)["version"]).json()
    other = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={d1a.org_id}"),
        token=d1b.token,
        headers=JSON,
    )
    assert other.status_code == 403
    assert "PO-A-1" not in other.text
    board = _board(w, d1b.token)
    assert [i["org_id"] for i in board["items"]] == [d1b.org_id] and board["total"] == 1
    assert (
        w.api.get(w.path(f"/reconciliation/disputes/{dispute['id']}"), token=d1b.token).status_code
        == 404
    )
    assert (
        w.api.get(w.path(f"/reconciliation/disputes/{dispute['id']}"), token=d1a.token).status_code
        == 200
    )
    # Without the app: 403; outside the chain: 404.
    assert _confirm(w, d2, "x" * 64).status_code == 403
    assert (
        w.api.get(w.path(f"/reconciliation/statements?period={PERIOD}"), token=d2.token).status_code
        == 403
    )
    assert (
        w.api.get(
            w.path(f"/reconciliation/disputes/{dispute['id']}"), token=w.outsider.token
        ).status_code
        == 404
    )
    assert (
        w.api.get(
            w.path(f"/reconciliation/statements?period={PERIOD}"), token=w.outsider.token
        ).status_code
        == 404
    )


def test_bad_input_changes_nothing(stmt):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    version = _view(w, d1a)["version"]
    # Confirming for another org, or as the owner: 403.
    assert _confirm(w, d1a, version, org_id=d1b.org_id).status_code == 403
    assert _confirm(w, w.owner, version, org_id=d1a.org_id).status_code == 403
    assert _confirm(w, w.owner, version).status_code == 403
    assert _dispute(w, w.owner, version, org_id=d1a.org_id).status_code == 403
    # A stale version: 409.
    assert _confirm(w, d1a, "0" * 64).status_code == 409
    assert _dispute(w, d1a, "0" * 64).status_code == 409
    # A line that is not in the statement (or another org's): 422 naming it.
    missing = _dispute(
        w, d1a, version,
        [{"order_number": "PO-A-1", "line_no": 1, "field": "qty", "note": "ok"},
         {"order_number": "PO-A-1", "line_no": 9, "field": "qty", "note": "no such line"},
         {"order_number": "PO-B-1", "line_no": 1, "field": "qty", "note": "D1b's"}],
    )  # fmt: skip
    assert missing.status_code == 422, missing.text
    errors = missing.json()["errors"]["lines"]
    assert set(errors) == {"1", "2"}
    assert "PO-A-1 line 9" in str(errors["1"]) and "PO-B-1" in str(errors["2"])
    # A note of 100 000 characters, an unknown field, no lines, no version: 422.
    huge = [{"order_number": "PO-A-1", "line_no": 1, "field": "qty", "note": "x" * 100_000}]
    r = _dispute(w, d1a, version, huge)
    assert r.status_code == 422 and "note" in r.json()["errors"]["json"]["lines"]["0"]
    r = _dispute(w, d1a, version, note="y" * 100_000)
    assert r.status_code == 422 and "note" in r.json()["errors"]["json"]
    bad_field = [{"order_number": "PO-A-1", "line_no": 1, "field": "colour", "note": "x"}]
    assert _dispute(w, d1a, version, bad_field).status_code == 422
    r = w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/disputes"),
        {"version": version, "lines": []},
        token=d1a.token,
    )
    assert r.status_code == 422 and "lines" in r.json()["errors"]["json"]
    r = w.api.post(w.path(f"/reconciliation/statements/{PERIOD}/confirm"), {}, token=d1a.token)
    assert r.status_code == 422 and "version" in r.json()["errors"]["json"]
    # Periods in the future or malformed: 422.
    for period in ("2999-01", "2026-13", "2999-W01"):
        r = w.api.post(
            w.path(f"/reconciliation/statements/{period}/confirm"), {"version": version},
            token=d1a.token,
        )  # fmt: skip
        assert r.status_code == 422 and "period" in r.json()["errors"], (period, r.text)
        r = w.api.get(w.path(f"/reconciliation/statements/{period}"), token=d1a.token, headers=JSON)
        assert r.status_code == 422
    r = w.api.get(w.path("/reconciliation/statements?period=2999-01"), token=w.owner.token)
    assert r.status_code == 422 and "period" in r.json()["errors"]
    assert w.api.get(w.path("/reconciliation/statements"), token=w.owner.token).status_code == 422
    r = w.api.get(
        w.path(f"/reconciliation/statements?period={PERIOD}&tier=core"), token=w.owner.token
    )
    assert r.status_code == 422 and "tier" in r.json()["errors"]
    # Resolving: a bad resolution, no note, an unknown dispute.
    dispute = _dispute(w, d1a, version).json()
    resolve = w.path(f"/reconciliation/disputes/{dispute['id']}/resolve")
    assert (
        w.api.post(resolve, {"resolution": "maybe", "note": "x"}, token=w.owner.token).status_code
        == 422
    )
    assert w.api.post(resolve, {"resolution": "accepted"}, token=w.owner.token).status_code == 422
    r = w.api.post(resolve, {"resolution": "accepted", "note": "z" * 100_000}, token=w.owner.token)
    assert r.status_code == 422
    assert w.api.post(
        w.path("/reconciliation/disputes/999999/resolve"), {"resolution": "accepted", "note": "x"},
        token=w.owner.token,
    ).status_code == 404  # fmt: skip
    # Nothing of the refused requests happened.
    view = _view(w, d1a)
    assert view["status"] == "disputed" and len(view["disputes"]) == 1
    assert view["disputes"][0]["status"] == "open"
    assert _view(w, d1b)["status"] == "open"


def test_board_filters_by_tier_and_status(stmt):
    w = stmt
    d1a, d1b, s1 = w.parties["D1a"], w.parties["D1b"], w.parties["S1"]
    _confirm(w, d1a, _view(w, d1a)["version"])
    everyone = _board(w, w.owner.token)
    tiers = {i["org_id"]: i["tier"] for i in everyone["items"]}
    assert (
        tiers[d1a.org_id] == "D1"
        and tiers[s1.org_id] == "U1"
        and tiers[w.parties["D2"].org_id] == "D2"
    )
    assert w.owner.org_id not in tiers
    assert everyone["counts"]["confirmed"] == 1 and everyone["counts"]["open"] == 3
    d1 = _board(w, w.owner.token, "&tier=D1")
    assert {i["org_id"] for i in d1["items"]} == {d1a.org_id, d1b.org_id}
    waiting = _board(w, w.owner.token, "&tier=D1&status=open")
    assert [i["org_id"] for i in waiting["items"]] == [d1b.org_id]
    assert waiting["counts"] == {"open": 1, "confirmed": 1, "disputed": 0, "changed": 0}
    # The board's versions (one pass over every org's lines) are each statement's own, an
    # order between two orgs of the board counting for the one farther from the core only.
    sub = w.api.post(
        w.path("/orders"),
        {"counterparty_id": d1a.org_id, "issuer_role": "buyer", "lines": _lines(1)},
        token=w.parties["D2"].token,
    )
    assert sub.status_code == 201, sub.text
    everyone = _board(w, w.owner.token)
    assert len(_view(w, None, d1a.org_id, token=w.owner.token)["lines"]) == 2
    assert len(_view(w, None, w.parties["D2"].org_id, token=w.owner.token)["lines"]) == 1
    for item in everyone["items"]:
        assert item["version"] == _view(w, None, item["org_id"], token=w.owner.token)["version"]
    page = _board(w, w.owner.token, "&page_size=1&page=2")
    assert page["total"] == 4 and len(page["items"]) == 1


def test_the_board_costs_a_fixed_number_of_queries(stmt, count_queries):
    w = stmt
    path = w.path(f"/reconciliation/statements?period={PERIOD}&tier=D1")
    w.api.get(path, token=w.owner.token)  # builds the tier cache once

    def grow(start, n):
        for i in range(start, start + n):
            member = add_member(
                w.api, w.owner, w.chain_id, f"Dealer {i:03d}", "dealer", f"GEN-{i:03d}", None,
                f"gen{i}@d.example",
            )  # fmt: skip
            link = w.api.post(
                w.path("/links"),
                {"supplier_id": w.owner.org_id, "customer_id": member["org_id"]},
                token=w.owner.token,
            )
            assert link.status_code == 201, link.text

    counts = []
    for start, n in ((0, 2), (2, 8)):
        grow(start, n)
        w.api.get(path, token=w.owner.token)  # the tier cache after the change
        with count_queries() as counter:
            r = w.api.get(path, token=w.owner.token)
        assert r.status_code == 200
        counts.append((r.json()["total"], counter.count))
    assert [total for total, _ in counts] == [4, 12]
    assert counts[0][1] == counts[1][1], counts
    # The fixed count itself: token+membership, app grant, lines, statements, disputes,
    # directory (and the transaction's own statements).
    assert counts[0][1] <= 10, counts
