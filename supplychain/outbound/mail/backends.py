"""Where mail goes: SMTP (`SUPPLYCHAIN_SMTP_URL` set) or one `.eml` file per message under
`SUPPLYCHAIN_MAIL_DIR` (unset: development and demos).

A backend is a context manager with `send(Mail) -> Outcome`, as Django's mail backends are: the
SMTP one keeps one connection for a whole batch (a refused recipient fails that message only).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
import uuid
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from supplychain.config import SmtpSettings, parse_smtp_url, smtp_tls_context
from supplychain.outbound.deliveries import Outcome
from supplychain.outbound.mail.message import Mail


class SmtpBackend:
    """SMTP over one connection for a whole batch, opened on the first message; a connection
    that breaks is opened again for the next message."""

    def __init__(self, settings: SmtpSettings, timeout: float, ca_file: str | None = None) -> None:
        self.settings = settings
        self.timeout = timeout
        self.ca_file = ca_file
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpBackend:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.scheme == "smtps":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=self.timeout, context=_tls_context(self.ca_file)
            )
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            if s.scheme == "smtp+starttls":
                connection.starttls(context=_tls_context(self.ca_file))
            if s.username:
                connection.login(s.username, s.password or "")
        except (smtplib.SMTPException, OSError):
            connection.close()  # refused (an untrusted certificate, a wrong password): no leak
            raise
        return connection

    def close(self) -> None:
        """Say goodbye to the server (a dead connection is simply dropped)."""
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        self.connection = None

    def send(self, message: Mail) -> Outcome:
        """Send one message: the server refusing its recipient or content fails it (5xx for good,
        4xx to be retried); trouble with the server itself is retried; the connection stays for
        the next message unless it broke."""
        try:
            if self.connection is None:
                self.connection = self._open()
            self.connection.sendmail(
                message.sender,
                [message.recipient],
                message.data,
                mail_options=["SMTPUTF8"] if message.smtputf8 else [],
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _refused(code, text)
        except smtplib.SMTPDataError as exc:
            # The server refused this message (its content, its size): about it, not the server.
            return _refused(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            # The server, not the message: unreachable, lost, refusing us (auth, sender): every
            # message waiting is retried, on a new connection.
            self._drop()
            return Outcome(
                ok=False,
                status_code=getattr(exc, "smtp_code", None),
                error=f"SMTP: {exc}"[:500],
                retry=True,
            )
        return Outcome(ok=True, status_code=250)

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


@cache
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA setting, shared by every connection (it is
    thread-safe, and loading the certificates for each batch would be wasted work)."""
    return smtp_tls_context(ca_file)


def _refused(code: int, text: bytes | str) -> Outcome:
    """A server's refusal: 5xx is permanent, anything else may pass later."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return Outcome(ok=False, status_code=code, error=f"{code} {text}"[:500], retry=code < 500)


class FileBackend:
    """One `.eml` file per message in a folder: mail for development, demos and tests."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __enter__(self) -> FileBackend:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def send(self, message: Mail) -> Outcome:
        """Write the message as `<time>-<random>.eml` (written aside, then renamed into place,
        so a reader never sees half a file)."""
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        target = self.folder / name
        partial = self.folder / f".{name}.part"
        try:
            partial.write_bytes(message.data)
            os.replace(partial, target)
        except OSError as exc:
            return Outcome(ok=False, error=f"Mail folder: {exc}"[:500], retry=True)
        return Outcome(ok=True)


def mail_backend(config: Any) -> SmtpBackend | FileBackend:
    """The backend the settings ask for: SMTP when a URL is set, else the mail folder."""
    if config["SMTP_URL"]:
        return SmtpBackend(
            parse_smtp_url(config["SMTP_URL"]), config["SMTP_TIMEOUT"], config.get("SMTP_CA_FILE")
        )
    return FileBackend(config["MAIL_DIR"])
