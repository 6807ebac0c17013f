"""The email sender against a real SMTP server: content in both languages, links, one-click
unsubscribe, one connection per batch, refusals, digests, and the mail folder backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from supplychain.config import parse_smtp_url
from supplychain.extensions import db
from supplychain.models import Member, User
from supplychain.models.base import utcnow
from supplychain.models.events import Delivery, Event
from supplychain.outbound.deliveries import Claimed
from supplychain.outbound.mail.sending import send_email_deliveries
from supplychain.outbound.mail.unsubscribe import unsubscribe_token, unsubscribe_user_id
from supplychain.outbound.worker import Worker
from supplychain.services import notification_settings
from tests.mailserver import Collector, app_mailing_to_server

BASE = "https://sc.example"


@pytest.fixture
def smtp(app, monkeypatch) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, BASE) as collector:
        yield collector


def claim(app, world, user_id: str, event_type: str, data: dict) -> Claimed:
    """An event and an email delivery for one person, as the worker would hand them over."""
    with app.app_context():
        event = Event(
            chain_id=int(world.chain_id),
            type=event_type,
            subject_type=event_type.split(".")[0],
            subject_id=int(data["id"]) if data.get("id") else None,
            data=data,
            occurred_at=datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
        )
        db.session.add(event)
        db.session.flush()
        delivery = Delivery(
            event_id=event.id, chain_id=event.chain_id, channel="email", user_id=int(user_id)
        )
        db.session.add(delivery)
        db.session.commit()
        return Claimed(
            id=delivery.id,
            channel="email",
            event_id=event.id,
            event_type=event.type,
            chain_id=event.chain_id,
            occurred_at=event.occurred_at,
            data=event.data,
            attempts=1,
            user_id=delivery.user_id,
        )


def set_language(app, user_id: str, language: str) -> None:
    with app.app_context():
        user = db.session.get(User, int(user_id))
        notification_settings.set_language(db.session, user, language)
        db.session.commit()


NOTICE = {
    "id": "41",
    "kind": "supply",
    "title": "Model X allocation",
    "ack_due": "2026-12-04T10:00:00+00:00",
}


def test_notice_mail_in_english_and_chinese_with_links_and_unsubscribe(app, world, smtp):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    set_language(app, d1a.user_id, "en")
    first = claim(app, world, d1a.user_id, "notice.published", NOTICE)
    second = claim(app, world, d1b.user_id, "notice.published", NOTICE)

    outcomes = send_email_deliveries(app, [first, second])

    assert outcomes[first.id].ok and outcomes[second.id].ok
    assert len(smtp.messages) == 2
    by_rcpt = {m.recipients[0]: m for m in smtp.messages}
    link = f"{BASE}/chains/{world.chain_id}/notices/41"

    english = by_rcpt[d1a.email]
    assert "New notice: Model X allocation" in english.message["Subject"]
    text, html = english.part("plain"), english.part("html")
    # The due time in the chain's timezone (Asia/Shanghai), zone named.
    for body in (text, html):
        assert link in body
        assert "Model X allocation" in body
        assert "2026-12-04 18:00 CST" in body
    assert "supply" in text

    chinese = by_rcpt[d1b.email]
    assert "新通知" in chinese.message["Subject"]
    zh_text, zh_html = chinese.part("plain"), chinese.part("html")
    for body in (zh_text, zh_html):
        assert link in body
        assert "2026年12月4日 18:00 北京时间" in body

    for received, party in ((english, d1a), (chinese, d1b)):
        header = str(received.message["List-Unsubscribe"]).strip()  # folded: it is long
        assert header.startswith(f"<{BASE}/unsubscribe/") and header.endswith(">")
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = header[len(f"<{BASE}/unsubscribe/") : -1]
        assert unsubscribe_user_id(app.config["SECRET_KEY"], token) == int(party.user_id)


def test_order_mail_links_to_the_order(app, world, smtp):
    d1a = world.parties["D1a"]
    set_language(app, d1a.user_id, "en")
    order = {"id": "7", "number": "PO-2026-007", "status": "issued", "version": 1}
    claimed = claim(app, world, d1a.user_id, "order.issued", order)

    assert send_email_deliveries(app, [claimed])[claimed.id].ok

    (received,) = smtp.messages
    assert "New order PO-2026-007" in received.message["Subject"]
    assert f"{BASE}/chains/{world.chain_id}/orders/7" in received.part("plain")
    assert f'href="{BASE}/chains/{world.chain_id}/orders/7"' in received.part("html")


def test_other_events_link_to_the_chain(app, world, smtp):
    d1a = world.parties["D1a"]
    set_language(app, d1a.user_id, "en")
    claimed = claim(app, world, d1a.user_id, "statement.ready", {"id": "3"})

    assert send_email_deliveries(app, [claimed])[claimed.id].ok

    (received,) = smtp.messages
    assert f"{BASE}/chains/{world.chain_id}\r\n" in received.part("plain")


def test_statement_mail_links_to_the_statement_in_both_languages(app, world, smtp):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    set_language(app, d1a.user_id, "en")
    set_language(app, d1b.user_id, "zh")
    data = {"org_id": d1a.org_id, "period": "2026-11", "status": "open", "resolution": "accepted"}
    en = claim(app, world, d1a.user_id, "dispute.resolved", data)
    zh = claim(app, world, d1b.user_id, "statement.reminder", {"period": "2026-11"})

    assert all(o.ok for o in send_email_deliveries(app, [en, zh]).values())

    by_to = {m.message["To"]: m for m in smtp.messages}
    english = next(m for to, m in by_to.items() if d1a.email in to)
    chinese = next(m for to, m in by_to.items() if d1b.email in to)
    assert "Dispute on the statement for 2026-11 resolved" in english.message["Subject"]
    link = f"{BASE}/chains/{world.chain_id}/statements/2026-11?org_id={d1a.org_id}"
    assert link in english.part("plain")
    assert "accepted" in english.part("plain")
    assert "2026-11 的对账单" in chinese.message["Subject"]
    assert f"{BASE}/chains/{world.chain_id}/statements/2026-11" in chinese.part("plain")


def test_html_escapes_what_partners_wrote(app, world, smtp):
    d1a = world.parties["D1a"]
    claimed = claim(app, world, d1a.user_id, "notice.published", {**NOTICE, "title": "<b>x</b>"})

    send_email_deliveries(app, [claimed])

    html = smtp.messages[0].part("html")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_one_connection_for_a_batch_and_a_refused_recipient_fails_alone(app, world, smtp):
    parties = [world.parties[key] for key in ("S1", "D1a", "D1b", "D2")]
    smtp.refuse[world.parties["D1b"].email] = "550 5.1.1 No such mailbox"
    smtp.refuse[world.parties["D2"].email] = "450 4.2.0 Mailbox busy"
    claimed = [claim(app, world, p.user_id, "notice.published", NOTICE) for p in parties]

    outcomes = send_email_deliveries(app, claimed)

    assert smtp.connections == 1
    s1, d1a, d1b, d2 = (outcomes[c.id] for c in claimed)
    assert s1.ok and d1a.ok
    assert (
        not d1b.ok and d1b.status_code == 550 and not d1b.retry and "No such mailbox" in d1b.error
    )
    assert not d2.ok and d2.status_code == 450 and d2.retry
    assert sorted(m.recipients[0] for m in smtp.messages) == sorted(
        [world.parties["S1"].email, world.parties["D1a"].email]
    )


def test_an_unreachable_server_fails_every_delivery_for_a_retry(app, world, monkeypatch):
    from tests.mailserver import free_port

    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    claimed = claim(app, world, world.parties["D1a"].user_id, "notice.published", NOTICE)

    outcome = send_email_deliveries(app, [claimed])[claimed.id]

    assert not outcome.ok and outcome.retry and outcome.error


def test_deliveries_claimed_together_for_one_person_are_one_digest(app, world, smtp):
    d1a = world.parties["D1a"]
    set_language(app, d1a.user_id, "en")
    claimed = [
        claim(app, world, d1a.user_id, "notice.published", NOTICE),
        claim(app, world, d1a.user_id, "order.issued", {"id": "7", "number": "PO-7"}),
        claim(app, world, d1a.user_id, "order.shipped", {"id": "7", "number": "PO-7"}),
    ]

    outcomes = send_email_deliveries(app, claimed)

    assert all(outcomes[c.id].ok for c in claimed)
    (digest,) = smtp.messages
    assert "3 updates" in digest.message["Subject"]
    text = digest.part("plain")
    for expected in ("Model X allocation", "New order PO-7", "Order PO-7 shipped"):
        assert expected in text


def test_nobody_gone_or_unsubscribed_is_mailed(app, world, smtp):
    d1a, d1b, s1 = world.parties["D1a"], world.parties["D1b"], world.parties["S1"]
    gone = claim(app, world, d1b.user_id, "notice.published", NOTICE)
    off = claim(app, world, s1.user_id, "notice.published", NOTICE)
    unknown = claim(app, world, "999999", "notice.published", NOTICE)
    kept = claim(app, world, d1a.user_id, "notice.published", NOTICE)
    with app.app_context():
        member = (
            db.session.query(Member)
            .filter_by(chain_id=int(world.chain_id), org_id=int(d1b.org_id))
            .one()
        )
        member.removed_at = utcnow()
        notification_settings.unsubscribe(db.session, int(s1.user_id))
        db.session.commit()

    outcomes = send_email_deliveries(app, [gone, off, unknown, kept])

    assert outcomes[kept.id].ok
    for skipped in (gone, off, unknown):
        assert not outcomes[skipped.id].ok and not outcomes[skipped.id].retry
    assert [m.recipients for m in smtp.messages] == [[d1a.email]]


def test_without_smtp_mail_is_written_as_eml_files(app, world, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_URL", "")
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path / "mail"))
    claimed = claim(app, world, world.parties["D1a"].user_id, "notice.published", NOTICE)

    assert send_email_deliveries(app, [claimed])[claimed.id].ok

    (written,) = (tmp_path / "mail").glob("*.eml")
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == world.parties["D1a"].email
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_body(preferencelist=("html",)) is not None


def test_unsubscribe_tokens_are_signed():
    token = unsubscribe_token("k", 12)
    assert unsubscribe_user_id("k", token) == 12
    assert unsubscribe_user_id("other key", token) is None
    assert unsubscribe_user_id("k", token[:-2] + "xx") is None


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "user", "password"),
    [
        ("smtp://mail.example:2525", "smtp", "mail.example", 2525, None, None),
        (
            "smtp+starttls://u%40x:p%3Aw@mail.example",
            "smtp+starttls",
            "mail.example",
            587,
            "u@x",
            "p:w",
        ),
        ("smtps://mail.example", "smtps", "mail.example", 465, None, None),
    ],
)
def test_smtp_urls(url, scheme, host, port, user, password):
    settings = parse_smtp_url(url)
    assert (settings.scheme, settings.host, settings.port) == (scheme, host, port)
    assert (settings.username, settings.password) == (user, password)


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://h:notaport"])
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(ValueError, match="SUPPLYCHAIN_SMTP_URL"):
        parse_smtp_url(url)


def test_a_bad_smtp_url_stops_the_start(monkeypatch):
    from supplychain.config import Config

    monkeypatch.setenv("SUPPLYCHAIN_SMTP_URL", "mailto:someone@example.com")
    with pytest.raises(ValueError, match="SUPPLYCHAIN_SMTP_URL"):
        Config()


# --- a person's due mail is one unit of work: the daily digest never splits ---------------------


def queue_mail(app, world, user_id: str, count: int, due_in: timedelta = timedelta(0)) -> list[int]:
    """`count` pending email deliveries of distinct events for one person, due `due_in` from
    now (a daily digest's deliveries all wait for the same hour)."""
    with app.app_context():
        ids = []
        due = utcnow() + due_in - timedelta(seconds=1)
        for i in range(count):
            event = Event(
                chain_id=int(world.chain_id),
                type="order.issued",
                subject_type="order",
                subject_id=None,
                data={"id": str(100 + i), "number": f"PO-{user_id}-{i}"},
                occurred_at=utcnow(),
            )
            db.session.add(event)
            db.session.flush()
            delivery = Delivery(
                event_id=event.id,
                chain_id=event.chain_id,
                channel="email",
                user_id=int(user_id),
                status="pending",
                attempts=0,
                next_attempt_at=due,
                created_at=utcnow(),
            )
            db.session.add(delivery)
            db.session.flush()
            ids.append(delivery.id)
        db.session.commit()
        db.session.remove()
    return ids


def mail_deliveries(app) -> list[Delivery]:
    with app.app_context():
        found = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        db.session.remove()
    return list(found)


def interleaved(app, world, keys: list[str], per_person: int) -> dict[str, list[int]]:
    """Each party's digest, queued one delivery at a time in turns, so that a person's
    deliveries are far apart in claim order."""
    queued: dict[str, list[int]] = {key: [] for key in keys}
    for _round in range(per_person):
        for key in keys:
            queued[key] += queue_mail(app, world, world.parties[key].user_id, 1)
    return queued


@pytest.mark.committed
def test_a_digest_spanning_claim_batches_is_one_mail(app, world, smtp, monkeypatch):
    """A claim batch of one person: each person's due mail is still one message with all of it,
    and mail not due yet (tomorrow's digest) waits."""
    monkeypatch.setitem(app.config, "WORKER_BATCH", 1)
    keys = ["D1a", "D1b", "S1"]
    for key in keys:
        set_language(app, world.parties[key].user_id, "en")
    queued = interleaved(app, world, keys, 4)
    tomorrow = queue_mail(app, world, world.parties["D1a"].user_id, 1, timedelta(days=1))

    worker = Worker(app)
    assert [worker.run_once() for _ in range(4)] == [4, 4, 4, 0]

    assert sorted(m.recipients[0] for m in smtp.messages) == sorted(
        world.parties[key].email for key in keys
    )
    for received in smtp.messages:
        assert "4 updates" in received.message["Subject"]
    by_id = {d.id: d for d in mail_deliveries(app)}
    assert all(by_id[i].status == "succeeded" for ids in queued.values() for i in ids)
    assert (by_id[tomorrow[0]].status, by_id[tomorrow[0]].leased_by) == ("pending", None)


@pytest.mark.committed
def test_two_workers_racing_never_split_a_digest(app, world, smtp, monkeypatch):
    """Two workers claiming one person at a time, concurrently: every person gets one message
    with all their due mail, and no delivery is sent twice."""
    monkeypatch.setitem(app.config, "WORKER_BATCH", 1)
    keys = ["S1", "D1a", "D1b", "D2"]
    queued = interleaved(app, world, keys, 6)
    workers = [Worker(app, name=f"w{i}") for i in range(2)]
    handled = {w.name: 0 for w in workers}
    start = threading.Barrier(2)

    def drain(worker: Worker) -> None:
        start.wait()
        while done := worker.run_once():
            handled[worker.name] += done

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sum(handled.values()) == 6 * len(keys)
    recipients = [m.recipients[0] for m in smtp.messages]
    assert sorted(recipients) == sorted(world.parties[key].email for key in keys)
    assert all(d.status == "succeeded" and d.attempts == 1 for d in mail_deliveries(app))
    assert {d.id for d in mail_deliveries(app)} == {i for ids in queued.values() for i in ids}


@pytest.mark.committed
def test_a_digest_to_retry_stays_one_unit(app, world, smtp, monkeypatch):
    """A digest the server defers (4xx) is retried as one: its deliveries wait for the same
    next try, so they are claimed, and mailed, together again."""
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", (60, 60))
    d1a = world.parties["D1a"]
    smtp.refuse[d1a.email] = "450 4.2.0 Mailbox busy"
    ids = queue_mail(app, world, d1a.user_id, 3)

    assert Worker(app).run_once() == 3

    found = [d for d in mail_deliveries(app) if d.id in ids]
    assert {(d.status, d.attempts, d.last_status_code) for d in found} == {("pending", 1, 450)}
    assert len({d.next_attempt_at for d in found}) == 1
    assert found[0].next_attempt_at > utcnow() + timedelta(seconds=50)


def test_a_due_time_past_year_9999_in_the_chains_zone_is_mailed_in_utc(app, world, smtp):
    # A notice may be due at 9999-12-31T23:00Z (future, within UTC's years): in Shanghai that is
    # year 10000. Writing the mail raised OverflowError, which failed the whole batch: this
    # notice's mail and everyone else's in it, on every retry.
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    set_language(app, d1a.user_id, "en")
    far = claim(app, world, d1a.user_id, "notice.published",
                NOTICE | {"ack_due": "9999-12-31T23:00:00+00:00"})  # fmt: skip
    other = claim(app, world, d1b.user_id, "notice.published", NOTICE)

    outcomes = send_email_deliveries(app, [far, other])

    assert outcomes[far.id].ok and outcomes[other.id].ok, outcomes
    by_rcpt = {m.recipients[0]: m for m in smtp.messages}
    for body in (by_rcpt[d1a.email].part("plain"), by_rcpt[d1a.email].part("html")):
        assert "9999-12-31 23:00 UTC" in body
    assert "2026年12月4日 18:00 北京时间" in by_rcpt[d1b.email].part("plain")
