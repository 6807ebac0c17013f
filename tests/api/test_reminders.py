"""The sender's reminder of a notice: who it reaches, the hourly limit, who may send it."""

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models.events import Event, EventRecipient, ReminderClaim
from tests.conftest import race


@pytest.fixture
def chain(world):
    r = world.api.post(
        world.path("/grants"), {"app": "notices", "scope": {"type": "all"}}, token=world.owner.token
    )
    assert r.status_code == 201, r.text
    return world


def _notice(w, **overrides):
    body = {
        "kind": "supply",
        "title": "Model X for December",
        "body": "120 units.",
        "items": [{"sku": "MX-100", "qty": "120"}],
        "audience": {"tiers": ["D1"]},
        "requires_ack": True,
        **overrides,
    }
    r = w.api.post(w.path("/notices"), body, token=w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _reminders(app):
    """[(event data, {org ids addressed})] of every notice.reminder, oldest first."""
    with app.app_context():
        events = db.session.scalars(
            select(Event).where(Event.type == "notice.reminder").order_by(Event.id)
        ).all()
        out = [
            (
                e.data,
                {
                    str(o)
                    for o in db.session.scalars(
                        select(EventRecipient.org_id).where(EventRecipient.event_id == e.id)
                    )
                },
            )
            for e in events
        ]
        db.session.remove()
    return out


def _feed(w, party):
    r = w.api.get(w.path("/events?type=notice.reminder"), token=party.token)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_remind_reaches_only_the_unacknowledged_once_an_hour(app, chain):
    w = chain
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    nid = _notice(w)
    url = w.path(f"/notices/{nid}/remind")
    assert w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=d1a.token).status_code == 201

    r = w.api.post(url, {}, token=w.owner.token)
    assert r.status_code == 202, r.text
    assert r.json() == {"reminded": 1}
    [(data, orgs)] = _reminders(app)
    assert orgs == {d1b.org_id}
    assert data["id"] == nid and data["title"] == "Model X for December"
    assert data["only"] == "unacked"
    assert "reminded" not in data  # recipients do not learn how many others still wait
    assert len(_feed(w, d1b)) == 1
    assert _feed(w, d1a) == [] and _feed(w, w.owner) == [] and _feed(w, w.parties["D2"]) == []

    again = w.api.post(url, {"only": "unread"}, token=w.owner.token)
    assert again.status_code == 409, again.text
    assert len(_reminders(app)) == 1
    audit = w.api.get(w.path("/audit?action=notice.remind"), token=w.owner.token).json()
    assert [e["data"] for e in audit["items"]] == [{"only": "unacked", "reminded": 1}]


def test_remind_the_unread(app, chain):
    w = chain
    nid = _notice(w, requires_ack=False)
    assert w.api.get(w.path(f"/notices/{nid}"), token=w.parties["D1b"].token).status_code == 200
    url = w.path(f"/notices/{nid}/remind")
    bad = w.api.post(url, {"only": "unacked"}, token=w.owner.token)
    assert bad.status_code == 422 and "only" in bad.json()["errors"], bad.text
    r = w.api.post(url, token=w.owner.token)  # no body: the default, unread
    assert r.status_code == 202, r.text
    assert r.json() == {"reminded": 1}
    [(data, orgs)] = _reminders(app)
    assert orgs == {w.parties["D1a"].org_id} and data["only"] == "unread"


def test_nobody_left_to_remind_sends_nothing_and_keeps_the_hour(app, chain):
    w = chain
    nid = _notice(w)
    for key in ("D1a", "D1b"):
        ack = w.api.post(w.path(f"/notices/{nid}/ack"), {}, token=w.parties[key].token)
        assert ack.status_code == 201
    url = w.path(f"/notices/{nid}/remind")
    for _ in range(2):
        r = w.api.post(url, {}, token=w.owner.token)
        assert r.status_code == 202 and r.json() == {"reminded": 0}, r.text
    assert _reminders(app) == []
    r = w.api.post(url, {"only": "unread"}, token=w.owner.token)
    assert r.status_code == 202 and r.json() == {"reminded": 0}


def test_who_may_remind(chain):
    w = chain
    nid = _notice(w)
    url = w.path(f"/notices/{nid}/remind")
    assert w.api.post(url, {}).status_code == 401
    assert w.api.post(url, {}, token=w.parties["D1a"].token).status_code == 403  # a recipient
    assert w.api.post(url, {}, token=w.parties["S1"].token).status_code == 404  # cannot see it
    assert w.api.post(url, {}, token=w.outsider.token).status_code == 404
    assert w.api.post(w.path("/notices/999999/remind"), {}, token=w.owner.token).status_code == 404
    bad = w.api.post(url, {"only": "everyone"}, token=w.owner.token)
    assert bad.status_code == 422 and "only" in bad.json()["errors"]["json"]
    assert w.api.post(w.path(f"/notices/{nid}/withdraw"), token=w.owner.token).status_code == 200
    withdrawn = w.api.post(url, {}, token=w.owner.token)
    assert withdrawn.status_code == 409, withdrawn.text


def test_two_reminders_at_once_send_one(app, chain, http_api):
    w = chain
    w.api = http_api  # two threads at once: the real server, real commits
    nid = _notice(w)
    url = w.path(f"/notices/{nid}/remind")
    statuses = race(2, lambda: w.api.post(url, {}, token=w.owner.token).status_code)
    assert sorted(statuses) == [202, 409]
    assert len(_reminders(app)) == 1
    with app.app_context():
        claims = db.session.scalars(select(ReminderClaim.kind)).all()
        db.session.remove()
    assert claims == ["notice.manual"]
