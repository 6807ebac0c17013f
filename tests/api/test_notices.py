"""Supply and demand notices through the API: fan-out, inbox, read/ack/response, isolation."""

from urllib.parse import parse_qsl

import pytest

from supplychain.access import chain_access
from supplychain.auth import actor_from_token
from supplychain.extensions import db
from supplychain.schemas.notices import NoticePageSchema
from supplychain.services.inbox import inbox_page
from tests.conftest import activate, add_member


@pytest.fixture
def chain(world):
    r = world.api.post(
        world.path("/grants"), {"app": "notices", "scope": {"type": "all"}}, token=world.owner.token
    )
    assert r.status_code == 201
    return world


def _notice(**overrides):
    body = {
        "kind": "supply",
        "title": "120 units of Model X for December",
        "body": "Allocation by first confirmation.",
        "items": [
            {
                "sku": "MX-100",
                "qty": "120",
                "unit": "pcs",
                "unit_price": "99500.00",
                "available_from": "2026-12-01",
                "available_until": "2026-12-31",
            },
            {"sku": "MX-200", "qty": 40, "unit": "pcs"},
        ],
        "audience": {"tiers": ["D1"]},
        "requires_ack": True,
    }
    body.update(overrides)
    return body


def _send(w, token=None, **overrides):
    r = w.api.post(w.path("/notices"), _notice(**overrides), token=token or w.owner.token)
    return r


def test_broadcast_to_a_tier(chain):
    w = chain
    r = _send(w)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["recipients"] == 2 and body["kind"] == "supply"
    assert body["items"][0]["qty"] == "120" and body["items"][0]["unit_price"] == "99500.00"
    assert body["items"][1]["available_from"] is None
    assert body["totals"] == {"recipients": 2, "read": 0, "acked": 0, "responded": 0}
    for key, expected in (("D1a", 1), ("D1b", 1), ("D2", 0), ("S1", 0)):
        inbox = w.api.get(w.path("/notices"), token=w.parties[key].token).json()
        assert inbox["total"] == expected, key


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (lambda w: {"all": True}, {"S1", "D1a", "D1b", "D2"}),
        (lambda w: {"groups": ["Dealers/North China"]}, {"D1a", "D2"}),
        (lambda w: {"orgs": [w.parties["S1"].org_id]}, {"S1"}),
        (
            lambda w: {
                "tiers": ["U1"],
                "orgs": [w.parties["D2"].org_id],
                "groups": ["Dealers/East China"],
            },
            {"S1", "D2", "D1b"},
        ),
        # The sender never receives its own notice.
        (lambda w: {"orgs": [w.owner.org_id, w.parties["D2"].org_id]}, {"D2"}),
    ],
)
def test_audience_is_a_union_minus_sender(chain, audience, expected):
    w = chain
    r = _send(w, audience=audience(w))
    assert r.status_code == 201, r.text
    recipients = w.api.get(w.path(f"/notices/{r.json()['id']}/recipients"), token=w.owner.token)
    got = {item["org_id"] for item in recipients.json()["items"]}
    assert got == {w.parties[k].org_id for k in expected}
    assert r.json()["recipients"] == len(expected)


def test_read_is_recorded_once_per_org(chain, app):
    w = chain
    nid = _send(w).json()["id"]
    d1a = w.parties["D1a"]
    colleague = w.api.post(
        w.path(f"/members/{d1a.org_id}/contacts"),
        {"name": "Colleague", "email": "colleague@bj.example"},
        token=d1a.token,
    )
    colleague_token = activate(w.api, colleague.json()["invite_code"])
    unread = w.api.get(w.path("/notices?state=unread"), token=d1a.token).json()
    assert [n["id"] for n in unread["items"]] == [nid] and unread["items"][0]["read"] is False
    first = w.api.get(w.path(f"/notices/{nid}"), token=d1a.token)
    assert first.status_code == 200
    read_at = first.json()["my"]["read_at"]
    assert read_at is not None
    again = w.api.get(w.path(f"/notices/{nid}"), token=colleague_token).json()
    assert again["my"]["read_at"] == read_at
    assert w.api.get(w.path("/notices?state=unread"), token=d1a.token).json()["total"] == 0
    tracking = w.api.get(
        w.path(f"/notices/{nid}/recipients?status=read"), token=w.owner.token
    ).json()
    assert [i["org_id"] for i in tracking["items"]] == [d1a.org_id]
    assert tracking["totals"]["read"] == 1
    # The sender's own GET does not count as a read.
    w.api.get(w.path(f"/notices/{nid}"), token=w.owner.token)
    assert (
        w.api.get(w.path(f"/notices/{nid}/recipients"), token=w.owner.token).json()["totals"][
            "read"
        ]
        == 1
    )


def test_ack_is_idempotent_and_filters(chain):
    w = chain
    nid = _send(w).json()["id"]
    d1b = w.parties["D1b"]
    assert w.api.get(w.path("/notices?state=unacked"), token=d1b.token).json()["total"] == 1
    first = w.api.post(w.path(f"/notices/{nid}/ack"), {"note": "Will order 20"}, token=d1b.token)
    assert first.status_code == 201, first.text
    second = w.api.post(w.path(f"/notices/{nid}/ack"), {"note": "changed my mind"}, token=d1b.token)
    assert second.status_code == 200
    assert second.json()["acked_at"] == first.json()["acked_at"]
    assert second.json()["note"] == "Will order 20"
    assert first.json()["read_at"] is not None  # acknowledging implies having read it
    assert w.api.get(w.path("/notices?state=unacked"), token=d1b.token).json()["total"] == 0
    sent = w.api.get(w.path("/notices?box=sent"), token=w.owner.token).json()["items"][0]
    assert sent["counts"] == {"recipients": 2, "read": 1, "acked": 1, "responded": 0}


def test_responses_and_sums_per_sku(chain):
    w = chain
    nid = _send(w, kind="demand", title="Need brake pads").json()["id"]
    a, b = w.parties["D1a"], w.parties["D1b"]
    r = w.api.post(
        w.path(f"/notices/{nid}/responses"),
        {"items": [{"sku": "MX-100", "qty": "10.5"}, {"sku": "MX-200", "qty": 3}]},
        token=a.token,
    )
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["qty"] == "10.5"
    w.api.post(
        w.path(f"/notices/{nid}/responses"),
        {"items": [{"sku": "MX-100", "qty": "4"}]},
        token=b.token,
    )
    # A second answer from the same org replaces its first one.
    w.api.post(
        w.path(f"/notices/{nid}/responses"),
        {"items": [{"sku": "MX-100", "qty": "12"}], "note": "revised"},
        token=a.token,
    )
    tracking = w.api.get(w.path(f"/notices/{nid}/recipients"), token=w.owner.token).json()
    assert tracking["responses_by_sku"] == [{"sku": "MX-100", "qty": "16"}]
    assert tracking["totals"]["responded"] == 2
    mine = w.api.get(w.path(f"/notices/{nid}"), token=a.token).json()["my"]["response"]
    assert mine["note"] == "revised" and mine["items"] == [{"sku": "MX-100", "qty": "12"}]
    bad = [
        {"items": [{"sku": "NOPE", "qty": 1}]},
        {"items": [{"sku": "MX-100", "qty": 1}, {"sku": "MX-100", "qty": 2}]},
        {"items": [{"sku": "MX-100", "qty": -1}]},
        {"items": [{"sku": "MX-100", "qty": "0"}]},
        {"items": [{"sku": "MX-100", "qty": "1.23456"}]},
        {"items": []},
    ]
    for body in bad:
        res = w.api.post(w.path(f"/notices/{nid}/responses"), body, token=b.token)
        assert res.status_code == 422, (body, res.text)
    tracking = w.api.get(w.path(f"/notices/{nid}/recipients"), token=w.owner.token).json()
    assert tracking["responses_by_sku"] == [{"sku": "MX-100", "qty": "16"}]


def test_isolation_between_recipients(chain):
    w = chain
    nid = _send(w).json()["id"]
    a, b = w.parties["D1a"], w.parties["D1b"]
    w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=a.token)
    w.api.post(
        w.path(f"/notices/{nid}/responses"), {"items": [{"sku": "MX-100", "qty": 7}]}, token=a.token
    )
    seen_by_b = w.api.get(w.path(f"/notices/{nid}"), token=b.token).json()
    assert seen_by_b["my"]["acked_at"] is None and seen_by_b["my"]["response"] is None
    assert seen_by_b["totals"] is None
    # Recipients may not see the tracking view; non-recipients do not see the notice at all.
    assert w.api.get(w.path(f"/notices/{nid}/recipients"), token=b.token).status_code == 403
    for party in (w.parties["D2"], w.parties["S1"]):
        assert w.api.get(w.path(f"/notices/{nid}"), token=party.token).status_code == 404
        assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=party.token).status_code == 404
    assert w.api.get(w.path(f"/notices/{nid}"), token=w.outsider.token).status_code == 404
    assert w.api.get(w.path(f"/notices/{nid}")).status_code == 401
    assert w.api.get(w.path("/notices/999999"), token=a.token).status_code == 404
    # The sender cannot acknowledge its own notice: it is no recipient.
    assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=w.owner.token).status_code == 404


def test_withdraw(chain):
    w = chain
    nid = _send(w).json()["id"]
    a, b = w.parties["D1a"], w.parties["D1b"]
    w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=a.token)
    assert w.api.post(w.path(f"/notices/{nid}/withdraw"), token=a.token).status_code == 403
    r = w.api.post(w.path(f"/notices/{nid}/withdraw"), token=w.owner_staff.token)
    assert r.status_code == 200 and r.json()["withdrawn"] is True
    assert w.api.post(w.path(f"/notices/{nid}/withdraw"), token=w.owner.token).status_code == 409
    assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=b.token).status_code == 409
    assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=a.token).status_code == 200
    assert (
        w.api.post(
            w.path(f"/notices/{nid}/responses"),
            {"items": [{"sku": "MX-100", "qty": 1}]},
            token=b.token,
        ).status_code
        == 409
    )
    still = w.api.get(w.path(f"/notices/{nid}"), token=b.token)
    assert still.status_code == 200 and still.json()["withdrawn"] is True
    assert w.api.get(w.path("/notices?state=unacked"), token=b.token).json()["total"] == 0


def test_partner_audience_rules(chain):
    w = chain
    d1a, d2 = w.parties["D1a"], w.parties["D2"]
    to_owner = _send(w, token=d1a.token, kind="demand", audience={"orgs": [w.owner.org_id]})
    assert to_owner.status_code == 201, to_owner.text
    to_linked = _send(w, token=d1a.token, audience={"orgs": [d2.org_id]})
    assert to_linked.status_code == 201
    assert w.api.get(w.path("/notices"), token=d2.token).json()["total"] == 1
    to_stranger = _send(w, token=d1a.token, audience={"orgs": [w.parties["D1b"].org_id]})
    assert to_stranger.status_code == 403
    for audience in ({"tiers": ["D2"]}, {"all": True}, {"groups": ["Dealers"]}):
        assert _send(w, token=d1a.token, audience=audience).status_code == 403
    owner_inbox = w.api.get(w.path("/notices"), token=w.owner.token).json()
    assert owner_inbox["total"] == 1 and owner_inbox["items"][0]["kind"] == "demand"


def test_bad_notices_save_nothing(chain):
    w = chain
    long_body = "x" * 20_001
    bad = [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"body": long_body}, "body"),
        ({"kind": "rumour"}, "kind"),
        ({"items": [{"sku": "A", "qty": "-5"}]}, "qty"),
        ({"items": [{"sku": "A", "qty": "1e400"}]}, "qty"),
        ({"items": [{"sku": "A", "qty": "123456789012345"}]}, "qty"),
        ({"items": [{"sku": "A", "qty": "1.00001"}]}, "qty"),
        ({"items": [{"sku": "A", "qty": "NaN"}]}, "qty"),
        ({"items": [{"sku": "A", "qty": 1, "unit_price": "-1"}]}, "unit_price"),
        ({"items": [{"sku": "A", "qty": 1, "available_from": "2026-13-01"}]}, "available_from"),
        (
            {
                "items": [
                    {
                        "sku": "A",
                        "qty": 1,
                        "available_from": "2026-12-10",
                        "available_until": "2026-12-01",
                    }
                ]
            },
            "available_until",
        ),
        ({"items": [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 2}]}, "sku"),
        ({"items": [{"sku": "A", "qty": 1}] * 501}, "items"),
        ({"audience": {"tiers": ["D9", "X1"]}}, "D9"),
        ({"audience": {"groups": ["Nowhere/Else"]}}, "Nowhere/Else"),
        ({"audience": {"orgs": ["999999"]}}, "999999"),
        ({"audience": {"orgs": [w.owner.org_id]}}, "audience"),
        ({"audience": {}}, "audience"),
        ({"audience": {"planets": ["Mars"]}}, "planets"),
        ({"ack_due": "2020-01-01T00:00:00+00:00"}, "ack_due"),
        ({"ack_due": "2030-01-01T00:00:00"}, "ack_due"),
        ({"requires_ack": False, "ack_due": "2030-01-01T00:00:00+00:00"}, "ack_due"),
    ]
    for overrides, needle in bad:
        r = _send(w, **overrides)
        assert r.status_code == 422, (
            overrides if len(str(overrides)) < 300 else needle,
            r.text[:300],
        )
        assert needle in str(r.json()["errors"]), (needle, r.json()["errors"])
    assert w.api.get(w.path("/notices?box=sent"), token=w.owner.token).json()["total"] == 0
    r = w.api.post(
        w.path("/notices"),
        data=b'{"kind": "supply",',
        token=w.owner.token,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400


def test_access_ends_with_grant_or_membership(chain):
    w = chain
    nid = _send(w).json()["id"]
    d1a = w.parties["D1a"]
    grants = w.api.get(w.path("/grants"), token=w.owner.token).json()["items"]
    w.api.delete(w.path(f"/grants/{grants[0]['id']}"), token=w.owner.token)
    assert w.api.get(w.path(f"/notices/{nid}"), token=d1a.token).status_code == 403
    w.api.post(
        w.path("/grants"),
        {"app": "notices", "scope": {"type": "tier", "value": "D1"}},
        token=w.owner.token,
    )
    assert w.api.get(w.path(f"/notices/{nid}"), token=d1a.token).status_code == 200
    w.api.delete(w.path(f"/members/{d1a.org_id}"), token=w.owner.token)
    assert w.api.get(w.path(f"/notices/{nid}"), token=d1a.token).status_code == 404
    assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=d1a.token).status_code == 404


def test_fan_out_is_one_bulk_insert(chain, count_queries):
    w = chain
    for i in range(10):
        add_member(
            w.api,
            w.owner,
            w.chain_id,
            f"Extra {i}",
            "dealer",
            f"EX-{i}",
            "Dealers/Extra",
            f"ex{i}@x.example",
        )
    _send(w, audience={"orgs": [w.parties["D2"].org_id]})  # warm the graph cache
    counts = []
    for audience in ({"groups": ["Dealers/East China"]}, {"groups": ["Dealers"]}):
        with count_queries() as counter:
            r = _send(w, audience=audience)
        assert r.status_code == 201
        inserts = [s for s in counter.statements if s.startswith("INSERT INTO notice_recipients")]
        assert len(inserts) == 1
        counts.append(counter.count)
    assert r.json()["recipients"] == 13
    assert counts[0] == counts[1]


def test_inbox_is_fixed_cost(chain, count_queries):
    w = chain
    for i in range(12):
        _send(w, title=f"Notice {i}")
    d1a = w.parties["D1a"]
    w.api.get(w.path("/notices"), token=d1a.token)
    counts = []
    for size in (2, 10):
        with count_queries() as counter:
            r = w.api.get(w.path(f"/notices?page_size={size}"), token=d1a.token)
        assert len(r.json()["items"]) == size
        counts.append(counter.count)
    assert counts[0] == counts[1]
    sent_counts = []
    for size in (2, 10):
        with count_queries() as counter:
            w.api.get(w.path(f"/notices?box=sent&page_size={size}"), token=w.owner.token)
        sent_counts.append(counter.count)
    assert sent_counts[0] == sent_counts[1]


def test_response_sums_are_exact(chain):
    w = chain
    nid = _send(w, items=[{"sku": "MX-100", "qty": "1"}]).json()["id"]
    for key in ("D1a", "D1b"):
        r = w.api.post(
            w.path(f"/notices/{nid}/responses"),
            {"items": [{"sku": "MX-100", "qty": "99999999999999.9999"}]},
            token=w.parties[key].token,
        )
        assert r.status_code == 201
    tracking = w.api.get(w.path(f"/notices/{nid}/recipients"), token=w.owner.token).json()
    assert tracking["responses_by_sku"] == [{"sku": "MX-100", "qty": "199999999999999.9998"}]


def test_inbox_of_an_org_in_two_chains_keeps_them_apart(chain):
    """A dealer that also belongs to a rival manufacturer's chain sees, in each chain, only the
    notices of that chain: in totals, in every state filter and on the notice itself."""
    w = chain
    d1a, rival = w.parties["D1a"], w.outsider
    ours = _send(w, audience={"orgs": [d1a.org_id]}).json()["id"]
    other = w.api.post("/chains", {"name": "Rival chain"}, token=rival.token).json()["id"]
    added = w.api.post(
        f"/chains/{other}/members", {"org_id": d1a.org_id, "custom_id": "R1"}, token=rival.token
    )
    assert added.status_code == 201, added.text
    grant = {"app": "notices", "scope": {"type": "all"}}
    assert w.api.post(f"/chains/{other}/grants", grant, token=rival.token).status_code == 201
    theirs = w.api.post(
        f"/chains/{other}/notices", _notice(audience={"orgs": [d1a.org_id]}), token=rival.token
    )
    assert theirs.status_code == 201, theirs.text
    theirs_id = theirs.json()["id"]
    for state in ("", "?state=unread", "?state=unacked"):
        mine = w.api.get(w.path(f"/notices{state}"), token=d1a.token).json()
        assert [n["id"] for n in mine["items"]] == [ours] and mine["total"] == 1, state
        there = w.api.get(f"/chains/{other}/notices{state}", token=d1a.token).json()
        assert [n["id"] for n in there["items"]] == [theirs_id] and there["total"] == 1, state
    assert w.api.get(w.path(f"/notices/{theirs_id}"), token=d1a.token).status_code == 404


def test_inbox_response_is_the_documented_schema_dump(chain, app):
    """The inbox skips marshmallow for speed; over HTTP it says exactly what NoticePageSchema
    says of the same page, for read, acked, responded, withdrawn and untouched notices."""
    w = chain
    d1a = w.parties["D1a"]
    ids = [_send(w, title=f"Notice {i}").json()["id"] for i in range(5)]
    assert w.api.get(w.path(f"/notices/{ids[0]}"), token=d1a.token).status_code == 200
    assert w.api.post(w.path(f"/notices/{ids[1]}/ack"), {}, token=d1a.token).status_code == 201
    answer = {"items": [{"sku": "MX-100", "qty": "3"}]}
    assert w.api.post(w.path(f"/notices/{ids[2]}/responses"), answer, token=d1a.token).ok
    assert w.api.post(w.path(f"/notices/{ids[3]}/withdraw"), token=w.owner.token).ok
    for query in ("?page_size=3&page=2", "?page_size=10", "?state=unacked", "?state=unread"):
        live = w.api.get(w.path(f"/notices{query}"), token=d1a.token).json()
        with app.test_request_context():
            access = chain_access(
                db.session, actor_from_token(db.session, d1a.token), int(w.chain_id)
            )
            page = inbox_page(
                db.session,
                access,
                dict(parse_qsl(query[1:])).get("state"),
                live["page"],
                live["page_size"],
            )
            expected = NoticePageSchema().dump(page.envelope())
            db.session.rollback()
        assert live == expected, query
        assert live["items"], query
    # Past the last page: no rows, the total still counted.
    beyond = w.api.get(w.path("/notices?page_size=3&page=9"), token=d1a.token).json()
    assert beyond["items"] == [] and beyond["total"] == 5 and beyond["page"] == 9
    unacked = w.api.get(w.path("/notices?state=unacked&page=4"), token=d1a.token).json()
    assert unacked["items"] == [] and unacked["total"] == 3
