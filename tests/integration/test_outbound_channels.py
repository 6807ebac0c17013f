"""A channel is one class the worker iterates: it claims that channel's deliveries only when
it has the channel, hands them over outside any transaction, records the outcomes, and
releases the channel when it stops."""

from __future__ import annotations

from typing import ClassVar

import pytest
from flask import Flask, has_app_context

from supplychain.extensions import db
from supplychain.models.events import Delivery, Event
from supplychain.outbound.channel import Channel
from supplychain.outbound.channels import CHANNELS
from supplychain.outbound.deliveries import Claimed, Outcome
from supplychain.outbound.worker import Worker
from tests.integration.test_webhook_delivery import deliveries

pytestmark = pytest.mark.committed


class Recording(Channel):
    """A channel that keeps what it was given and answers by the event's data (under the name
    of a channel the database knows: the logout channel, which the worker below goes without)."""

    name: ClassVar[str] = "logout"

    def __init__(self) -> None:
        self.sent: list[Claimed] = []
        self.released = 0

    def send(self, app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
        assert not has_app_context()  # sent outside any app context, so any transaction
        self.sent += claimed
        return {
            c.id: Outcome(ok=True, status_code=200)
            if c.data.get("ok")
            else Outcome(ok=False, error="refused", retry=False)
            for c in claimed
        }

    def release(self, app: Flask) -> None:
        self.released += 1


def queue(app, world, ok: bool) -> int:
    with app.app_context():
        event = Event(
            chain_id=int(world.chain_id), type="ping", subject_type="ping", data={"ok": ok}
        )
        db.session.add(event)
        db.session.flush()
        delivery = Delivery(event_id=event.id, chain_id=event.chain_id, channel="logout")
        db.session.add(delivery)
        db.session.commit()
        delivery_id = delivery.id
        db.session.remove()
    return delivery_id


def test_the_shipped_channels():
    assert [channel.name for channel in CHANNELS] == ["webhook", "email", "logout"]
    assert [channel.name for channel in CHANNELS if channel.per_person] == ["email"]


def test_a_new_channel_is_claimed_sent_recorded_and_released(world, app, settings):
    good, bad = queue(app, world, ok=True), queue(app, world, ok=False)
    others = tuple(c for c in CHANNELS if c.name != Recording.name)
    without = Worker(app, channels=others)
    assert without.run_once() == 0  # no such channel here: left for a worker that has it
    assert {d.status for d in deliveries(app)} == {"pending"}

    channel = Recording()
    worker = Worker(app, channels=(*others, channel))
    assert worker.run_once() == 2

    assert sorted(c.id for c in channel.sent) == [good, bad]
    assert {c.event_type for c in channel.sent} == {"ping"}
    found = {d.id: d for d in deliveries(app)}
    assert (found[good].status, found[good].last_status_code) == ("succeeded", 200)
    assert (found[bad].status, found[bad].last_error) == ("failed", "refused")
    worker.close()
    assert channel.released == 1
