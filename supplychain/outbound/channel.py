"""The one interface every way out implements: its name, send a claimed batch, release.

The worker claims due deliveries of the channels it has (`Delivery.channel` is the name), hands
each channel its share of a batch outside any transaction, records the outcomes, and releases
every channel when it stops. A channel never sees how deliveries are claimed or recorded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from flask import Flask

from supplychain.outbound.deliveries import Claimed, Outcome


class Channel(ABC):
    """One way out (webhooks, email, ...): one instance per process, shared by its workers."""

    # The value of `Delivery.channel` this channel sends.
    name: ClassVar[str]
    # True: a person's due deliveries are claimed together as one unit (one message: the
    # digest), never split across batches or workers. Only for deliveries with a `user_id`.
    per_person: ClassVar[bool] = False

    @abstractmethod
    def send(self, app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
        """Send these deliveries (all of this channel; the app gives settings and database):
        an Outcome for every delivery id. Called outside any transaction; a channel reads what
        it needs in its own short one. An exception fails the whole batch as one attempt."""

    def release(self, app: Flask) -> None:  # noqa: B027 - most channels keep nothing
        """Close what the channel keeps between batches (connections, threads): the worker
        stops. Nothing by default."""
