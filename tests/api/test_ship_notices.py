"""Ship notices (送货单, ASN) through the API: issuing over several orders, SSCCs, cancelling,
receiving by package, line and scan, every refusal; the race on one line over real HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import Org
from tests.conftest import Api, race

OWNER_ZH = "华夏汽车制造有限公司"
DEALER_ZH = "北京华夏汽车销售服务有限公司"
PREFIX = "6901234"


def gs1_check(body: str) -> int:
    """The GS1 mod-10 check digit, computed here independently of the app: from the right,
    weights 3, 1, 3, ..."""
    weights = [3 if i % 2 == 0 else 1 for i in range(len(body))]
    total = sum(int(d) * w for d, w in zip(reversed(body), weights, strict=True))
    return (10 - total % 10) % 10


def with_check(body: str) -> str:
    return body + str(gs1_check(body))


def test_independent_check_digit_matches_gs1_examples():
    # GS1's published examples: SSCC 10614141123456789 -> 7, GTIN-13 629104150021 -> 3.
    assert gs1_check("10614141123456789") == 7
    assert gs1_check("629104150021") == 3


@pytest.fixture
def chain(world, app):
    """The owner sells to the dealers D1a and D1b; names in Chinese; the orders app shared."""
    world.share_app("orders")
    with app.app_context():
        db.session.execute(
            update(Org)
            .where(Org.id == int(world.owner.org_id))
            .values(name=OWNER_ZH, address="上海市嘉定区安亭镇墨玉路 88 号")
        )
        db.session.execute(
            update(Org)
            .where(Org.id == int(world.parties["D1a"].org_id))
            .values(name=DEALER_ZH, address="北京市朝阳区东三环北路 1 号")
        )
        db.session.commit()
    return world


def _lines(n=3, qty="10"):
    return [
        {
            "line_no": i + 1,
            "sku": f"SKU-{i + 1}",
            "description": f"刹车片 {i + 1}",
            "qty": qty,
            "unit": "pcs",
            "unit_price": "12.50",
        }
        for i in range(n)
    ]


def _order(w, buyer="D1a", n=3, qty="10"):
    """A dealer's PO to the owner, accepted by the owner."""
    party = w.parties[buyer]
    body = {"counterparty_id": w.owner.org_id, "issuer_role": "buyer", "lines": _lines(n, qty)}
    r = w.api.post(w.path("/orders"), body, token=party.token)
    assert r.status_code == 201, r.text
    order = r.json()
    r = w.api.post(
        w.path(f"/orders/{order['id']}/ack"),
        {"version": 1, "decision": "accept"},
        token=w.owner.token,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _prefix(w, prefix=PREFIX, token=None):
    return w.api.patch("/me/org", {"gs1_company_prefix": prefix}, token=token or w.owner.token)


def _notice(w, buyer="D1a", token=None, **body):
    body.setdefault("buyer_id", w.parties[buyer].org_id)
    return w.api.post(w.path("/ship-notices"), body, token=token or w.owner.token)


def _get_order(w, order):
    return w.api.get(w.path(f"/orders/{order['id']}"), token=w.owner.token).json()


def _shipped(w, order):
    return [line["shipped_qty"] for line in _get_order(w, order)["lines"]]


def _valid_sscc(sscc):
    return len(sscc) == 18 and sscc.isdigit() and int(sscc[17]) == gs1_check(sscc[:17])


def test_issue_over_several_orders_with_packages(chain):
    w = chain
    assert _prefix(w).status_code == 200
    a, b = _order(w), _order(w, n=2)
    r = _notice(
        w,
        carrier={"name": "顺丰速运", "code": "SF"},
        tracking_numbers=["SF1234567890"],
        packages=[{"ref": "P1"}, {"ref": "P2", "kind": "pallet", "weight_kg": "120.5"}],
        lines=[
            {"order_id": a["id"], "line_no": 1, "qty": "4", "package": "P1"},
            {"order_id": a["id"], "line_no": 1, "qty": "6", "package": "P2"},
            {"order_id": a["id"], "line_no": 2, "qty": "3", "package": "P1"},
            {"order_id": b["id"], "line_no": 2, "qty": "10", "package": "P2"},
        ],
    )
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["status"] == "issued" and notice["number"].startswith("SN-")
    assert notice["seller_id"] == w.owner.org_id and notice["buyer_id"] == w.parties["D1a"].org_id
    assert notice["carrier"] == {"name": "顺丰速运", "code": "SF"}
    assert notice["package_count"] == 2 and len(notice["lines"]) == 4
    ssccs = [p["sscc"] for p in notice["packages"]]
    for sscc in ssccs:
        assert _valid_sscc(sscc), sscc
        assert sscc[0] == "0" and sscc[1:8] == PREFIX
    assert int(ssccs[1][8:17]) == int(ssccs[0][8:17]) + 1
    assert notice["packages"][0]["label_code"] == f"(00){ssccs[0]}"
    assert sorted(notice["order_numbers"]) == sorted([a["number"], b["number"]])
    assert _shipped(w, a) == ["10", "3", "0"] and _shipped(w, b) == ["0", "10"]
    history = _get_order(w, a)["history"][-1]
    assert history["kind"] == "shipped" and history["data"]["ship_notice"] == notice["number"]
    # The next notice's serial follows; serials are never reused.
    again = _notice(
        w,
        packages=[{"ref": "X"}],
        lines=[{"order_id": a["id"], "line_no": 3, "qty": "1", "package": "X"}],
    ).json()
    assert int(again["packages"][0]["sscc"][8:17]) == int(ssccs[1][8:17]) + 1
    # Both parties list it; the owner sees it in its outgoing box, the dealer incoming.
    outgoing = w.api.get(w.path("/ship-notices?box=outgoing"), token=w.owner.token).json()
    incoming = w.api.get(w.path("/ship-notices?box=incoming"), token=w.parties["D1a"].token)
    assert outgoing["total"] == 2 and incoming.json()["total"] == 2
    by_order = w.api.get(w.path(f"/ship-notices?order_id={b['id']}"), token=w.owner.token).json()
    assert [n["number"] for n in by_order["items"]] == [notice["number"]]


def test_events_go_to_both_parties(chain):
    w = chain
    a = _order(w)
    notice = _notice(w, lines=[{"order_id": a["id"], "line_no": 1, "qty": "2"}]).json()
    for party in (w.owner, w.parties["D1a"]):
        feed = w.api.get(w.path("/events?type=ship_notice.issued"), token=party.token).json()
        assert [e["data"]["number"] for e in feed["items"]] == [notice["number"]]
    other = w.api.get(w.path("/events?type=ship_notice.issued"), token=w.parties["D1b"].token)
    assert other.json()["items"] == []
    w.api.post(w.path(f"/ship-notices/{notice['id']}/cancel"), {"reason": "x"}, token=w.owner.token)
    feed = w.api.get(w.path("/events?type=ship_notice.cancelled"), token=w.parties["D1a"].token)
    assert feed.json()["items"][0]["data"]["reason"] == "x"


def test_without_a_prefix_packages_carry_their_id(chain):
    w = chain
    a = _order(w)
    r = _notice(
        w,
        packages=[{"ref": "A"}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "1", "package": "A"}],
    )
    assert r.status_code == 201, r.text
    package = r.json()["packages"][0]
    assert package["sscc"] is None and package["label_code"] == f"PKG-{package['id']}"


def test_over_shipping_names_the_line_and_saves_nothing(chain):
    w = chain
    a = _order(w)
    r = _notice(
        w,
        lines=[
            {"order_id": a["id"], "line_no": 2, "qty": "1"},
            {"order_id": a["id"], "line_no": 1, "qty": "6"},
            {"order_id": a["id"], "line_no": 1, "qty": "5"},
        ],
    )
    assert r.status_code == 409, r.text
    errors = r.json()["errors"]["lines"]
    assert set(errors) == {"1", "2"} and "qty" in errors["2"]
    assert _shipped(w, a) == ["0", "0", "0"]
    assert w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["total"] == 0


def test_bad_input_is_refused_naming_the_field(chain):
    w = chain
    _prefix(w)
    a = _order(w)
    other_buyer = _order(w, buyer="D1b")
    good = {"order_id": a["id"], "line_no": 1, "qty": "1"}
    cases = [
        # (body changes, status, path into errors)
        ({"lines": [good, {**good, "order_id": other_buyer["id"]}]}, 422, ("lines", "1")),
        ({"lines": [{**good, "order_id": "999999"}]}, 422, ("lines", "0")),
        ({"lines": [{**good, "line_no": 9}]}, 422, ("lines", "0")),
        ({"lines": [{**good, "qty": "0"}]}, 422, ("lines", "0")),
        ({"lines": [{**good, "qty": "-1"}]}, 422, ("lines", "0")),
        ({"lines": [{**good, "package": "nope"}]}, 422, ("lines", "0")),
        ({"lines": [good] * 2001}, 422, ("lines",)),
        ({"lines": []}, 422, ("lines",)),
        ({"packages": [{"ref": "A"}, {"ref": "A"}], "lines": [good]}, 422, ("packages", "1")),
        ({"packages": [{"ref": "A", "sscc": "123"}], "lines": [good]}, 422, ("packages", "0")),
        (
            {"packages": [{"ref": "A", "sscc": "106141411234567890"}], "lines": [good]},
            422,
            ("packages", "0"),
        ),
        (
            {
                "packages": [
                    {"ref": "A", "sscc": with_check("10614141123456789")},
                    {"ref": "B", "sscc": with_check("10614141123456789")},
                ],
                "lines": [good],
            },
            422,
            ("packages", "1"),
        ),
        ({"packages": [{"ref": "A", "kind": "crate"}], "lines": [good]}, 422, ("packages", "0")),
        ({"buyer_id": w.owner.org_id, "lines": [good]}, 422, ("buyer_id",)),
        ({"lines": [good], "surprise": 1}, 422, ("surprise",)),
    ]
    for changes, status, path in cases:
        body = {"buyer_id": w.parties["D1a"].org_id, **changes}
        r = w.api.post(w.path("/ship-notices"), body, token=w.owner.token)
        assert r.status_code == status, (changes.keys(), r.text[:300])
        errors = r.json()["errors"]
        for key in path:
            errors = errors.get("json", errors) if key not in errors else errors
            assert key in errors, (path, r.json())
            errors = errors[key]
    # The buyer cannot issue a notice on the owner's orders: not its orders to ship.
    r = _notice(w, buyer="D1a", token=w.parties["D1a"].token, buyer_id=w.owner.org_id, lines=[good])
    assert r.status_code == 422 and "0" in r.json()["errors"]["lines"]
    assert w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["total"] == 0
    assert _shipped(w, a) == ["0", "0", "0"]


def test_supplied_sscc_used_again_is_409(chain):
    w = chain
    a = _order(w)
    sscc = with_check("10614141123456789")
    first = _notice(
        w,
        packages=[{"ref": "A", "sscc": sscc}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "1", "package": "A"}],
    )
    assert first.status_code == 201 and first.json()["packages"][0]["sscc"] == sscc
    again = _notice(
        w,
        packages=[{"ref": "A", "sscc": sscc}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "1", "package": "A"}],
    )
    assert again.status_code == 409 and "0" in again.json()["errors"]["packages"]
    assert _shipped(w, a)[0] == "1"


def test_org_prefix_validation(chain):
    w = chain
    for bad in ("123456", "12345678901", "12345a7", 1234567, ""):
        r = _prefix(w, bad)
        assert r.status_code == 422 and "gs1_company_prefix" in str(r.json()), bad
    staff = w.api.patch("/me/org", {"gs1_company_prefix": PREFIX}, token=w.owner_staff.token)
    assert staff.status_code == 403
    r = _prefix(w, "1234567890")
    assert r.status_code == 200 and r.json()["gs1_company_prefix"] == "1234567890"
    assert w.api.get("/me/org", token=w.owner.token).json()["gs1_company_prefix"] == "1234567890"
    assert _prefix(w, None).json()["gs1_company_prefix"] is None


def test_a_third_org_sees_nothing(chain):
    w = chain
    a = _order(w)
    notice = _notice(w, lines=[{"order_id": a["id"], "line_no": 1, "qty": "2"}]).json()
    d1b = w.parties["D1b"].token
    base = f"/ship-notices/{notice['id']}"
    assert w.api.get(w.path(base), token=d1b).status_code == 404
    assert w.api.get(w.path(base + "/labels.pdf"), token=d1b).status_code == 404
    assert w.api.get(w.path(base + "/delivery-note.pdf"), token=d1b).status_code == 404
    assert w.api.post(w.path(base + "/cancel"), {"reason": "x"}, token=d1b).status_code == 404
    r = w.api.post(w.path(base + "/receipts"), {"packages": ["1"]}, token=d1b)
    assert r.status_code == 404
    assert w.api.get(w.path("/ship-notices"), token=d1b).json()["total"] == 0
    assert w.api.get(w.path(base), token=w.outsider.token).status_code == 404
    # The owner's staff sees it (same org); the buyer too.
    assert w.api.get(w.path(base), token=w.parties["D1a"].token).status_code == 200


def test_cancel_gives_quantities_back_once(chain):
    w = chain
    a = _order(w)
    notice = _notice(w, lines=[{"order_id": a["id"], "line_no": 1, "qty": "10"}]).json()
    cancel = w.path(f"/ship-notices/{notice['id']}/cancel")
    assert w.api.post(cancel, {"reason": "x"}, token=w.parties["D1a"].token).status_code == 403
    r = w.api.post(cancel, {"reason": "Truck broke down"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "Truck broke down"
    assert _shipped(w, a) == ["0", "0", "0"]
    stale = w.api.post(cancel, {"reason": "again"}, token=w.owner.token)
    assert stale.status_code == 409
    assert _shipped(w, a) == ["0", "0", "0"]
    # The quantity is shippable again.
    again = _notice(w, lines=[{"order_id": a["id"], "line_no": 1, "qty": "10"}])
    assert again.status_code == 201
    # Once anything is received, no cancel.
    rid = again.json()["id"]
    r = w.api.post(
        w.path(f"/ship-notices/{rid}/receipts"),
        {"lines": [{"order_id": a["id"], "line_no": 1, "qty": "1"}]},
        token=w.parties["D1a"].token,
    )
    assert r.status_code == 201, r.text
    late = w.api.post(w.path(f"/ship-notices/{rid}/cancel"), {"reason": "x"}, token=w.owner.token)
    assert late.status_code == 409
    assert _shipped(w, a)[0] == "10"


def test_receipts_by_package_and_line(chain):
    w = chain
    _prefix(w)
    a = _order(w)
    notice = _notice(
        w,
        packages=[{"ref": "P1"}, {"ref": "P2"}],
        lines=[
            {"order_id": a["id"], "line_no": 1, "qty": "4", "package": "P1"},
            {"order_id": a["id"], "line_no": 2, "qty": "5", "package": "P2"},
            {"order_id": a["id"], "line_no": 3, "qty": "6"},
        ],
    ).json()
    d1a = w.parties["D1a"].token
    receipts = w.path(f"/ship-notices/{notice['id']}/receipts")
    p1, p2 = notice["packages"]
    assert w.api.post(receipts, {"packages": [p1["sscc"]]}, token=w.owner.token).status_code == 403
    r = w.api.post(receipts, {"packages": [p1["sscc"]]}, token=d1a)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["status"] == "partially_received"
    assert got["received"]["packages"][0]["sscc"] == p1["sscc"]
    assert got["received"]["lines"] == [{"seq": 1, "order_id": a["id"], "line_no": 1, "qty": "4"}]
    twice = w.api.post(receipts, {"packages": [p1["sscc"]]}, token=d1a)
    assert twice.status_code == 409
    over = w.api.post(
        receipts, {"lines": [{"order_id": a["id"], "line_no": 3, "qty": "7"}]}, token=d1a
    )
    assert over.status_code == 409 and "0" in over.json()["errors"]["lines"]
    unknown = w.api.post(receipts, {"packages": ["PKG-999999"]}, token=d1a)
    assert unknown.status_code == 422
    part = w.api.post(
        receipts, {"lines": [{"order_id": a["id"], "line_no": 3, "qty": "2.5"}]}, token=d1a
    )
    assert part.status_code == 201
    rest = w.api.post(
        receipts,
        {
            "packages": [p2["id"]],
            "lines": [{"order_id": a["id"], "line_no": 3, "qty": "3.5"}],
        },
        token=d1a,
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["status"] == "received"
    order = _get_order(w, a)
    assert [line["received_qty"] for line in order["lines"]] == ["4", "5", "6"]
    assert [e["kind"] for e in order["history"]][-3:] == ["received"] * 3
    assert w.api.post(receipts, {"packages": [p2["sscc"]]}, token=d1a).status_code == 409


SCAN_FORMS = [
    lambda s: "00" + s,
    lambda s: s,
    lambda s: "(00)" + s,
    lambda s: "]C100" + s,
    lambda s: "\x1d00" + s,
    lambda s: "]C1\x1d00" + s + "\n",
]


def test_scan_receives_the_package_in_every_scanner_form(chain):
    w = chain
    _prefix(w)
    a = _order(w, n=len(SCAN_FORMS))
    packages = [{"ref": f"P{i}"} for i in range(len(SCAN_FORMS))]
    lines = [
        {"order_id": a["id"], "line_no": i + 1, "qty": "10", "package": f"P{i}"}
        for i in range(len(SCAN_FORMS))
    ]
    notice = _notice(w, packages=packages, lines=lines).json()
    d1a = w.parties["D1a"].token
    scan = w.path("/receipts/scan")
    first = notice["packages"][0]["sscc"]
    bad_check = first[:17] + str((int(first[17]) + 1) % 10)
    for code in (bad_check, "00" + bad_check, "hello", "", "]C1", "(00)123", "0" * 25):
        r = w.api.post(scan, {"code": code}, token=d1a)
        assert r.status_code == 422 and "code" in str(r.json()["errors"]), (code, r.text)
    # Not the buyer: unknown to the seller's scan, and to a third org.
    assert w.api.post(scan, {"code": first}, token=w.owner.token).status_code == 422
    assert w.api.post(scan, {"code": first}, token=w.parties["D1b"].token).status_code == 422
    assert _get_order(w, a)["lines"][0]["received_qty"] == "0"
    for form, package in zip(SCAN_FORMS, notice["packages"], strict=True):
        r = w.api.post(scan, {"code": form(package["sscc"])}, token=d1a)
        assert r.status_code == 200, (repr(form(package["sscc"])), r.text)
        assert r.json()["received"]["packages"][0]["id"] == package["id"]
        assert w.api.post(scan, {"code": package["sscc"]}, token=d1a).status_code == 409
    assert r.json()["status"] == "received"
    assert all(line["received_qty"] == "10" for line in _get_order(w, a)["lines"])


def test_scan_of_a_package_id_without_sscc(chain):
    w = chain
    a = _order(w)
    notice = _notice(
        w,
        packages=[{"ref": "A"}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "3", "package": "A"}],
    ).json()
    code = notice["packages"][0]["label_code"]
    r = w.api.post(w.path("/receipts/scan"), {"code": code}, token=w.parties["D1a"].token)
    assert r.status_code == 200, r.text
    assert _get_order(w, a)["lines"][0]["received_qty"] == "3"


def test_existing_shipments_are_one_order_notices(chain):
    w = chain
    a = _order(w)
    r = w.api.post(
        w.path(f"/orders/{a['id']}/shipments"),
        {"lines": [{"line_no": 2, "qty": "3"}], "ref": "DN-7"},
        token=w.owner.token,
    )
    assert r.status_code == 201, r.text
    notices = w.api.get(w.path(f"/ship-notices?order_id={a['id']}"), token=w.owner.token).json()
    assert notices["total"] == 1
    notice = w.api.get(
        w.path(f"/ship-notices/{notices['items'][0]['id']}"), token=w.parties["D1a"].token
    ).json()
    assert notice["packages"] == [] and notice["ref"] == "DN-7"
    assert [(x["line_no"], x["qty"]) for x in notice["lines"]] == [(2, "3")]


def test_a_seller_gives_a_number_once(chain):
    w = chain
    a = _order(w, n=1)
    line = [{"order_id": a["id"], "line_no": 1, "qty": "1"}]
    first = _notice(w, number="ASN-7", lines=line)
    assert first.status_code == 201 and first.json()["number"] == "ASN-7"
    again = _notice(w, number="ASN-7", lines=line)
    assert again.status_code == 409 and again.json()["errors"] == {"number": ["Taken."]}
    assert _shipped(w, a) == ["1"]
    generated = _notice(w, lines=line).json()["number"]
    assert generated.startswith("SN-") and generated != "ASN-7"


def test_idempotent_issue(chain):
    w = chain
    a = _order(w)
    body = {
        "buyer_id": w.parties["D1a"].org_id,
        "lines": [{"order_id": a["id"], "line_no": 1, "qty": "2"}],
    }
    headers = {"Idempotency-Key": "asn-1"}
    first = w.api.post(w.path("/ship-notices"), body, token=w.owner.token, headers=headers)
    second = w.api.post(w.path("/ship-notices"), body, token=w.owner.token, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert _shipped(w, a)[0] == "2"
    changed = w.api.post(
        w.path("/ship-notices"), {**body, "number": "X"}, token=w.owner.token, headers=headers
    )
    assert changed.status_code == 409


def test_issuing_costs_a_fixed_number_of_statements(chain, count_queries):
    w = chain
    _prefix(w)
    small = [_order(w, n=3)]
    large = [_order(w, n=20) for _ in range(4)]
    counts = []
    for orders in (small, large):
        lines = [
            {"order_id": o["id"], "line_no": line["line_no"], "qty": "1", "package": "P"}
            for o in orders
            for line in o["lines"]
        ]
        body = {"buyer_id": w.parties["D1a"].org_id, "packages": [{"ref": "P"}], "lines": lines}
        with count_queries() as counter:
            r = w.api.post(w.path("/ship-notices"), body, token=w.owner.token)
        assert r.status_code == 201, r.text
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("round_", range(2))
def test_racing_notices_on_one_line_ship_once(chain, http_api, round_):
    w = chain
    a = _order(w, n=1)
    body = {
        "buyer_id": w.parties["D1a"].org_id,
        "packages": [{"ref": "P"}],
        "lines": [{"order_id": a["id"], "line_no": 1, "qty": "7", "package": "P"}],
    }

    def issue():
        return Api(http_api.base, w.owner.token).post(w.path("/ship-notices"), body).status_code

    codes = race(3, issue)
    assert sorted(codes) == [201, 409, 409], codes
    assert _shipped(w, a) == ["7"]
    assert w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["total"] == 1


def test_scan_of_an_sscc_two_sellers_used_is_refused(chain):
    """SSCCs are unique per seller only: the owner and S1 both ship to D1a under one code. A scan
    never picks one seller's package over the other's; the package id path still works."""
    w = chain
    d1a = w.parties["D1a"].token
    sscc = with_check("10614141123456789")
    a = _order(w)
    mine = _notice(
        w,
        packages=[{"ref": "A", "sscc": sscc}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "2", "package": "A"}],
    )
    assert mine.status_code == 201, mine.text
    s1 = w.parties["S1"]
    link = {"supplier_id": s1.org_id, "customer_id": w.parties["D1a"].org_id}
    assert w.api.post(w.path("/links"), link, token=w.owner.token).status_code == 201
    body = {"counterparty_id": s1.org_id, "issuer_role": "buyer", "lines": _lines(1)}
    r = w.api.post(w.path("/orders"), body, token=d1a)
    assert r.status_code == 201, r.text
    b = r.json()
    r = w.api.post(
        w.path(f"/orders/{b['id']}/ack"), {"version": 1, "decision": "accept"}, token=s1.token
    )
    assert r.status_code == 200, r.text
    theirs = _notice(
        w,
        token=s1.token,
        packages=[{"ref": "A", "sscc": sscc}],
        lines=[{"order_id": b["id"], "line_no": 1, "qty": "4", "package": "A"}],
    )
    assert theirs.status_code == 201, theirs.text
    scan = w.path("/receipts/scan")
    for _ in range(2):
        r = w.api.post(scan, {"code": sscc}, token=d1a)
        assert r.status_code == 409, r.text
        said = str(r.json()["errors"]["code"])
        assert mine.json()["number"] in said and theirs.json()["number"] in said
    assert _get_order(w, a)["lines"][0]["received_qty"] == "0"
    assert (
        w.api.get(w.path(f"/orders/{b['id']}"), token=d1a).json()["lines"][0]["received_qty"] == "0"
    )
    # The notice page receives the owner's package; the scan still refuses, and S1's stays.
    mine = mine.json()
    r = w.api.post(w.path(f"/ship-notices/{mine['id']}/receipts"), {"packages": [sscc]}, token=d1a)
    assert r.status_code == 201, r.text
    assert w.api.post(scan, {"code": sscc}, token=d1a).status_code == 409
    assert (
        w.api.get(w.path(f"/orders/{b['id']}"), token=d1a).json()["lines"][0]["received_qty"] == "0"
    )
    # Each package's own id still names it alone.
    package = theirs.json()["packages"][0]
    r = w.api.post(scan, {"code": f"PKG-{package['id']}"}, token=d1a)
    assert r.status_code == 200, r.text
    assert r.json()["received"]["packages"][0]["id"] == package["id"]
    assert w.api.post(scan, {"code": f"PKG-{package['id']}"}, token=d1a).status_code == 409


FAR = "9999-12-31T23:00:00Z"  # past year 9999 in the chain's +8 timezone


def test_times_past_year_9999_in_the_chain_timezone_are_422(chain):
    w = chain
    a = _order(w)
    line = [{"order_id": a["id"], "line_no": 1, "qty": "1"}]
    for field in ("shipped_at", "expected_at"):
        r = _notice(w, lines=line, **{field: FAR})
        assert r.status_code == 422 and field in r.json()["errors"], r.text
    r = w.api.post(
        w.path(f"/orders/{a['id']}/shipments"),
        {"lines": [{"line_no": 1, "qty": "1"}], "shipped_at": FAR},
        token=w.owner.token,
    )
    assert r.status_code == 422 and "shipped_at" in r.json()["errors"], r.text
    assert _shipped(w, a) == ["0", "0", "0"]
    assert w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["total"] == 0
    # The last hour of 9999 in Shanghai is fine.
    r = _notice(
        w, lines=line, shipped_at="9999-12-31T15:00:00Z", expected_at="9999-12-31T15:59:00Z"
    )
    assert r.status_code == 201, r.text
