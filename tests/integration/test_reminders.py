"""Scheduled reminders: a notice's unacknowledged recipients 24 h before its ack_due, the
acknowledging side of orders unanswered for 48 h; each once, however many schedulers run."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models.base import utcnow
from supplychain.models.events import Event, EventRecipient, ReminderClaim
from supplychain.scheduler import REMINDERS_JOB, send_reminders, start_scheduler, stop_scheduler
from supplychain.services.reminders import send_due_reminders
from tests.races import two_schedulers


@pytest.fixture
def chain(world):
    for app_key in ("notices", "orders"):
        r = world.api.post(
            world.path("/grants"),
            {"app": app_key, "scope": {"type": "all"}},
            token=world.owner.token,
        )
        assert r.status_code == 201, r.text
    return world


def _notice(w, due_in: timedelta) -> str:
    body = {
        "kind": "demand",
        "title": "Steel for Q1",
        "body": "Confirm, please.",
        "items": [{"sku": "ST-1", "qty": "5"}],
        "audience": {"tiers": ["D1"]},
        "requires_ack": True,
        "ack_due": (utcnow() + due_in).isoformat(),
    }
    r = w.api.post(w.path("/notices"), body, token=w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _order(w, issuer, counterparty, role) -> dict:
    body = {
        "counterparty_id": counterparty.org_id,
        "issuer_role": role,
        "lines": [{"line_no": 1, "sku": "P-1", "qty": "10", "unit_price": "2.50"}],
    }
    r = w.api.post(w.path("/orders"), body, token=issuer.token)
    assert r.status_code == 201, r.text
    return r.json()


def _reminders(app, type_):
    """{subject id: set of org ids addressed} of every event of `type_`."""
    with app.app_context():
        rows = db.session.execute(
            select(Event.subject_id, EventRecipient.org_id)
            .join(EventRecipient, EventRecipient.event_id == Event.id)
            .where(Event.type == type_)
        ).all()
        count = len(db.session.scalars(select(Event.id).where(Event.type == type_)).all())
        db.session.remove()
    out: dict[str, set[str]] = {}
    for subject_id, org_id in rows:
        out.setdefault(str(subject_id), set()).add(str(org_id))
    assert count == len(out), "one reminder per subject"
    return out


def _run(app, now):
    with app.app_context():
        sent = send_due_reminders(db.session, now)
        db.session.commit()
        db.session.remove()
    return sent


def test_notice_due_within_a_day_reminds_the_unacknowledged_once(chain, app):
    w = chain
    soon = _notice(w, timedelta(hours=23))
    later = _notice(w, timedelta(hours=30))
    ack = w.api.post(w.path(f"/notices/{soon}/ack"), {}, token=w.parties["D1a"].token)
    assert ack.status_code == 201

    sent = _run(app, utcnow())
    assert sent.notices == [int(soon)] and sent.orders == []
    assert _reminders(app, "notice.reminder") == {soon: {w.parties["D1b"].org_id}}
    feed = w.api.get(w.path("/events?type=notice.reminder"), token=w.parties["D1b"].token).json()
    assert [e["data"]["only"] for e in feed["items"]] == ["unacked"]
    assert "reminded" not in feed["items"][0]["data"]
    assert feed["items"][0]["data"]["ack_due"] is not None

    assert _run(app, utcnow()).notices == []  # once
    # Seven hours on, the later one is due within a day; the first is not sent again.
    assert _run(app, utcnow() + timedelta(hours=7)).notices == [int(later)]
    reminded = _reminders(app, "notice.reminder")
    assert reminded[later] == {w.parties["D1a"].org_id, w.parties["D1b"].org_id}
    assert len(reminded) == 2


def test_withdrawn_or_fully_acknowledged_notices_are_not_reminded(chain, app):
    w = chain
    withdrawn = _notice(w, timedelta(hours=2))
    assert w.api.post(w.path(f"/notices/{withdrawn}/withdraw"), token=w.owner.token).ok
    acked = _notice(w, timedelta(hours=2))
    for key in ("D1a", "D1b"):
        r = w.api.post(w.path(f"/notices/{acked}/ack"), {}, token=w.parties[key].token)
        assert r.status_code == 201
    assert _run(app, utcnow()).notices == []
    assert _reminders(app, "notice.reminder") == {}


def test_orders_unacknowledged_for_two_days_remind_the_acknowledging_side(chain, app):
    w = chain
    owner, d1a, d1b = w.owner, w.parties["D1a"], w.parties["D1b"]
    sales = _order(w, owner, d1a, "seller")  # D1a acknowledges
    purchase = _order(w, d1b, owner, "buyer")  # the owner acknowledges
    answered = _order(w, owner, d1b, "seller")
    r = w.api.post(
        w.path(f"/orders/{answered['id']}/ack"),
        {"version": 1, "decision": "accept"},
        token=d1b.token,
    )
    assert r.status_code in (200, 201), r.text
    cancelled = _order(w, owner, d1a, "seller")
    r = w.api.post(w.path(f"/orders/{cancelled['id']}/cancel"), {"reason": "x"}, token=owner.token)
    assert r.status_code == 200, r.text

    assert _run(app, utcnow() + timedelta(hours=47)).orders == []  # not yet
    sent = _run(app, utcnow() + timedelta(hours=49))
    assert sorted(sent.orders) == sorted([int(sales["id"]), int(purchase["id"])])
    assert _reminders(app, "order.reminder") == {
        sales["id"]: {d1a.org_id},
        purchase["id"]: {owner.org_id},
    }
    feed = w.api.get(w.path("/events?type=order.reminder"), token=d1a.token).json()
    [event] = feed["items"]
    assert event["data"]["number"] == sales["number"] and event["data"]["status"] == "issued"
    assert _run(app, utcnow() + timedelta(hours=72)).orders == []  # once


@pytest.mark.committed  # sessions of their own commit
def test_two_schedulers_at_once_send_each_reminder_once(chain, app):
    """Scheduler A has claimed and sent but not committed; B runs meanwhile and waits on the
    claim (PostgreSQL: its unique index; SQLite: the write lock), then sends nothing."""
    w = chain
    nid = _notice(w, timedelta(hours=3))
    with app.app_context():
        engine = db.engine
    now = utcnow()
    a, b = two_schedulers(engine, now)
    assert a.notices == [int(nid)] and b.notices == []
    assert list(_reminders(app, "notice.reminder")) == [nid]
    with app.app_context():
        claims = db.session.execute(select(ReminderClaim.kind, ReminderClaim.subject_id)).all()
        db.session.remove()
    assert [(k, str(s)) for k, s in claims] == [("notice.due", nid)]


@pytest.mark.committed  # sessions of their own commit
def test_the_reminders_job_is_declared_and_commits(chain, app):
    w = chain
    nid = _notice(w, timedelta(hours=1))
    scheduler = start_scheduler(app)
    try:
        job = scheduler.get_job(REMINDERS_JOB)
        assert job is not None and job.coalesce is True and job.misfire_grace_time is None
    finally:
        stop_scheduler(scheduler)
        app.extensions.pop("supplychain_scheduler", None)
    send_reminders()
    assert list(_reminders(app, "notice.reminder")) == [nid]


def test_a_claim_is_taken_once(app):
    from supplychain.services.reminder_claims import claim_reminder

    with app.app_context():
        assert claim_reminder(db.session, "notice.due", 7, "2026-12-01T00:00:00+00:00") is True
        db.session.commit()
        assert claim_reminder(db.session, "notice.due", 7, "2026-12-01T00:00:00+00:00") is False
        assert claim_reminder(db.session, "notice.due", 7, "another due") is True
        db.session.rollback()
        db.session.remove()
