"""A real SMTP server on the loopback for tests (aiosmtpd), collecting what it is sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One message as the server got it."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        """The text of the message's text/<subtype> part."""
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype
        return body.get_content()


@dataclass
class Collector:
    """The server's handler: counts connections (one EHLO each), refuses chosen recipients."""

    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_mailing_to_server(app, monkeypatch, base_url: str) -> Iterator[Collector]:
    """A running server the app's SMTP settings point at (restored after the test)."""
    with smtp_server() as (collector, url):
        monkeypatch.setitem(app.config, "SMTP_URL", url)
        monkeypatch.setitem(app.config, "BASE_URL", base_url)
        monkeypatch.setitem(app.config, "MAIL_FROM", "Supply chain <noreply@sc.example>")
        yield collector


@contextmanager
def smtp_server(handler: Any = None) -> Iterator[tuple[Any, str]]:
    """A running server and the `smtp://` URL to reach it; `handler` (default: a Collector)
    gets aiosmtpd's calls."""
    collector = handler if handler is not None else Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
