"""Fixtures of the webhook delivery tests: a real receiver and the settings to reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supplychain import webhook_sender
from tests.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


@pytest.fixture
def settings(app, monkeypatch):
    """Loopback receivers allowed, a short timeout and an immediate retry schedule; the
    sender's client is rebuilt with them and closed after the test."""
    values = {
        "WEBHOOK_ALLOW_PRIVATE": True,
        "WEBHOOK_TIMEOUT": 1,
        "WEBHOOK_RETRY_SCHEDULE": (0, 0),
        "WORKER_LEASE_SECONDS": 30,
    }
    webhook_sender.release(app)
    for name, value in values.items():
        monkeypatch.setitem(app.config, name, value)
    yield app.config
    webhook_sender.release(app)
