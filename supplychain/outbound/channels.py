"""The channels a delivery worker sends: add a channel here (see the package docstring)."""

from __future__ import annotations

from supplychain.outbound.channel import Channel
from supplychain.outbound.logout import LogoutChannel
from supplychain.outbound.mail.sending import EmailChannel
from supplychain.outbound.webhooks import WebhookChannel

CHANNELS: tuple[Channel, ...] = (
    WebhookChannel(),
    EmailChannel(),
    LogoutChannel(),
)
