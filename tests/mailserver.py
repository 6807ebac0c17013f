"""A real SMTP server on the loopback for tests (aiosmtpd), collecting what it is sent."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message as the server got it."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes = b""  # the DATA as sent

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
    # Per message: whether it came over TLS, and the login it was sent under (None: no AUTH).
    tls: list[bool] = field(default_factory=list)
    logins: list[str | None] = field(default_factory=list)

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
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, envelope.original_content)
        )
        self.tls.append(server.transport.get_extra_info("sslcontext") is not None)
        self.logins.append(session.auth_data.decode() if session.authenticated else None)
        return "250 Message accepted"


@dataclass
class Credentials:
    """The one login the server accepts (AUTH PLAIN or LOGIN); counts the attempts refused."""

    user: str
    password: str
    refused: int = 0

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        ):
            return AuthResult(success=True, auth_data=auth_data.login)
        self.refused += 1
        return AuthResult(success=False, handled=False)


@dataclass(frozen=True)
class Certificate:
    """A throwaway self-signed server certificate for 127.0.0.1 and localhost."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate(folder: Path, name: str = "server") -> Certificate:
    """Make a key and a self-signed certificate valid for a day (the `openssl` command)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


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
def smtp_server(
    handler: Any = None,
    *,
    tls: str | None = None,
    certificate: Certificate | None = None,
    credentials: Credentials | None = None,
) -> Iterator[tuple[Any, str]]:
    """A running server and the URL to reach it: plain `smtp://`; with `tls="starttls"` one that
    requires STARTTLS before mail (`smtp+starttls://`); with `tls="implicit"` TLS from the first
    byte (`smtps://`). With `credentials` it requires AUTH, and the URL carries the login.
    `handler` (default: a Collector) gets aiosmtpd's calls."""
    collector = handler if handler is not None else Collector()
    port = free_port()
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}  # RFC 6531: non-ASCII addresses
    if tls is not None:
        assert certificate is not None, "TLS needs a certificate"
        if tls == "starttls":
            kwargs |= {"tls_context": certificate.server_context(), "require_starttls": True}
        else:
            assert tls == "implicit"
            kwargs["ssl_context"] = certificate.server_context()
            # aiosmtpd only knows of STARTTLS: on an implicit TLS socket it must be told that
            # AUTH is over TLS already.
            kwargs["auth_require_tls"] = False
    if credentials is not None:
        kwargs |= {"authenticator": credentials, "auth_required": True}
    controller = Controller(collector, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    scheme = {None: "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}[tls]
    login = f"{credentials.user}:{credentials.password}@" if credentials else ""
    try:
        yield collector, f"{scheme}://{login}127.0.0.1:{port}"
    finally:
        controller.stop()
