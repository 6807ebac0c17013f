"""Events written with the change: who each event type reaches (and who it must not), the
deliveries it queues, the pull feed and people's email preferences."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models.events import (
    Delivery,
    Event,
    EventRecipient,
    WebhookEndpoint,
)
from supplychain.services.events import next_digest_at, publish_ping
from tests.conftest import add_member, this_period

PERIOD = this_period()


@pytest.fixture
def chain(world):
    for app_key in ("notices", "orders", "reconciliation"):
        r = world.api.post(
            world.path("/grants"),
            {"app": app_key, "scope": {"type": "all"}},
            token=world.owner.token,
        )
        assert r.status_code == 201, r.text
    return world


def _addressed(app, type_):
    """{event id: set of org ids} of every event of `type_`."""
    with app.app_context():
        rows = db.session.execute(
            select(Event.id, EventRecipient.org_id)
            .join(EventRecipient, EventRecipient.event_id == Event.id)
            .where(Event.type == type_)
        ).all()
        db.session.remove()
    out: dict[int, set[str]] = {}
    for event_id, org_id in rows:
        out.setdefault(event_id, set()).add(str(org_id))
    return out


def _feed(w, party, query=""):
    r = w.api.get(w.path(f"/events{query}"), token=party.token)
    assert r.status_code == 200, r.text
    return r.json()


def _types(w, party, type_):
    return [e for e in _feed(w, party, f"?type={type_}&page_size=500")["items"]]


def _only(w, app, type_, expected):
    """Every event of `type_` went to exactly `expected` parties; the feeds agree."""
    everyone = [w.owner, *w.parties.values(), w.outsider]
    want = {p.org_id for p in expected}
    addressed = _addressed(app, type_)
    assert addressed, f"no {type_} event"
    assert all(orgs == want for orgs in addressed.values()), (type_, addressed, want)
    for party in everyone:
        if party is w.outsider:
            assert w.api.get(w.path("/events"), token=party.token).status_code == 404
            continue
        seen = _types(w, party, type_)
        assert (len(seen) == len(addressed)) == (party.org_id in want), (type_, party.email)
        assert bool(seen) == (party.org_id in want), (type_, party.email)
    return addressed


def _notice(w, token=None, **overrides):
    body = {
        "kind": "supply",
        "title": "120 units of Model X",
        "body": "First come.",
        "items": [{"sku": "MX-100", "qty": "120"}],
        "audience": {"tiers": ["D1"]},
        "requires_ack": True,
    }
    body.update(overrides)
    r = w.api.post(w.path("/notices"), body, token=token or w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()


def test_notice_events_reach_recipients_and_acks_the_sender(chain, app):
    w = chain
    d1a, d1b, d2, s1 = (w.parties[k] for k in ("D1a", "D1b", "D2", "S1"))
    notice = _notice(w)
    _only(w, app, "notice.published", [d1a, d1b])
    event = _types(w, d1a, "notice.published")[0]
    assert event["chain_id"] == w.chain_id and event["id"].startswith("evt_")
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset() is not None
    assert event["data"]["id"] == notice["id"] and event["data"]["recipients"] == 2
    assert event["data"]["kind"] == "supply" and event["data"]["title"] == "120 units of Model X"
    assert "ack_due" in event["data"]

    url = w.path(f"/notices/{notice['id']}")
    assert w.api.post(url + "/ack", {}, token=d1a.token).status_code == 201
    assert w.api.post(url + "/ack", {}, token=d1a.token).status_code == 200  # no second event
    _only(w, app, "notice.acknowledged", [w.owner])
    assert len(_addressed(app, "notice.acknowledged")) == 1
    r = w.api.post(url + "/responses", {"items": [{"sku": "MX-100", "qty": "5"}]}, token=d1b.token)
    assert r.status_code == 201, r.text
    responded = _only(w, app, "notice.responded", [w.owner])
    assert len(responded) == 1
    assert w.api.post(url + "/withdraw", token=w.owner.token).status_code == 200
    _only(w, app, "notice.withdrawn", [d1a, d1b])

    # A partner's notice to its own customer: the owner is not told of it, nor of its ack.
    r = w.api.post(
        w.path("/notices"),
        {
            "kind": "supply",
            "title": "Sub-dealer allocation",
            "body": "x",
            "items": [],
            "audience": {"orgs": [d2.org_id]},
            "requires_ack": True,
        },
        token=d1a.token,
    )
    assert r.status_code == 201, r.text
    assert w.api.post(w.path(f"/notices/{r.json()['id']}/ack"), {}, token=d2.token).status_code
    owner_feed = _types(w, w.owner, "notice.acknowledged")
    assert [e["data"]["org_id"] for e in owner_feed] == [d1a.org_id]
    assert [e["data"]["org_id"] for e in _types(w, d1a, "notice.acknowledged")] == [d2.org_id]
    assert not _types(w, s1, "notice.published") and not _types(w, d1b, "notice.acknowledged")


def _issue(w, token, counterparty):
    body = {
        "counterparty_id": counterparty,
        "issuer_role": "buyer",
        "lines": [{"line_no": 1, "sku": "SKU-1", "qty": "10", "unit_price": "12.50"}],
    }
    r = w.api.post(w.path("/orders"), body, token=token)
    assert r.status_code == 201, r.text
    return r.json()


def test_order_events_reach_both_parties_only(chain, app):
    w = chain
    d1a, d2 = w.parties["D1a"], w.parties["D2"]
    order = _issue(w, d1a.token, w.owner.org_id)
    _only(w, app, "order.issued", [d1a, w.owner])
    data = _types(w, w.owner, "order.issued")[0]["data"]
    assert data["id"] == order["id"] and data["number"] == order["number"]
    assert data["buyer_id"] == d1a.org_id and data["seller_id"] == w.owner.org_id
    assert data["status"] == "issued" and data["version"] == 1

    ack = w.path(f"/orders/{order['id']}/ack")
    r = w.api.post(ack, {"version": 1, "decision": "accept"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    # A failed request writes no event: a stale version is 409.
    stale = w.api.post(ack, {"version": 1, "decision": "accept"}, token=w.owner.token)
    assert stale.status_code == 409
    acked = _only(w, app, "order.acknowledged", [d1a, w.owner])
    assert len(acked) == 1
    assert _types(w, d1a, "order.acknowledged")[0]["data"]["version"] == 2

    ship = w.path(f"/orders/{order['id']}/shipments")
    assert (
        w.api.post(ship, {"lines": [{"line_no": 1, "qty": "4"}]}, token=w.owner.token).status_code
        == 201
    )
    _only(w, app, "order.shipped", [d1a, w.owner])
    assert _types(w, d1a, "order.shipped")[0]["data"]["lines"] == [{"line_no": 1, "qty": "4"}]
    receipt = w.path(f"/orders/{order['id']}/receipts")
    r = w.api.post(receipt, {"lines": [{"line_no": 1, "qty": "4"}]}, token=d1a.token)
    assert r.status_code == 201, r.text
    _only(w, app, "order.received", [d1a, w.owner])

    other = _issue(w, d2.token, d1a.org_id)  # D2 buys from D1a: the owner is no party
    r = w.api.post(
        w.path(f"/orders/{other['id']}/amend"),
        {"version": 1, "lines": [{"line_no": 1, "sku": "SKU-9", "qty": "3", "unit_price": "1.00"}]},
        token=d2.token,
    )
    assert r.status_code == 200, r.text
    _only(w, app, "order.amended", [d2, d1a])
    r = w.api.post(
        w.path(f"/orders/{other['id']}/cancel"), {"reason": "Ordered twice"}, token=d2.token
    )
    assert r.status_code == 200, r.text
    _only(w, app, "order.cancelled", [d2, d1a])
    assert _types(w, d1a, "order.cancelled")[0]["data"]["reason"] == "Ordered twice"
    issued = _addressed(app, "order.issued")
    assert sorted(map(sorted, issued.values())) == sorted(
        [sorted([d1a.org_id, w.owner.org_id]), sorted([d2.org_id, d1a.org_id])]
    )


@pytest.mark.committed  # a reconciliation run commits in sessions of its own
def test_directory_and_run_events_reach_the_owner_only(chain, app):
    w = chain
    # The world fixture added four members and four links.
    assert len(_only(w, app, "member.joined", [w.owner])) == 4
    assert len(_only(w, app, "link.created", [w.owner])) == 4
    d1b = w.parties["D1b"]
    r = w.api.patch(w.path(f"/members/{d1b.org_id}"), {"custom_id": "DLR-999"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    _only(w, app, "member.updated", [w.owner])
    links = w.api.get(w.path("/links"), token=w.owner.token).json()["items"]
    link = next(x for x in links if x["customer_id"] == w.parties["D2"].org_id)
    assert w.api.delete(w.path(f"/links/{link['id']}"), token=w.owner.token).status_code == 204
    _only(w, app, "link.deleted", [w.owner])
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "D1", "period": PERIOD}, token=w.owner.token
    )
    assert r.status_code == 201, r.text
    _only(w, app, "reconciliation.run.succeeded", [w.owner])
    data = _types(w, w.owner, "reconciliation.run.succeeded")[0]["data"]
    assert data["id"] == r.json()["id"] and data["tier"] == "D1"

    assert w.api.delete(w.path(f"/members/{d1b.org_id}"), token=w.owner.token).status_code == 204
    removed = _types(w, w.owner, "member.removed")
    assert removed[0]["data"]["org_id"] == d1b.org_id
    assert _addressed(app, "member.removed") and all(
        orgs == {w.owner.org_id} for orgs in _addressed(app, "member.removed").values()
    )
    # The removed org cannot read the chain's feed any more.
    assert w.api.get(w.path("/events"), token=d1b.token).status_code == 404


@pytest.mark.committed  # a reconciliation run commits in sessions of its own
def test_failed_run_is_told_to_the_owner(chain, app, monkeypatch):
    w = chain
    from supplychain.services.reconciliation import tier_workbook

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", explode)
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "D1", "period": PERIOD}, token=w.owner.token
    )
    assert r.json()["status"] == "failed"
    _only(w, app, "reconciliation.run.failed", [w.owner])
    assert "disk full" in _types(w, w.owner, "reconciliation.run.failed")[0]["data"]["error"]


def _endpoint(app, chain_id, org_id, user_id, events, enabled=True, deleted=False):
    with app.app_context():
        row = WebhookEndpoint(
            chain_id=int(chain_id),
            org_id=int(org_id),
            url="https://example.com/hook",
            events=events,
            secret="whsec_test",
            enabled=enabled,
            created_by=int(user_id),
            deleted_at=datetime.now(UTC) if deleted else None,
        )
        db.session.add(row)
        db.session.commit()
        endpoint_id = row.id
        db.session.remove()
    return endpoint_id


def _deliveries(app, type_, channel):
    with app.app_context():
        rows = (
            db.session.execute(
                select(Delivery)
                .join(Event, Event.id == Delivery.event_id)
                .where(Event.type == type_, Delivery.channel == channel)
            )
            .scalars()
            .all()
        )
        db.session.remove()
    return rows


def test_webhook_deliveries_for_matching_enabled_endpoints(chain, app):
    w = chain
    d1a, d1b, s1 = w.parties["D1a"], w.parties["D1b"], w.parties["S1"]
    cid = w.chain_id
    wanted = _endpoint(app, cid, d1a.org_id, d1a.user_id, ["notice.published"])
    star = _endpoint(app, cid, d1b.org_id, d1b.user_id, ["*"])
    _endpoint(app, cid, d1a.org_id, d1a.user_id, ["order.issued"])  # other types
    _endpoint(app, cid, d1a.org_id, d1a.user_id, ["*"], enabled=False)
    _endpoint(app, cid, d1a.org_id, d1a.user_id, ["*"], deleted=True)
    _endpoint(app, cid, s1.org_id, s1.user_id, ["*"])  # not addressed
    _notice(w)
    rows = _deliveries(app, "notice.published", "webhook")
    assert sorted(r.endpoint_id for r in rows) == sorted([wanted, star])
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.next_attempt_at <= datetime.now(UTC) for r in rows)

    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, wanted)
        ping = publish_ping(db.session, endpoint)
        db.session.commit()
        ping_id = ping.id
        db.session.remove()
    pings = _deliveries(app, "ping", "webhook")
    assert [(r.event_id, r.endpoint_id) for r in pings] == [(ping_id, wanted)]
    assert not _deliveries(app, "ping", "email")


def test_email_deliveries_follow_preferences(chain, app):
    w = chain
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    me = w.api.get("/me/notifications", token=d1a.token).json()
    assert me["email"] == "immediate" and "notice.published" in me["events"]
    assert "member.joined" not in me["events"]
    r = w.api.put("/me/notifications", {"email": "daily"}, token=d1a.token)
    assert r.status_code == 200 and r.json()["email"] == "daily"
    r = w.api.put("/me/notifications", {"email": "off"}, token=w.owner_staff.token)
    assert r.status_code == 200
    before = datetime.now(UTC)
    _notice(w)
    rows = {r.user_id: r for r in _deliveries(app, "notice.published", "email")}
    assert set(rows) == {int(d1a.user_id), int(d1b.user_id)}
    assert rows[int(d1b.user_id)].next_attempt_at <= datetime.now(UTC)
    due = rows[int(d1a.user_id)].next_attempt_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (due.hour, due.minute) == (8, 0) and before < due <= before + timedelta(days=1)

    # Own event list: only the listed types, whatever the defaults.
    r = w.api.put(
        "/me/notifications", {"email": "immediate", "events": ["order.issued"]}, token=d1b.token
    )
    assert r.json() == {"email": "immediate", "events": ["order.issued"]}
    r = w.api.put("/me/notifications", {"email": "immediate", "events": []}, token=d1a.token)
    assert r.status_code == 200
    _issue(w, d1b.token, w.owner.org_id)
    _issue(w, d1a.token, w.owner.org_id)
    users = {r.user_id for r in _deliveries(app, "order.issued", "email")}
    # The owner's admin (default), d1b (listed it); not d1a (empty list), not staff (off).
    assert users == {int(w.owner.user_id), int(d1b.user_id)}
    # Directory events are mailed to nobody by default.
    assert not _deliveries(app, "member.joined", "email")


def test_invited_but_not_activated_people_are_told_of_notices_only(chain, app):
    """Issue 22: a notice reaches an org's invited, not yet activated people by email (a short
    message written by outbound/mail/invitations.py); other events do not."""
    w = chain
    member = add_member(
        w.api, w.owner, w.chain_id, "New Dealer", "dealer", "DLR-500", None, "new@x.example"
    )
    user_id = int(member["contacts"][0]["user_id"])
    _notice(w, audience={"orgs": [member["org_id"]]})
    assert [d.user_id for d in _deliveries(app, "notice.published", "email")] == [user_id]
    assert user_id not in {d.user_id for d in _deliveries(app, "member.joined", "email")}


def test_notification_settings_validation(chain):
    w = chain
    d1a = w.parties["D1a"]
    r = w.api.put(
        "/me/notifications",
        {"email": "immediate", "events": ["notice.published", "order.teleported", "ping"]},
        token=d1a.token,
    )
    assert r.status_code == 422
    assert "order.teleported" in str(r.json()["errors"]) and "ping" in str(r.json()["errors"])
    assert w.api.put("/me/notifications", {"email": "weekly"}, token=d1a.token).status_code == 422
    assert w.api.put("/me/notifications", {}, token=d1a.token).status_code == 422
    assert w.api.get("/me/notifications", token=None).status_code == 401
    assert w.api.get("/me/notifications", token=d1a.token).json()["email"] == "immediate"


def test_feed_cursor_type_filter_and_access(chain):
    w = chain
    d1a = w.parties["D1a"]
    for i in range(3):
        _notice(w, title=f"Notice {i}")
    _issue(w, d1a.token, w.owner.org_id)
    everything = _feed(w, d1a)
    assert everything["total"] == 4 and everything["page"] == 1
    assert [e["type"] for e in everything["items"]] == ["notice.published"] * 3 + ["order.issued"]
    ids = [int(e["id"].removeprefix("evt_")) for e in everything["items"]]
    assert ids == sorted(ids)
    after = _feed(w, d1a, f"?after={everything['items'][1]['id']}")
    assert [e["id"] for e in after["items"]] == [e["id"] for e in everything["items"][2:]]
    assert _feed(w, d1a, f"?after={ids[2]}")["total"] == 1
    assert _feed(w, d1a, "?type=order.issued")["total"] == 1
    paged = _feed(w, d1a, "?page=2&page_size=3")
    assert len(paged["items"]) == 1 and paged["total"] == 4
    for bad in ("?after=evt_x", "?after=-1", "?after=evt_0", "?type=order.teleported"):
        r = w.api.get(w.path(f"/events{bad}"), token=d1a.token)
        assert r.status_code == 422, bad
        assert set(r.json()["errors"]["query"]) <= {"after", "type"}
    assert w.api.get(w.path("/events"), token=None).status_code == 401
    assert w.api.get(w.path("/events"), token=w.outsider.token).status_code == 404
    assert w.api.get("/chains/999999/events", token=d1a.token).status_code == 404


def test_daily_digest_time_in_the_chain_zone():
    shanghai = "Asia/Shanghai"
    at = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)  # 07:59 in Shanghai
    assert next_digest_at(at, shanghai) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    at = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 sharp: the next day's
    assert next_digest_at(at, shanghai) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert next_digest_at(at, "Europe/Berlin") == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def test_publishing_to_many_orgs_is_a_fixed_number_of_statements(chain, app, count_queries):
    w = chain
    for i in range(12):
        member = add_member(
            w.api, w.owner, w.chain_id, f"Extra {i}", "dealer", f"EX-{i}", "Extra", f"e{i}@x.ex"
        )
        _endpoint(app, w.chain_id, member["org_id"], w.owner.user_id, ["*"])
    _notice(w, audience={"orgs": [w.parties["D2"].org_id]})  # warm caches
    counts = []
    for audience in ({"groups": ["Dealers/East China"]}, {"groups": ["Extra", "Dealers"]}):
        with count_queries() as counter:
            _notice(w, audience=audience)
        counts.append(counter.count)
        events = [s for s in counter.statements if s.startswith("INSERT INTO event_recipients")]
        assert len(events) == 1
    assert counts[0] == counts[1]
    assert len(_deliveries(app, "notice.published", "webhook")) == 12
