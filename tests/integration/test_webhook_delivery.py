"""Webhook deliveries against a real HTTP receiver on the loopback: signatures that
`standardwebhooks` verifies, retries and `failed`, receivers that misbehave, the connect-time
SSRF guard, WeCom robots, and workers that race or die (threads and `supplychain worker`
processes on the same database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from supplychain.extensions import db
from supplychain.models import Delivery, WebhookEndpoint
from supplychain.models.base import utcnow
from supplychain.outbound import http as outbound_http
from supplychain.outbound.worker import Worker
from supplychain.services.events import publish_ping

# Workers claim and record in transactions of their own (and other processes): real commits.
pytestmark = pytest.mark.committed


def register(world, receiver, party=None, path="/hook", **body):
    party = party or world.owner
    r = world.api.post(
        world.path("/webhooks"),
        {"url": receiver.url + path, "events": ["*"], **body},
        token=party.token,
    )
    assert r.status_code == 201, r.text
    return r.json()


def ping(world, hook, party=None):
    party = party or world.owner
    r = world.api.post(world.path(f"/webhooks/{hook['id']}/test"), token=party.token)
    assert r.status_code == 202, r.text
    return r.json()


def deliveries(app) -> list[Delivery]:
    with app.app_context():
        found = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        db.session.remove()
    return list(found)


def queue_pings(app, endpoint_id: str, count: int) -> None:
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, int(endpoint_id))
        for _ in range(count):
            publish_ping(db.session, endpoint)
        db.session.commit()
        db.session.remove()


def test_a_delivery_is_signed_so_standardwebhooks_verifies_it(world, app, settings, receiver):
    hook = register(world, receiver)
    queued = ping(world, hook)
    worker = Worker(app)
    assert worker.run_once() == 1
    (receipt,) = receiver.receipts
    payload = Webhook(hook["secret"]).verify(receipt.body, receipt.headers)
    assert payload["id"] == queued["event_id"] == receipt.headers["webhook-id"]
    assert payload["type"] == "ping" and payload["chain_id"] == world.chain_id
    assert payload["data"] == {"endpoint_id": hook["id"]}
    assert receipt.headers["content-type"] == "application/json"
    assert abs(int(receipt.headers["webhook-timestamp"]) - time.time()) < 60
    # Another secret does not verify it.
    other = register(world, receiver)["secret"]
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(receipt.body, receipt.headers)
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None and delivery.lease_until is None
    log = world.api.get(world.path(f"/webhooks/{hook['id']}/deliveries"), token=world.owner.token)
    assert log.json()["items"][0]["status"] == "succeeded"
    assert worker.run_once() == 0


def test_a_failure_is_retried_with_the_same_webhook_id_then_succeeds(
    world, app, settings, receiver
):
    hook = register(world, receiver)
    ping(world, hook)
    receiver.script = ["500"]
    worker = Worker(app)
    worker.run_once()
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500."
    worker.run_once()
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert delivery.last_error is None
    assert [r.mode for r in receiver.receipts] == ["500", "ok"]
    assert len(set(receiver.ids())) == 1
    for receipt in receiver.receipts:  # each try signed afresh, each verifies
        Webhook(hook["secret"]).verify(receipt.body, receipt.headers)


def test_failed_after_the_last_step_of_the_schedule(world, app, settings, receiver):
    hook = register(world, receiver)
    ping(world, hook)
    receiver.default = "503"
    worker = Worker(app)
    for _ in range(5):
        worker.run_once()
    (delivery,) = deliveries(app)
    # Two retries in the schedule: three tries in all, then failed.
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert len(receiver.receipts) == 3


def test_the_next_try_waits_for_the_schedule_with_jitter(
    world, app, settings, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", (100, 1000))
    hook = register(world, receiver)
    ping(world, hook)
    receiver.default = "500"
    worker = Worker(app)
    before = utcnow()
    worker.run_once()
    (delivery,) = deliveries(app)
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=89) < wait < timedelta(seconds=111)
    assert worker.run_once() == 0  # not due yet
    assert len(receiver.receipts) == 1


@pytest.mark.parametrize(
    ("mode", "code", "error"),
    [
        ("hang", None, "No answer within 1 s."),
        ("drip", None, "No answer within 1 s."),
        ("redirect", 302, "HTTP 302: redirects are not followed."),
        ("close", None, "RemoteProtocolError"),
        ("404", 404, "HTTP 404."),
    ],
)
def test_misbehaving_receivers_are_recorded_and_retried(
    world, app, settings, receiver, mode, code, error
):
    hook = register(world, receiver)
    ping(world, hook)
    receiver.script = [mode]
    worker = Worker(app)
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 5
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, code)
    assert error in delivery.last_error
    assert [r.path for r in receiver.receipts] == ["/hook"]  # a redirect is not followed
    worker.run_once()  # the worker is unharmed: the retry goes through
    assert deliveries(app)[0].status == "succeeded"


def test_a_huge_answer_is_cut_not_read(world, app, settings, receiver):
    hook = register(world, receiver)
    ping(world, hook)
    receiver.script = ["huge"]
    worker = Worker(app)
    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 5
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)
    time.sleep(0.2)
    assert receiver.sent_bytes < 20 * 1024 * 1024  # the receiver was stopped early


def test_the_address_is_checked_again_when_connecting(world, app, settings, receiver, monkeypatch):
    """Registered while private addresses were allowed; at delivery time they are not: the
    sender refuses to connect and the receiver never hears of it."""
    hook = register(world, receiver)
    ping(world, hook)
    outbound_http.release(app)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    Worker(app).run_once()
    (delivery,) = deliveries(app)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "Refused" in delivery.last_error and "private" in delivery.last_error
    assert receiver.receipts == []


def test_the_guard_resolves_names_itself(monkeypatch):
    """A name that resolved to a public address at registration and to loopback now
    (DNS rebinding) is refused by the connection itself."""
    import httpcore

    from supplychain.net import addresses, transport

    backend = transport.GuardedBackend(allow_private=False)
    monkeypatch.setattr(
        addresses.socket,
        "getaddrinfo",
        lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 80))],
    )
    with pytest.raises(httpcore.ConnectError, match="Refused"):
        backend.connect_tcp("rebind.example", 80, timeout=1)


def test_a_disabled_endpoint_gets_nothing(world, app, settings, receiver):
    hook = register(world, receiver)
    ping(world, hook)
    # Disabled behind the API's back (as by a concurrent request after the claim).
    with app.app_context():
        db.session.get(WebhookEndpoint, int(hook["id"])).enabled = False
        db.session.commit()
        db.session.remove()
    Worker(app).run_once()
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.last_error) == ("failed", "The endpoint is disabled.")
    assert receiver.receipts == []


@pytest.mark.parametrize(
    ("language", "headline", "link_word"),
    [
        ("zh", "来自 supplychain 的测试消息", "查看"),
        ("en", "Test message from supplychain", "Open"),
    ],
)
def test_a_wecom_robot_gets_markdown_in_its_language(
    world, app, settings, receiver, monkeypatch, language, headline, link_word
):
    monkeypatch.setitem(app.config, "BASE_URL", "https://sc.example.com")
    body = {"kind": "wecom_robot"} | ({"language": language} if language == "en" else {})
    hook = register(world, receiver, path="/cgi-bin/webhook/send?key=abc", **body)
    ping(world, hook)
    receiver.script = ["wecom_ok"]
    Worker(app).run_once()
    (receipt,) = receiver.receipts
    assert receipt.path == "/cgi-bin/webhook/send?key=abc"
    message = receipt.json()
    assert message["msgtype"] == "markdown"
    content = message["markdown"]["content"]
    assert headline in content
    assert f"[{link_word}](https://sc.example.com/chains/{world.chain_id}/integrations)" in content
    assert "webhook-signature" not in receipt.headers
    assert deliveries(app)[0].status == "succeeded"


def test_a_wecom_error_code_is_a_failure(world, app, settings, receiver):
    hook = register(world, receiver, path="/cgi-bin/webhook/send?key=bad", kind="wecom_robot")
    ping(world, hook)
    receiver.script = ["wecom_bad_key"]
    Worker(app).run_once()
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.last_status_code) == ("pending", 200)
    assert delivery.last_error == "WeCom errcode 93000: invalid webhook url"


def test_a_delivery_of_another_channel_is_left_pending(world, app, settings, receiver):
    hook = register(world, receiver)
    queued = ping(world, hook)
    with app.app_context():
        email = Delivery(
            event_id=int(queued["event_id"].removeprefix("evt_")),
            chain_id=int(world.chain_id),
            channel="sms",  # a channel no sender serves
            user_id=int(world.owner.user_id),
        )
        db.session.add(email)
        db.session.commit()
        db.session.remove()
    worker = Worker(app)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    assert [(d.channel, d.status, d.attempts) for d in deliveries(app)] == [
        ("webhook", "succeeded", 1),
        ("sms", "pending", 0),
    ]


def test_the_worker_mails_email_deliveries_through_the_mail_backend(world, app, settings, tmp_path):
    """Email deliveries go through the same worker loop: with no SMTP settings, as .eml files."""
    from supplychain.services import events

    with app.app_context():
        events.publish(
            db.session,
            chain_id=int(world.chain_id),
            type="order.issued",
            subject_type="order",
            subject_id=None,
            data={"id": "1", "number": "SO-1", "status": "issued"},
            org_ids=[int(world.parties["D1a"].org_id)],
        )
        db.session.commit()
        db.session.remove()
    settings["MAIL_DIR"] = str(tmp_path)
    settings["SMTP_URL"] = ""
    assert Worker(app).run_once() == 1
    (delivery,) = deliveries(app)
    assert (delivery.channel, delivery.status, delivery.attempts) == ("email", "succeeded", 1)
    (mail,) = tmp_path.glob("*.eml")
    assert world.parties["D1a"].email in mail.read_text(encoding="utf-8", errors="replace")


def test_a_lost_lease_is_not_recorded(world, app, settings, receiver):
    """A worker that outlived its lease (another took the delivery over) records nothing."""
    hook = register(world, receiver)
    ping(world, hook)
    slow, fast = Worker(app, name="slow"), Worker(app, name="fast")
    claimed = slow.claim()
    with app.app_context():  # the lease runs out
        db.session.get(Delivery, claimed[0].id).lease_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
        db.session.remove()
    assert fast.run_once() == 1
    slow.record(claimed, slow.send(claimed))  # too late: not written
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert len(receiver.receipts) == 2  # at-least-once: the late one did send


def test_two_worker_threads_never_send_the_same_delivery(
    world, app, settings, receiver, monkeypatch
):
    # One delivery a batch, and the first held at the receiver until a second is in flight:
    # that second is the other worker's, so both take part however the threads are scheduled.
    monkeypatch.setitem(app.config, "WORKER_BATCH", 1)
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT", 45)
    hook = register(world, receiver)
    queue_pings(app, hook["id"], 60)
    receiver.script = ["meet", "meet"]
    receiver.delay = 0.01
    workers = [Worker(app, name=f"w{i}") for i in range(2)]
    handled = {w.name: 0 for w in workers}
    together = threading.Barrier(len(workers))

    def drain(worker: Worker) -> None:
        # Both claim from the same moment, and each keeps claiming until all 60 are handled
        # (an empty claim while the other holds the last batches is not the end): on a busy
        # machine one thread may start late or be descheduled between its look and its lease.
        together.wait()
        deadline = time.monotonic() + 60
        while sum(handled.values()) < 60 and time.monotonic() < deadline:
            done = worker.run_once()
            handled[worker.name] += done
            if not done:
                time.sleep(0.01)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    ids = receiver.ids()
    assert len(ids) == 60 and set(ids.values()) == {1}
    assert all(d.status == "succeeded" and d.attempts == 1 for d in deliveries(app))
    assert sum(handled.values()) == 60 and all(handled.values()), handled


# --- `supplychain worker` processes -----------------------------------------------------------


def worker_env(database_url: str, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE": "1",
        "SUPPLYCHAIN_WORKER_POLL_SECONDS": "1",
        **settings,
    }


def start_worker(env: dict[str, str], *args: str, log=None) -> subprocess.Popen[str]:
    """`supplychain worker` in a process of its own; its log to the file `log`, else a pipe."""
    command = [sys.executable, "-m", "supplychain.cli", "worker", *args]
    if log is None:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    with log.open("w") as stream:  # the child keeps its own descriptor
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stream)


def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_two_worker_processes_never_send_the_same_delivery(
    world, app, settings, receiver, database_url, tmp_path
):
    hook = register(world, receiver)
    # One delivery a batch, and the first held at the receiver until a second is in flight:
    # that second is the other worker's, so both take part however the machine schedules them
    # (CI once saw one worker, started and polling, take all 40 while the other got no turn).
    env = worker_env(database_url, SUPPLYCHAIN_WORKER_BATCH="1", SUPPLYCHAIN_WEBHOOK_TIMEOUT="45")
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs = [start_worker(env, log=path) for path in logs]
    try:
        wait_until(lambda: all("running" in path.read_text() for path in logs))
        receiver.script = ["meet", "meet"]
        receiver.delay = 0.05
        queue_pings(app, hook["id"], 40)
        wait_until(lambda: {d.status for d in deliveries(app)} == {"succeeded"})
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.communicate(timeout=60)
    ids = receiver.ids()
    assert len(ids) == 40 and set(ids.values()) == {1}
    handled = [int(path.read_text().rsplit("stopped: ", 1)[1].split()[0]) for path in logs]
    assert sum(handled) == 40 and all(handled), handled


def test_a_worker_killed_mid_batch_loses_nothing(world, app, settings, receiver, database_url):
    """SIGKILL while the receiver hangs on the first send; after the lease runs out a second
    worker delivers everything. Only what was in flight arrives twice."""
    hook = register(world, receiver)
    queue_pings(app, hook["id"], 5)
    receiver.script = ["hang"]
    env = worker_env(
        database_url,
        SUPPLYCHAIN_WORKER_BATCH="3",
        SUPPLYCHAIN_WEBHOOK_CONCURRENCY="1",
        SUPPLYCHAIN_WEBHOOK_TIMEOUT="30",
        SUPPLYCHAIN_WORKER_LEASE_SECONDS="2",
    )
    first = start_worker(env)
    try:
        assert receiver.got_request.wait(60), "the first worker sent nothing"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    in_flight = set(receiver.ids())
    assert len(in_flight) == 1
    leased = [d for d in deliveries(app) if d.leased_by]
    assert len(leased) == 3 and all(d.status == "pending" for d in leased)
    time.sleep(2.5)  # the dead worker's 2 s lease runs out
    second = start_worker(env, "--once")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert {d.status for d in deliveries(app)} == {"succeeded"}
    ids = receiver.ids()
    assert len(ids) == 5
    assert {i for i, n in ids.items() if n > 1} == in_flight
    assert all(ids[i] == 1 for i in ids if i not in in_flight)


def test_sigterm_lets_the_worker_finish_its_batch(world, app, settings, receiver, database_url):
    hook = register(world, receiver)
    ping(world, hook)
    receiver.delay = 1.5
    proc = start_worker(worker_env(database_url))
    try:
        assert receiver.got_request.wait(60)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    (delivery,) = deliveries(app)
    assert (delivery.status, delivery.leased_by) == ("succeeded", None)
