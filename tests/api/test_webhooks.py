"""Webhook endpoints over HTTP: an org admin's own, secret shown once, SSRF guard at registration,
event filter, test ping, delivery log and redelivery."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from supplychain.extensions import db
from supplychain.models import Delivery, Event, EventRecipient

PUBLIC_URL = "https://93.184.215.14/hooks/supplychain"  # a public address; never contacted


@pytest.fixture
def allow_private(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


def _create(world, party, body=None, **kw):
    body = body or {"url": PUBLIC_URL, "events": ["*"]}
    return world.api.post(world.path("/webhooks"), body, token=party and party.token, **kw)


def test_an_org_admin_registers_and_sees_the_secret_once(world):
    r = _create(
        world,
        world.owner,
        {
            "url": PUBLIC_URL,
            "events": ["order.issued", "order.acknowledged", "order.issued"],
            "description": "ERP",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["events"] == ["order.issued", "order.acknowledged"]
    assert (body["kind"], body["language"], body["enabled"]) == ("standard", "zh", True)
    assert body["description"] == "ERP" and isinstance(body["id"], str)
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    wid = body["id"]
    listed = world.api.get(world.path("/webhooks"), token=world.owner.token).json()
    assert listed["total"] == 1 and listed["page"] == 1
    assert [w["id"] for w in listed["items"]] == [wid]
    one = world.api.get(world.path(f"/webhooks/{wid}"), token=world.owner.token)
    assert one.status_code == 200
    for shown in (listed["items"][0], one.json()):
        assert "secret" not in shown and secret not in str(shown)
    audit = world.api.get(world.path("/audit"), token=world.owner.token).text
    assert "webhook.create" in audit and secret not in audit and PUBLIC_URL not in audit


def test_a_partner_admin_registers_for_its_own_org_only(world):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    mine = _create(world, d1a).json()
    theirs = _create(world, d1b).json()
    own = world.api.get(world.path("/webhooks"), token=d1a.token).json()
    assert [w["id"] for w in own["items"]] == [mine["id"]]
    # The owner does not see a partner's endpoints either: they are the partner's business.
    assert world.api.get(world.path("/webhooks"), token=world.owner.token).json()["total"] == 0
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("GET", "/deliveries"),
        ("POST", "/deliveries/1/redeliver"),
    ]:
        for party in (d1a, world.owner):
            r = world.api.request(
                method,
                world.path(f"/webhooks/{theirs['id']}{suffix}"),
                json={"enabled": False} if method == "PATCH" else None,
                token=party.token,
            )
            assert r.status_code == 404, (method, suffix, r.text)
    assert world.api.get(world.path(f"/webhooks/{theirs['id']}"), token=d1b.token).json()["enabled"]


def test_staff_outsiders_and_anonymous_are_refused(world):
    wid = _create(world, world.owner).json()["id"]
    staff = world.owner_staff
    assert _create(world, staff).status_code == 403
    assert world.api.get(world.path("/webhooks"), token=staff.token).status_code == 403
    assert world.api.get(world.path(f"/webhooks/{wid}"), token=staff.token).status_code == 403
    assert world.api.post(world.path(f"/webhooks/{wid}/test"), token=staff.token).status_code == 403
    assert world.api.get(world.path("/webhooks"), token=world.outsider.token).status_code == 404
    assert world.api.get(world.path(f"/webhooks/{wid}"), token=None).status_code == 401
    assert _create(world, None).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.9/hook",
        "https://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://localhost:8000/hook",
        "http://LOCALHOST./hook",
    ],
)
def test_private_addresses_are_refused_naming_url(world, url):
    r = _create(world, world.owner, {"url": url, "events": ["*"]})
    assert r.status_code == 422, r.text
    assert "url" in r.json()["errors"]
    assert "private" in r.json()["errors"]["url"][0]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://93.184.215.14/hook", "http"),
        ("file:///etc/passwd", "http"),
        ("gopher://93.184.215.14/", "http"),
        ("https://", "host"),
        ("https://93.184.215.14:99999/", "port"),
        ("https://user:pw@93.184.215.14/", "Credentials"),
        ("https://93.184.215.14/" + "a" * 2000, "2000"),
        ("https://exa mple.com/", "spaces"),
    ],
)
def test_bad_urls_are_refused_naming_url(world, url, why):
    r = _create(world, world.owner, {"url": url, "events": ["*"]})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    # The schema's length limit answers under `json`, as every body field; the rest under `url`.
    assert why in str(errors.get("url") or errors["json"]["url"])


def test_private_addresses_are_allowed_when_configured(world, allow_private):
    r = _create(world, world.owner, {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert r.status_code == 201, r.text


def test_unknown_event_types_are_listed(world):
    r = _create(
        world, world.owner, {"url": PUBLIC_URL, "events": ["order.issued", "order.eaten", "x"]}
    )
    assert r.status_code == 422
    body = r.json()
    assert "order.eaten, x" in body["message"]
    assert body["errors"]["events"] == ["Unknown event types: order.eaten, x"]
    assert _create(world, world.owner, {"url": PUBLIC_URL, "events": []}).status_code == 422
    star = _create(world, world.owner, {"url": PUBLIC_URL, "events": ["order.issued", "*"]})
    assert star.json()["events"] == ["*"]
    r = _create(world, world.owner, {"url": PUBLIC_URL, "events": ["*"], "kind": "slack"})
    assert r.status_code == 422 and "kind" in r.json()["errors"]["json"]


def test_creation_is_idempotent(world):
    headers = {"Idempotency-Key": "webhook-1"}
    first = _create(world, world.owner, headers=headers)
    again = _create(world, world.owner, headers=headers)
    assert first.status_code == again.status_code == 201
    # The secret is shown once: a replay answers the same endpoint without it.
    assert first.json()["secret"].startswith("whsec_")
    assert again.json() == first.json() | {"secret": None}
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert world.api.get(world.path("/webhooks"), token=world.owner.token).json()["total"] == 1
    other = _create(
        world, world.owner, {"url": PUBLIC_URL, "events": ["order.issued"]}, headers=headers
    )
    assert other.status_code == 409


def test_patch_and_delete(world):
    wid = _create(world, world.owner).json()["id"]
    path = world.path(f"/webhooks/{wid}")
    r = world.api.patch(
        path,
        {"events": ["notice.published"], "enabled": False, "description": "x", "language": "en"},
        token=world.owner.token,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["events"], r.json()["enabled"], r.json()["language"]) == (
        ["notice.published"],
        False,
        "en",
    )
    r = world.api.patch(path, {"description": None}, token=world.owner.token)
    assert r.json()["description"] is None and r.json()["language"] == "en"
    r = world.api.patch(path, {"url": "http://10.0.0.1/"}, token=world.owner.token)
    assert r.status_code == 422 and "url" in r.json()["errors"]
    r = world.api.patch(path, {"events": ["nope"]}, token=world.owner.token)
    assert r.status_code == 422 and r.json()["errors"]["events"] == ["Unknown event types: nope"]
    assert world.api.delete(path, token=world.owner.token).status_code == 204
    assert world.api.get(path, token=world.owner.token).status_code == 404
    assert world.api.delete(path, token=world.owner.token).status_code == 404
    assert world.api.get(world.path("/webhooks"), token=world.owner.token).json()["total"] == 0


def test_test_ping_queues_one_event_for_the_org_and_one_delivery(world, app):
    d1a = world.parties["D1a"]
    wid = _create(world, d1a).json()["id"]
    other = _create(world, d1a).json()["id"]
    r = world.api.post(world.path(f"/webhooks/{wid}/test"), token=d1a.token)
    assert r.status_code == 202, r.text
    delivery = r.json()
    assert delivery["status"] == "pending" and delivery["attempts"] == 0
    assert delivery["event_type"] == "ping" and delivery["event_id"].startswith("evt_")
    with app.app_context():
        # The world's own events (members joined, links made) came before; one ping since.
        event = db.session.scalars(select(Event).where(Event.type == "ping")).one()
        assert (event.type, str(event.chain_id)) == ("ping", world.chain_id)
        recipients = db.session.scalars(
            select(EventRecipient).where(EventRecipient.event_id == event.id)
        ).all()
        assert [str(r.org_id) for r in recipients] == [d1a.org_id]
        deliveries = db.session.scalars(select(Delivery)).all()
        assert [(str(d.endpoint_id), d.channel) for d in deliveries] == [(wid, "webhook")]
        db.session.remove()
    listed = world.api.get(world.path(f"/webhooks/{wid}/deliveries"), token=d1a.token).json()
    assert listed["total"] == 1 and listed["items"][0] == delivery
    assert (
        world.api.get(world.path(f"/webhooks/{other}/deliveries"), token=d1a.token).json()["total"]
        == 0
    )
    # A disabled endpoint takes no test.
    world.api.patch(world.path(f"/webhooks/{wid}"), {"enabled": False}, token=d1a.token)
    assert world.api.post(world.path(f"/webhooks/{wid}/test"), token=d1a.token).status_code == 409


def test_delivery_log_filters_and_redelivers(world, app):
    owner = world.owner
    wid = _create(world, owner).json()["id"]
    first = world.api.post(world.path(f"/webhooks/{wid}/test"), token=owner.token).json()
    second = world.api.post(world.path(f"/webhooks/{wid}/test"), token=owner.token).json()
    with app.app_context():
        done = db.session.get(Delivery, int(first["id"]))
        done.status, done.attempts, done.last_status_code = "failed", 8, 500
        done.last_error = "HTTP 500."
        db.session.commit()
    deliveries = world.path(f"/webhooks/{wid}/deliveries")
    log = world.api.get(deliveries, token=owner.token).json()
    assert [d["id"] for d in log["items"]] == [second["id"], first["id"]]  # newest first
    failed = world.api.get(deliveries, params={"status": "failed"}, token=owner.token).json()
    assert [(d["id"], d["last_status_code"], d["last_error"]) for d in failed["items"]] == [
        (first["id"], 500, "HTTP 500.")
    ]
    bad = world.api.get(deliveries, params={"status": "lost"}, token=owner.token)
    assert bad.status_code == 422
    again = world.api.post(f"{deliveries}/{first['id']}/redeliver", token=owner.token)
    assert again.status_code == 202, again.text
    new = again.json()
    assert new["id"] != first["id"] and new["event_id"] == first["event_id"]
    assert (new["status"], new["attempts"]) == ("pending", 0)
    # A pending one is made due now, not doubled.
    same = world.api.post(f"{deliveries}/{second['id']}/redeliver", token=owner.token).json()
    assert same["id"] == second["id"]
    assert world.api.post(f"{deliveries}/999999/redeliver", token=owner.token).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 3
        db.session.remove()


def test_disabling_or_removing_fails_what_was_pending(world, app):
    owner = world.owner
    wid = _create(world, owner).json()["id"]
    queued = world.api.post(world.path(f"/webhooks/{wid}/test"), token=owner.token).json()
    world.api.patch(world.path(f"/webhooks/{wid}"), {"enabled": False}, token=owner.token)
    log = world.api.get(world.path(f"/webhooks/{wid}/deliveries"), token=owner.token).json()
    assert [(d["id"], d["status"]) for d in log["items"]] == [(queued["id"], "failed")]
    assert log["items"][0]["last_error"] == "The endpoint is disabled."
    r = world.api.post(
        world.path(f"/webhooks/{wid}/deliveries/{queued['id']}/redeliver"), token=owner.token
    )
    assert r.status_code == 409
    world.api.patch(world.path(f"/webhooks/{wid}"), {"enabled": True}, token=owner.token)
    world.api.post(world.path(f"/webhooks/{wid}/test"), token=owner.token)
    world.api.delete(world.path(f"/webhooks/{wid}"), token=owner.token)
    with app.app_context():
        statuses = db.session.scalars(select(Delivery.status).order_by(Delivery.id)).all()
        assert statuses == ["failed", "failed"]
        db.session.remove()
