"""Back-channel logout deliveries against hostile receivers, as webhooks are: an error answer is
retried later, a redirect is recorded and never followed, a receiver that hangs is cut off at the
timeout, and a logout URI on a private address is refused at connect time when private addresses
are not allowed (registered while they were)."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import Delivery, OidcLogout
from supplychain.models.base import utcnow
from supplychain.outbound import http as outbound_http
from supplychain.outbound.worker import Worker
from tests.api.oidc_helpers import grant, register
from tests.integration.test_oidc_logout import _grant_id, _signed_in

# Workers claim and record in transactions of their own: real commits.
pytestmark = pytest.mark.committed


def end_one_session(app, world, uri: str) -> None:
    """An app with back-channel logout at `uri`, one signed-in session, then its grant revoked:
    one logout delivery queued."""
    client = register(world, backchannel_logout_uri=uri)
    grant(world, "portal", "org", world.parties["D1a"].org_id)
    _signed_in(app, world, client).tokens()
    r = world.api.delete(
        world.path(f"/grants/{_grant_id(world, 'portal')}"), token=world.owner.token
    )
    assert r.status_code == 204, r.text


def logout_delivery(app) -> Delivery:
    """The single logout delivery, checked to point at the logout row."""
    with app.app_context():
        (found,) = db.session.scalars(select(Delivery).where(Delivery.channel == "logout")).all()
        assert db.session.get(OidcLogout, found.endpoint_id) is not None
        db.session.expunge_all()
        db.session.remove()
    return found


def make_due(app, delivery_id: int) -> None:
    with app.app_context():
        db.session.get(Delivery, delivery_id).next_attempt_at = utcnow()
        db.session.commit()
        db.session.remove()


def test_a_500_is_retried_later_then_succeeds(world, app, settings, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", (100, 1000))
    end_one_session(app, world, receiver.url + "/bcl")
    receiver.script = ["500"]
    worker = Worker(app)
    before = utcnow()
    assert worker.run_once() == 1
    delivery = logout_delivery(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500."
    assert delivery.next_attempt_at - before > timedelta(seconds=80)
    assert delivery.lease_until is None
    assert worker.run_once() == 0  # not due yet
    assert len(receiver.receipts) == 1
    make_due(app, delivery.id)
    assert worker.run_once() == 1
    delivery = logout_delivery(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert [r.mode for r in receiver.receipts] == ["500", "ok"]


def test_a_redirect_is_recorded_and_not_followed(world, app, settings, receiver):
    end_one_session(app, world, receiver.url + "/bcl")
    receiver.script = ["redirect"]
    worker = Worker(app)
    assert worker.run_once() == 1
    delivery = logout_delivery(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 302)
    assert delivery.last_error == "HTTP 302."
    assert [r.path for r in receiver.receipts] == ["/bcl"]  # /elsewhere never called
    worker.run_once()  # the retry goes to the logout URI again, not to the redirect target
    assert logout_delivery(app).status == "succeeded"
    assert [r.path for r in receiver.receipts] == ["/bcl", "/bcl"]


def test_a_hanging_receiver_is_cut_off_at_the_timeout_and_retried(world, app, settings, receiver):
    end_one_session(app, world, receiver.url + "/bcl")
    receiver.script = ["hang"]  # holds the request for 60 s unless released
    worker = Worker(app)
    started = time.monotonic()
    assert worker.run_once() == 1
    assert time.monotonic() - started < 30  # far below the receiver's 60 s hang
    delivery = logout_delivery(app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == "No answer within 1 s."
    assert worker.run_once() == 1  # the worker is unharmed: the retry goes through
    delivery = logout_delivery(app)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert [r.mode for r in receiver.receipts] == ["hang", "ok"]


def test_a_loopback_logout_uri_is_refused_without_connecting(world, app, settings, monkeypatch):
    """Registered while private addresses were allowed; at delivery time they are not. A bare
    listening socket stands in for the app: not even a TCP connection reaches it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        end_one_session(app, world, f"http://127.0.0.1:{listener.getsockname()[1]}/bcl")
        outbound_http.release(app)
        monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
        assert Worker(app).run_once() == 1
        delivery = logout_delivery(app)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "pending",
            1,
            None,
        )
        assert "Refused" in delivery.last_error and "private" in delivery.last_error
        with pytest.raises(BlockingIOError):  # nothing in the accept queue, not even closed
            listener.accept()
    finally:
        listener.close()
