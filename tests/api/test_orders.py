"""Orders through the API: issue, X12 855 acknowledgment, amend, cancel, ship, receive; races
over real HTTP."""

import pytest

from tests.conftest import Api, race


@pytest.fixture
def chain(world):
    return world.share_app("orders")


def _lines(n=3, **overrides):
    lines = [
        {
            "line_no": i + 1,
            "sku": f"SKU-{i + 1}",
            "qty": "10",
            "unit": "pcs",
            "unit_price": "12.50",
            "requested_date": "2026-12-15",
        }
        for i in range(n)
    ]
    for line in lines:
        line.update(overrides)
    return lines


def _issue(w, token, counterparty, role="buyer", lines=None, **extra):
    body = {
        "counterparty_id": counterparty,
        "issuer_role": role,
        "lines": lines or _lines(),
        **extra,
    }
    return w.api.post(w.path("/orders"), body, token=token)


def _po_from_d1a(w, **kw):
    """D1a (a dealer) buys from the owner: the owner acknowledges."""
    r = _issue(w, w.parties["D1a"].token, w.owner.org_id, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def _ack(w, order, token=None, **body):
    body.setdefault("version", order["version"])
    return w.api.post(w.path(f"/orders/{order['id']}/ack"), body, token=token or w.owner.token)


def test_issue_order(chain):
    w = chain
    order = _po_from_d1a(w, number="PO-2026-0001")
    assert order["status"] == "issued" and order["version"] == 1 and order["ack_code"] is None
    assert order["buyer_id"] == w.parties["D1a"].org_id and order["seller_id"] == w.owner.org_id
    assert order["issuer_id"] == w.parties["D1a"].org_id and order["currency"] == "CNY"
    assert [line["line_no"] for line in order["lines"]] == [1, 2, 3]
    line = order["lines"][0]
    assert line["qty"] == "10" and line["unit_price"] == "12.50" and line["ack_status"] == "pending"
    assert line["shipped_qty"] == "0" and line["confirmed_qty"] is None
    assert [e["kind"] for e in order["history"]] == ["issued"]
    generated = _po_from_d1a(w)
    assert generated["number"].startswith("PO-")
    seller_issued = _issue(w, w.owner.token, w.parties["D1b"].org_id, role="seller", currency="USD")
    assert seller_issued.status_code == 201 and seller_issued.json()["number"].startswith("SO-")
    assert seller_issued.json()["currency"] == "USD"
    dup = _issue(w, w.parties["D1a"].token, w.owner.org_id, number="PO-2026-0001")
    assert dup.status_code == 409


def test_counterparty_must_be_linked_in_the_right_direction(chain):
    w = chain
    p = w.parties
    assert _issue(w, w.owner.token, p["D2"].org_id, role="seller").status_code == 422
    wrong_way = _issue(w, w.owner.token, p["D1a"].org_id, role="buyer")
    assert wrong_way.status_code == 422 and "counterparty_id" in wrong_way.json()["errors"]
    assert _issue(w, w.owner.token, p["S1"].org_id, role="buyer").status_code == 201
    assert _issue(w, p["D2"].token, p["D1a"].org_id, role="buyer").status_code == 201
    assert _issue(w, w.owner.token, w.outsider.org_id).status_code == 422
    assert _issue(w, w.owner.token, w.owner.org_id).status_code == 422


def test_accept_all_is_ad(chain):
    w = chain
    order = _po_from_d1a(w)
    r = _ack(w, order, decision="accept")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "accepted" and body["ack_code"] == "AD" and body["version"] == 2
    assert {line["ack_code"] for line in body["lines"]} == {"IA"}
    assert body["lines"][0]["confirmed_qty"] == "10"
    assert body["lines"][0]["confirmed_price"] == "12.50"
    assert body["lines"][0]["promised_date"] == "2026-12-15"


def test_reject_all_is_rj(chain):
    w = chain
    order = _po_from_d1a(w)
    body = _ack(w, order, decision="reject", reason="Out of stock").json()
    assert body["status"] == "rejected" and body["ack_code"] == "RJ"
    assert {line["ack_code"] for line in body["lines"]} == {"IR"}
    assert body["lines"][0]["reason"] == "Out of stock"


@pytest.mark.parametrize(
    ("answer", "code", "status"),
    [
        ({"status": "accepted"}, "IA", "accepted"),
        ({"status": "rejected", "reason": "discontinued"}, "IR", "partially_accepted"),
        ({"status": "backordered", "promised_date": "2027-01-20"}, "IB", "accepted_with_changes"),
        ({"status": "changed", "qty": "8"}, "IQ", "accepted_with_changes"),
        ({"status": "changed", "unit_price": "13.00"}, "IP", "accepted_with_changes"),
        ({"status": "changed", "promised_date": "2026-12-20"}, "DR", "accepted_with_changes"),
        ({"status": "changed", "qty": "8", "unit_price": "11"}, "IC", "accepted_with_changes"),
    ],
)
def test_each_x12_line_code(chain, answer, code, status):
    w = chain
    order = _po_from_d1a(w)
    lines = [
        {"line_no": 1, **answer},
        {"line_no": 2, "status": "accepted"},
        {"line_no": 3, "status": "accepted"},
    ]
    r = _ack(w, order, decision="lines", lines=lines)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lines"][0]["ack_code"] == code
    assert body["status"] == status
    assert (
        body["ack_code"]
        == {"accepted": "AD", "accepted_with_changes": "AC", "partially_accepted": "AC"}[status]
    )
    first = body["lines"][0]
    if code == "IQ":
        assert first["confirmed_qty"] == "8" and first["confirmed_price"] == "12.50"
    if code == "IP":
        assert first["confirmed_price"] == "13.00" and first["confirmed_qty"] == "10"
    if code == "DR":
        assert first["promised_date"] == "2026-12-20"
    if code == "IR":
        assert first["confirmed_qty"] == "0"


def test_line_answers_must_be_consistent(chain):
    w = chain
    order = _po_from_d1a(w)
    accepted = [{"line_no": n, "status": "accepted"} for n in (2, 3)]
    bad = [
        ([{"line_no": 1, "status": "accepted", "qty": "5"}] + accepted, "status"),
        ([{"line_no": 1, "status": "changed"}] + accepted, "status"),
        ([{"line_no": 1, "status": "changed", "qty": "10"}] + accepted, "status"),
        ([{"line_no": 9, "status": "accepted"}] + accepted, "line_no"),
        ([{"line_no": 2, "status": "accepted"}] + accepted, "line_no"),
        (accepted, "missing"),
        ([{"line_no": 1, "status": "maybe"}] + accepted, "status"),
        ([{"line_no": 1, "status": "changed", "qty": "0"}] + accepted, "qty"),
        ([{"line_no": 1, "status": "changed", "unit_price": "-1"}] + accepted, "unit_price"),
        (
            [{"line_no": 1, "status": "changed", "promised_date": "2026-02-30"}] + accepted,
            "promised_date",
        ),
    ]
    for lines, needle in bad:
        r = _ack(w, order, decision="lines", lines=lines)
        assert r.status_code == 422, (lines, r.text)
        assert needle in str(r.json()["errors"]), (needle, r.json())
    assert _ack(w, order, decision="lines").status_code == 422
    assert _ack(w, order, decision="accept", lines=accepted).status_code == 422
    assert _ack(w, order, decision="maybe").status_code == 422
    got = w.api.get(w.path(f"/orders/{order['id']}"), token=w.owner.token).json()
    assert got["status"] == "issued" and got["version"] == 1


def test_who_may_acknowledge(chain):
    w = chain
    order = _po_from_d1a(w)
    assert _ack(w, order, token=w.parties["D1a"].token, decision="accept").status_code == 403
    assert _ack(w, order, token=w.parties["D1b"].token, decision="accept").status_code == 404
    assert _ack(w, order, token=w.outsider.token, decision="accept").status_code == 404
    # The owner staff may act for the owner org.
    assert _ack(w, order, token=w.owner_staff.token, decision="accept").status_code == 200
    # An order between two partners: the owner sees it but is no party.
    d2_order = _issue(w, w.parties["D2"].token, w.parties["D1a"].org_id).json()
    assert w.api.get(w.path(f"/orders/{d2_order['id']}"), token=w.owner.token).status_code == 200
    assert _ack(w, d2_order, token=w.owner.token, decision="accept").status_code == 403
    assert _ack(w, d2_order, token=w.parties["D1a"].token, decision="accept").status_code == 200


def test_stale_version_and_reack_replaces(chain):
    w = chain
    order = _po_from_d1a(w)
    first = _ack(w, order, decision="reject").json()
    stale = _ack(w, order, decision="accept")  # still sends version 1
    assert stale.status_code == 409 and "version" in stale.json()["errors"]
    again = _ack(w, first, decision="accept").json()
    assert again["status"] == "accepted" and again["version"] == 3
    acks = [e for e in again["history"] if e["kind"] == "acknowledged"]
    assert len(acks) == 2 and acks[1]["data"]["replaces"] == {
        "status": "rejected",
        "ack_code": "RJ",
    }
    assert _ack(w, order, decision="accept", version="2").status_code == 422


def _ship(w, order, lines, token=None, **extra):
    return w.api.post(
        w.path(f"/orders/{order['id']}/shipments"),
        {"lines": lines, **extra},
        token=token or w.owner.token,
    )


def _receive(w, order, lines, token=None):
    return w.api.post(
        w.path(f"/orders/{order['id']}/receipts"),
        {"lines": lines},
        token=token or w.parties["D1a"].token,
    )


def test_ship_and_receive(chain):
    w = chain
    order = _po_from_d1a(w)
    assert _ship(w, order, [{"line_no": 1, "qty": 1}]).status_code == 409  # not acknowledged
    acked = _ack(
        w,
        order,
        decision="lines",
        lines=[
            {"line_no": 1, "status": "accepted"},
            {"line_no": 2, "status": "changed", "qty": "6"},
            {"line_no": 3, "status": "rejected"},
        ],
    ).json()
    assert acked["status"] == "partially_accepted"
    r = _ship(
        w,
        acked,
        [{"line_no": 1, "qty": "4"}, {"line_no": 2, "qty": "6"}],
        ref="DN-1",
        shipped_at="2026-12-01T08:00:00+08:00",
    )
    assert r.status_code == 201, r.text
    shipped = {line["line_no"]: line["shipped_qty"] for line in r.json()["lines"]}
    assert shipped == {1: "4", 2: "6", 3: "0"}
    event = r.json()["history"][-1]
    assert event["kind"] == "shipped" and event["data"]["ref"] == "DN-1"
    assert event["user_id"] == w.owner.user_id
    over = _ship(w, acked, [{"line_no": 1, "qty": "6.0001"}])
    assert over.status_code == 409 and "Over-shipping" in str(over.json()["errors"])
    assert _ship(w, acked, [{"line_no": 2, "qty": "0.0001"}]).status_code == 409
    assert _ship(w, acked, [{"line_no": 3, "qty": "1"}]).status_code == 409  # rejected line
    assert _ship(w, acked, [{"line_no": 4, "qty": "1"}]).status_code == 422
    assert (
        _ship(w, acked, [{"line_no": 1, "qty": "1"}, {"line_no": 1, "qty": "1"}]).status_code == 422
    )
    assert _ship(w, acked, [{"line_no": 1, "qty": "-1"}]).status_code == 422
    assert (
        _ship(w, acked, [{"line_no": 1, "qty": "1"}], token=w.parties["D1a"].token).status_code
        == 403
    )
    rec = _receive(w, acked, [{"line_no": 1, "qty": "4"}, {"line_no": 2, "qty": "5"}])
    assert rec.status_code == 201, rec.text
    assert {ln["line_no"]: ln["received_qty"] for ln in rec.json()["lines"]} == {
        1: "4",
        2: "5",
        3: "0",
    }
    assert _receive(w, acked, [{"line_no": 2, "qty": "2"}]).status_code == 409
    assert _receive(w, acked, [{"line_no": 1, "qty": "1"}], token=w.owner.token).status_code == 403
    # After a shipment the order can no longer be re-acknowledged, amended or cancelled.
    current = w.api.get(w.path(f"/orders/{order['id']}"), token=w.owner.token).json()
    assert _ack(w, current, decision="accept").status_code == 409
    amend = w.api.post(
        w.path(f"/orders/{order['id']}/amend"),
        {"version": current["version"], "lines": _lines(1)},
        token=w.parties["D1a"].token,
    )
    assert amend.status_code == 409
    cancel = w.api.post(
        w.path(f"/orders/{order['id']}/cancel"), {"reason": "late"}, token=w.parties["D1a"].token
    )
    assert cancel.status_code == 409
    kinds = [e["kind"] for e in current["history"]]
    assert kinds == ["issued", "acknowledged", "shipped", "received"]


def test_backordered_line_ships_later(chain):
    w = chain
    order = _po_from_d1a(w, lines=_lines(1))
    acked = _ack(
        w,
        order,
        decision="lines",
        lines=[{"line_no": 1, "status": "backordered", "promised_date": "2027-02-01"}],
    ).json()
    assert acked["lines"][0]["ack_code"] == "IB" and acked["status"] == "accepted_with_changes"
    assert _ship(w, acked, [{"line_no": 1, "qty": "10"}]).status_code == 201


def test_amend_resets_acknowledgment(chain):
    w = chain
    order = _po_from_d1a(w)
    acked = _ack(w, order, decision="accept").json()
    d1a = w.parties["D1a"]
    new_lines = _lines(2, qty="20")
    assert (
        w.api.post(
            w.path(f"/orders/{order['id']}/amend"),
            {"version": 1, "lines": new_lines},
            token=d1a.token,
        ).status_code
        == 409
    )
    assert (
        w.api.post(
            w.path(f"/orders/{order['id']}/amend"),
            {"version": acked["version"], "lines": new_lines},
            token=w.owner.token,
        ).status_code
        == 403
    )
    r = w.api.post(
        w.path(f"/orders/{order['id']}/amend"),
        {"version": acked["version"], "lines": new_lines},
        token=d1a.token,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "issued" and body["ack_code"] is None and body["version"] == 3
    assert [(ln["line_no"], ln["qty"], ln["ack_status"]) for ln in body["lines"]] == [
        (1, "20", "pending"),
        (2, "20", "pending"),
    ]
    assert [e["kind"] for e in body["history"]] == ["issued", "acknowledged", "amended"]


def test_cancel(chain):
    w = chain
    order = _po_from_d1a(w)
    d1a = w.parties["D1a"]
    url = w.path(f"/orders/{order['id']}/cancel")
    assert w.api.post(url, {"reason": "wrong"}, token=w.owner.token).status_code == 403
    assert w.api.post(url, {}, token=d1a.token).status_code == 422
    r = w.api.post(url, {"reason": "Ordered twice"}, token=d1a.token)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["cancel_reason"] == "Ordered twice"
    cancelled = r.json()
    assert w.api.post(url, {"reason": "again"}, token=d1a.token).status_code == 409
    assert _ack(w, cancelled, decision="accept").status_code == 409
    assert _ship(w, cancelled, [{"line_no": 1, "qty": "1"}]).status_code == 409
    assert (
        w.api.post(
            w.path(f"/orders/{order['id']}/amend"),
            {"version": cancelled["version"], "lines": _lines(1)},
            token=d1a.token,
        ).status_code
        == 409
    )


def test_visibility_and_listing(chain):
    w = chain
    p = w.parties
    mine = _po_from_d1a(w)
    other = _issue(w, p["D1b"].token, w.owner.org_id).json()
    sub = _issue(w, p["D2"].token, p["D1a"].org_id).json()
    assert w.api.get(w.path(f"/orders/{other['id']}"), token=p["D1a"].token).status_code == 404
    assert w.api.get(w.path(f"/orders/{mine['id']}"), token=p["D2"].token).status_code == 404
    assert w.api.get(w.path(f"/orders/{mine['id']}"), token=w.outsider.token).status_code == 404
    assert w.api.get(w.path(f"/orders/{mine['id']}")).status_code == 401

    def listed(token, query=""):
        r = w.api.get(w.path(f"/orders{query}"), token=token)
        assert r.status_code == 200, r.text
        return {o["id"] for o in r.json()["items"]}

    assert listed(p["D1a"].token) == {mine["id"], sub["id"]}
    assert listed(w.owner.token) == {mine["id"], other["id"], sub["id"]}
    assert listed(w.owner.token, f"?counterparty_id={p['D1b'].org_id}") == {other["id"]}
    _ack(w, mine, decision="accept")
    assert listed(w.owner.token, "?status=accepted") == {mine["id"]}
    assert listed(w.owner.token, "?from=2000-01-01&to=2100-01-01") == {
        mine["id"],
        other["id"],
        sub["id"],
    }
    assert listed(w.owner.token, "?to=2000-01-01") == set()
    summary = w.api.get(w.path("/orders?status=accepted"), token=w.owner.token).json()["items"][0]
    assert summary["line_count"] == 3 and summary["amount"] == "375.00"
    for bad in ("?status=lost", "?from=yesterday", "?page_size=0", "?counterparty_id=x"):
        assert w.api.get(w.path(f"/orders{bad}"), token=w.owner.token).status_code == 422, bad


def test_orders_app_must_be_granted(world):
    r = _issue(world, world.parties["D1a"].token, world.owner.org_id)
    assert r.status_code == 403
    assert world.api.get(world.path("/orders"), token=world.parties["D1a"].token).status_code == 403
    assert world.api.get(world.path("/orders"), token=world.owner.token).status_code == 200


def test_bad_order_input_saves_nothing(chain):
    w = chain
    d1a, owner = w.parties["D1a"].token, w.owner.org_id
    bad = [
        ({"lines": []}, "lines"),
        ({"lines": _lines(2001)}, "lines"),
        ({"lines": _lines(1, line_no=0)}, "line_no"),
        ({"lines": _lines(1, line_no="1")}, "line_no"),
        ({"lines": _lines(2, line_no=1)}, "line_no"),
        ({"lines": _lines(1, qty="0")}, "qty"),
        ({"lines": _lines(1, qty="-3")}, "qty"),
        ({"lines": _lines(1, qty="1.12345")}, "qty"),
        ({"lines": _lines(1, qty="1e400")}, "qty"),
        ({"lines": _lines(1, qty="123456789012345")}, "qty"),
        ({"lines": _lines(1, unit_price="-0.01")}, "unit_price"),
        ({"lines": _lines(1, requested_date="15/12/2026")}, "requested_date"),
        ({"lines": _lines(1, sku="")}, "sku"),
        ({"currency": "yuan"}, "currency"),
        ({"issuer_role": "broker"}, "issuer_role"),
        ({"counterparty_id": "999999"}, "counterparty_id"),
        ({"ack_due": "2001-01-01T00:00:00+00:00"}, "ack_due"),
    ]
    for overrides, needle in bad:
        body = {"counterparty_id": owner, "issuer_role": "buyer", "lines": _lines(), **overrides}
        r = w.api.post(w.path("/orders"), body, token=d1a)
        assert r.status_code == 422, (needle, r.text[:300])
        assert needle in str(r.json()["errors"]), (needle, r.json())
    assert w.api.get(w.path("/orders"), token=w.owner.token).json()["total"] == 0


def test_idempotent_create_and_shipment(chain):
    w = chain
    d1a = w.parties["D1a"]
    body = {"counterparty_id": w.owner.org_id, "issuer_role": "buyer", "lines": _lines()}
    headers = {"Idempotency-Key": "po-42"}
    first = w.api.post(w.path("/orders"), body, token=d1a.token, headers=headers)
    second = w.api.post(w.path("/orders"), body, token=d1a.token, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert w.api.get(w.path("/orders"), token=d1a.token).json()["total"] == 1
    acked = _ack(w, first.json(), decision="accept").json()
    ship_headers = {"Idempotency-Key": "dn-1"}
    for _ in range(3):
        r = w.api.post(
            w.path(f"/orders/{acked['id']}/shipments"),
            {"lines": [{"line_no": 1, "qty": "4"}]},
            token=w.owner.token,
            headers=ship_headers,
        )
        assert r.status_code == 201
    got = w.api.get(w.path(f"/orders/{acked['id']}"), token=w.owner.token).json()
    assert got["lines"][0]["shipped_qty"] == "4"


@pytest.mark.parametrize("round_", range(3))
def test_racing_acknowledgments_apply_once(chain, http_api, round_):
    w = chain
    order = _po_from_d1a(w)

    def ack():
        client = Api(http_api.base, w.owner.token)
        return client.post(
            w.path(f"/orders/{order['id']}/ack"), {"version": 1, "decision": "accept"}
        ).status_code

    codes = race(4, ack)
    assert sorted(codes) == [200, 409, 409, 409], codes
    got = w.api.get(w.path(f"/orders/{order['id']}"), token=w.owner.token).json()
    assert got["version"] == 2
    assert [e["kind"] for e in got["history"]] == ["issued", "acknowledged"]


@pytest.mark.parametrize("round_", range(3))
def test_racing_shipments_never_over_ship(chain, http_api, round_):
    w = chain
    order = _po_from_d1a(w, lines=_lines(1))
    _ack(w, order, decision="accept")

    def ship():
        client = Api(http_api.base, w.owner.token)
        return client.post(
            w.path(f"/orders/{order['id']}/shipments"), {"lines": [{"line_no": 1, "qty": "6"}]}
        ).status_code

    codes = race(4, ship)
    assert sorted(codes) == [201, 409, 409, 409], codes
    got = w.api.get(w.path(f"/orders/{order['id']}"), token=w.owner.token).json()
    assert got["lines"][0]["shipped_qty"] == "6"


def test_query_count_does_not_grow_with_lines(chain, count_queries):
    w = chain
    d1a = w.parties["D1a"]
    _po_from_d1a(w)  # warm caches
    counts = {}
    for n in (3, 60):
        with count_queries() as create:
            order = _po_from_d1a(w, lines=_lines(n))
        with count_queries() as ack:
            r = _ack(
                w,
                order,
                decision="lines",
                lines=[
                    {
                        "line_no": i + 1,
                        "status": "changed" if i % 2 else "accepted",
                        **({"qty": "5"} if i % 2 else {}),
                    }
                    for i in range(n)
                ],
            )
            assert r.status_code == 200, r.text
        counts[n] = (create.count, ack.count)
    assert counts[3] == counts[60], counts
    assert d1a


def test_extreme_amounts_stay_exact(chain):
    """14 integer digits and 4 decimals round-trip exactly on every database (no float)."""
    w = chain
    lines = [
        {"line_no": 1, "sku": "BIG", "qty": "99999999999999.9999", "unit_price": "0.0001"},
        {"line_no": 2, "sku": "ODD", "qty": "12345678901234.5678", "unit_price": "1"},
    ]
    order = _po_from_d1a(w, lines=lines)
    got = {ln["sku"]: ln["qty"] for ln in order["lines"]}
    assert got == {"BIG": "99999999999999.9999", "ODD": "12345678901234.5678"}
    listed = w.api.get(w.path("/orders"), token=w.owner.token).json()["items"][0]
    assert listed["amount"] == "12355678901234.5678"
    acked = _ack(w, order, decision="accept").json()
    shipped = _ship(w, acked, [{"line_no": 2, "qty": "12345678901234.5677"}])
    assert shipped.status_code == 201
    over = _ship(w, acked, [{"line_no": 2, "qty": "0.0002"}])
    assert over.status_code == 409
    assert _ship(w, acked, [{"line_no": 2, "qty": "0.0001"}]).status_code == 201
