"""Email: backends chosen by settings, messages rendered per person, and the email sender.

`SUPPLYCHAIN_SMTP_URL` set: SMTP through the standard library, connections reused for a whole
batch (a refused recipient fails that message only). Unset: one `.eml` file per message under
`SUPPLYCHAIN_MAIL_DIR` (default `instance/mail/`), for development and demos.

`send_email_deliveries` is the worker's sender for the `email` channel: it reads what it needs
in one short transaction, ends it, and talks SMTP outside any transaction. Deliveries claimed
together for one person leave as one message (the daily digest is exactly that: the worker
claims a person's due mail as one unit). Cheap per message, because a worker sends thousands:
what a message says about an event is worked out once per batch and language, messages are
written as bytes directly (the `email` package's header objects cost milliseconds each), and a
big batch goes out over a few SMTP connections at once (`SMTP_CONNECTIONS` threads, one
connection each), so the server's round trips overlap with writing the next messages.
"""

from __future__ import annotations

import base64
import itertools
import logging
import math
import os
import queue
import re
import secrets
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import cache, lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from supplychain.config import SmtpSettings, parse_smtp_url, smtp_tls_context
from supplychain.deliveries import Claimed, Outcome
from supplychain.extensions import db
from supplychain.models import Chain, Member, User
from supplychain.robot import STATEMENT_EVENTS, statement_path
from supplychain.services.notification_settings import mail_language, preferences_of

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
UNSUBSCRIBE_SALT = "unsubscribe"
# What mail says about each event type (English is the message id; zh.json translates it).
EVENT_HEADLINES = {
    "notice.published": "New notice: %(title)s",
    "notice.withdrawn": "Notice withdrawn: %(title)s",
    "notice.acknowledged": "Notice acknowledged: %(title)s",
    "notice.responded": "Notice answered: %(title)s",
    "notice.reminder": "Reminder: please acknowledge %(title)s",
    "order.issued": "New order %(number)s",
    "order.acknowledged": "Order %(number)s acknowledged",
    "order.amended": "Order %(number)s amended",
    "order.cancelled": "Order %(number)s cancelled",
    "order.shipped": "Order %(number)s shipped",
    "order.received": "Order %(number)s received",
    "order.reminder": "Reminder: order %(number)s awaits acknowledgment",
    "statement.ready": "Statement for %(period)s is ready",
    "statement.confirmed": "Statement for %(period)s confirmed",
    "statement.disputed": "Statement for %(period)s disputed",
    "statement.reminder": "Reminder: please confirm or dispute the statement for %(period)s",
    "dispute.resolved": "Dispute on the statement for %(period)s resolved",
    "app.shared": "App %(app_name)s shared",
    "app.unshared": "App %(app_name)s no longer shared",
}
GENERIC_HEADLINE = "Something changed in %(chain)s (%(type)s)"


# --- settings and backends ---------------------------------------------------------------------


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


# --- unsubscribe tokens ------------------------------------------------------------------------


class _TokenSerializer(URLSafeSerializer):
    """URLSafeSerializer without trying zlib: a token's payload is a few bytes, which zlib only
    makes longer (so the tokens are the same), and trying costs a millisecond per message."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


@lru_cache(maxsize=8)
def _token_serializer(secret_key: str) -> URLSafeSerializer:
    return _TokenSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """The signed token of a person's one-click unsubscribe link."""
    return str(_token_serializer(secret_key).dumps({"u": user_id}))


def unsubscribe_user_id(secret_key: str, token: str) -> int | None:
    """The person an unsubscribe token was made for; None for a forged or mangled one."""
    try:
        data = URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None


# --- rendering ---------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        auto_reload=False,  # read once per process: a worker renders thousands
        trim_blocks=True,
        lstrip_blocks=True,
    )


def translator(lang: str) -> Callable[..., str]:
    """`_` for mail in `lang`: the pages' catalog, placeholders filled in."""
    # Imported here: the ui package imports this module's senders for its pages.
    from supplychain.ui.i18n import catalog

    entries = catalog(lang)

    def gettext(message: str, **values: Any) -> str:
        text = entries.get(message, message)
        return text % values if values else text

    return gettext


@dataclass
class MailItem:
    """One thing a message tells: a headline, a few facts and the page to act on."""

    headline: str
    link: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def describe_event(
    claimed: Claimed,
    chain: Any,
    lang: str,
    base_url: str,
    gettext: Callable[..., str] | None = None,
) -> MailItem:
    """What a message says about one event, in `lang`, with the link to its page (`chain`: a
    Chain or anything with its `name` and `timezone`)."""
    # The pages' time format (chain timezone, zone named); imported here as `translator` says.
    from supplychain.ui.timefmt import format_datetime as format_local_time

    _ = gettext or translator(lang)
    data = claimed.data
    cid = claimed.chain_id
    chain_name = chain.name if chain is not None else ""
    timezone = chain.timezone if chain is not None else None
    kind, _dot, _rest = claimed.event_type.partition(".")
    headline = EVENT_HEADLINES.get(claimed.event_type)
    facts: list[tuple[str, str]] = []
    if kind == "notice" and headline and data.get("id"):
        link = f"{base_url}/chains/{cid}/notices/{data['id']}"
        title = str(data.get("title") or "")
        if data.get("kind"):
            facts.append((_("Kind"), _(str(data["kind"]))))
        due = _parse_time(data.get("ack_due"))
        if due is not None:
            facts.append((_("Acknowledge by"), format_local_time(due, timezone, lang)))
        text = _(headline, title=title)
    elif kind == "order" and headline and data.get("id"):
        link = f"{base_url}/chains/{cid}/orders/{data['id']}"
        text = _(headline, number=str(data.get("number") or data["id"]))
        if data.get("status"):
            facts.append((_("Status"), _(str(data["status"]))))
    elif headline and claimed.event_type in STATEMENT_EVENTS and statement_path(cid, data):
        link = f"{base_url}{statement_path(cid, data)}"
        text = _(headline, period=str(data["period"]))
        if data.get("resolution"):
            facts.append((_("Resolution"), _(str(data["resolution"]))))
        if data.get("status"):
            facts.append((_("Status"), _(str(data["status"]))))
    else:
        link = f"{base_url}/chains/{cid}"
        text = _(GENERIC_HEADLINE, chain=chain_name, type=claimed.event_type)
    if chain_name:
        facts.insert(0, (_("Chain"), chain_name))
    facts.append((_("When"), format_local_time(claimed.occurred_at, timezone, lang)))
    return MailItem(headline=text, link=link, facts=facts)


# --- messages as bytes -------------------------------------------------------------------------

# Control characters (CR and LF above all) never reach a header: a title cannot add headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_LINE = 998  # RFC 5322: a line longer than this is sent base64-encoded
# Part boundaries: random per process, counted per message (never in base64, nor by chance in text).
_BOUNDARY_PREFIX = secrets.token_hex(12)
_boundaries = itertools.count()


@dataclass(frozen=True)
class Mail:
    """A message ready to leave: its envelope and its bytes (RFC 5322, CRLF line ends)."""

    sender: str
    recipient: str
    data: bytes
    to: str = ""  # the To header as written, for logs
    smtputf8: bool = False  # an address is not ASCII: the server must take SMTPUTF8


def _header(name: str, value: str) -> str:
    """One header line: ASCII as is (folded at spaces when long), anything else as RFC 2047
    encoded words, one per folded line."""
    value = _CONTROL.sub(" ", value)
    if value.isascii():
        return _fold(f"{name}: {value}")
    return f"{name}: " + "\r\n ".join(_encoded_words(value))


def _fold(line: str, width: int = 78) -> str:
    """An ASCII header line folded at spaces into lines of about `width`."""
    if len(line) <= width:
        return line
    lines, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n ".join(lines)


def _encoded_words(text: str, size: int = 45) -> list[str]:
    """`text` as `=?utf-8?b?...?=` words of at most `size` bytes each (a word stays within the
    75 characters RFC 2047 allows; characters are never cut in two)."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > size:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words]


def _address(name: str, address: str) -> tuple[str, bool]:
    """`Name <address>` for a header (the name encoded when not ASCII) and whether the address
    itself needs SMTPUTF8."""
    name = _CONTROL.sub(" ", name).strip()
    if name and not name.isascii():
        name_part = " ".join(_encoded_words(name))
    elif name:
        name_part = formataddr((name, "x"))[: -len(" <x>")]  # quoted where it must be
    else:
        name_part = ""
    shown = f"{name_part} <{address}>" if name_part else address
    return shown, not address.isascii()


def _text_part(subtype: str, text: str) -> bytes:
    """A text/<subtype> UTF-8 part: 7bit when it is short-lined ASCII, else base64."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\r\n".join(lines) + "\r\n"
    if body.isascii() and all(len(line) <= MAX_LINE for line in lines):
        encoding, payload = "7bit", body.encode("ascii")
    else:
        encoding = "base64"
        payload = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode("ascii") + payload


def compose(
    *,
    sender: str,
    to_name: str,
    to_address: str,
    subject: str,
    lang: str,
    text: str,
    html: str,
    unsubscribe_url: str | None = None,
) -> Mail:
    """A multipart/alternative message (plain text, then HTML); with `unsubscribe_url`, the
    RFC 8058 one-click unsubscribe headers."""
    from_header, from_address, from_utf8 = _sender(sender)
    to_header, to_utf8 = _address(to_name, to_address)
    boundary = f"=_sc_{_BOUNDARY_PREFIX}_{next(_boundaries)}"
    domain = from_address.rpartition("@")[2]
    lines = [
        f"From: {from_header}",
        f"To: {to_header}",
        _header("Subject", subject),
        f"Date: {format_datetime(datetime.now().astimezone())}",
        f"Message-ID: {make_msgid(domain=domain if domain.isascii() and domain else None)}",
        f"Content-Language: {'zh-CN' if lang == 'zh' else 'en'}",
    ]
    if unsubscribe_url:
        lines.append(f"List-Unsubscribe: <{_CONTROL.sub('', unsubscribe_url)}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8" if to_utf8 or from_utf8 else "ascii")
    dash = f"--{boundary}\r\n".encode("ascii")
    data = b"".join(
        (
            head,
            dash,
            _text_part("plain", text),
            dash,
            _text_part("html", html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )
    return Mail(from_address, to_address, data, to_header, from_utf8 or to_utf8)


@lru_cache(maxsize=8)
def _sender(setting: str) -> tuple[str, str, bool]:
    """The From header, the envelope sender and whether it needs SMTPUTF8, of `MAIL_FROM`."""
    name, address = parseaddr(setting)
    address = address or setting
    header, utf8 = _address(name, address)
    return header, address, utf8


def render_message(
    template: str,
    lang: str,
    subject: str,
    to: tuple[str, str],
    sender: str,
    context: dict[str, Any],
    unsubscribe_url: str | None = None,
    gettext: Callable[..., str] | None = None,
) -> Mail:
    """A message from `<template>.txt` and `<template>.html` to `to` (name, address)."""
    env = _environment()
    values = {
        **context,
        "_": gettext or translator(lang),
        "lang": lang,
        "unsubscribe_url": unsubscribe_url,
    }
    return compose(
        sender=sender,
        to_name=to[0],
        to_address=to[1],
        subject=subject,
        lang=lang,
        text=env.get_template(f"{template}.txt").render(values),
        html=env.get_template(f"{template}.html").render(values),
        unsubscribe_url=unsubscribe_url,
    )


# --- the email sender --------------------------------------------------------------------------

# A batch of mail goes out over up to SMTP_CONNECTIONS connections at once, one more for each
# MESSAGES_PER_CONNECTION messages (a small batch keeps to one connection).
SMTP_CONNECTIONS = 4
MESSAGES_PER_CONNECTION = 8


@dataclass(frozen=True)
class _Person:
    """What a message needs of its reader, read before the session ends."""

    id: int
    name: str
    email: str
    lang: str


@dataclass(frozen=True)
class _ChainFacts:
    name: str
    timezone: str | None


def _load(claimed: list[Claimed]) -> tuple[dict[int, User], dict[int, Chain], set[tuple[int, int]]]:
    """Users, chains and current (chain, org) memberships the batch needs, in a few queries."""
    user_ids = {c.user_id for c in claimed if c.user_id is not None}
    chain_ids = {c.chain_id for c in claimed}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    chains = {c.id: c for c in db.session.scalars(select(Chain).where(Chain.id.in_(chain_ids)))}
    org_ids = {u.org_id for u in users.values()}
    current = {
        (chain_id, org_id)
        for chain_id, org_id in db.session.execute(
            select(Member.chain_id, Member.org_id).where(
                Member.chain_id.in_(chain_ids),
                Member.org_id.in_(org_ids),
                Member.removed_at.is_(None),
            )
        )
    }
    current |= {(c.id, c.owner_org_id) for c in chains.values()}
    return users, chains, current


def _not_sent(reason: str) -> Outcome:
    return Outcome(ok=False, error=f"Not sent: {reason}", retry=False)


def send_email_deliveries(app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
    """Mail claimed email deliveries: one message per person for all of theirs in the batch
    (their Outcomes share its result), in the person's language, text and HTML, with links and
    one-click unsubscribe. Nobody is mailed who is gone from the chain, unknown, or no longer
    wants the event; their deliveries end without retry."""
    outcomes: dict[int, Outcome] = {}
    units: list[tuple[_Person, list[Claimed]]] = []
    config = app.config
    with app.app_context():
        try:
            users, chain_rows, current = _load(claimed)
            preferences = preferences_of(db.session, list(users.values()))
            chains = {i: _ChainFacts(c.name, c.timezone) for i, c in chain_rows.items()}
            by_user = itertools.groupby(
                sorted(claimed, key=lambda c: (c.user_id or 0, c.occurred_at, c.id)),
                key=lambda c: c.user_id,
            )
            for user_id, group in by_user:
                mine: list[Claimed] = []
                user = users.get(user_id) if user_id is not None else None
                preference = preferences.get(user_id) if user_id is not None else None
                for c in group:
                    if user is None or preference is None:
                        outcomes[c.id] = _not_sent("the person no longer exists.")
                    elif (c.chain_id, user.org_id) not in current:
                        outcomes[c.id] = _not_sent("the person's org left the chain.")
                    elif not preference.wants(c.event_type):
                        outcomes[c.id] = _not_sent("the person turned this mail off.")
                    else:
                        mine.append(c)
                if mine and user is not None:
                    person = _Person(user.id, user.name, user.email, mail_language(user))
                    units.append((person, mine))
        finally:
            # Nothing is held open while the server is talked to.
            db.session.remove()
        writer = _Writer(config, chains)
        for (_person, mine), outcome in zip(units, _send_all(config, units, writer), strict=True):
            for c in mine:
                outcomes[c.id] = outcome
    return outcomes


class _Writer:
    """Writes a batch's messages; what a message says of an event is worked out once per event
    and language in the batch, each language's catalog is read once."""

    def __init__(self, config: Any, chains: dict[int, _ChainFacts]) -> None:
        self.config = config
        self.chains = chains
        self.base = config["BASE_URL"]
        self._translators: dict[str, Callable[..., str]] = {}
        self._items: dict[tuple[int, str], MailItem] = {}

    def gettext(self, lang: str) -> Callable[..., str]:
        found = self._translators.get(lang)
        if found is None:
            found = self._translators[lang] = translator(lang)
        return found

    def item(self, claimed: Claimed, lang: str) -> MailItem:
        key = (claimed.event_id, lang)
        found = self._items.get(key)
        if found is None:
            chain = self.chains.get(claimed.chain_id)
            found = self._items[key] = describe_event(
                claimed, chain, lang, self.base, self.gettext(lang)
            )
        return found

    def message(self, person: _Person, claimed: list[Claimed]) -> Mail:
        lang = person.lang
        _ = self.gettext(lang)
        items = [self.item(c, lang) for c in claimed]
        if len(items) == 1:
            chain = self.chains.get(claimed[0].chain_id)
            subject = f"[{chain.name}] {items[0].headline}" if chain else items[0].headline
        else:
            subject = _("%(count)s updates from your supply chains", count=len(items))
        token = unsubscribe_token(self.config["SECRET_KEY"], person.id)
        return render_message(
            "events",
            lang,
            subject,
            (person.name, person.email),
            self.config["MAIL_FROM"],
            {
                "name": person.name,
                "items": items,
                "settings_url": f"{self.base}/account/notifications",
            },
            unsubscribe_url=f"{self.base}/unsubscribe/{token}",
            gettext=_,
        )


def _send_all(
    config: Any, units: list[tuple[_Person, list[Claimed]]], writer: _Writer
) -> list[Outcome]:
    """Write and send one message per unit; an outcome for each, in order. Messages are handed
    to the sending threads as they are written, so writing and the server's work overlap."""
    if not units:
        return []
    connections = 1
    if config["SMTP_URL"]:
        connections = min(SMTP_CONNECTIONS, math.ceil(len(units) / MESSAGES_PER_CONNECTION))
    outcomes: list[Outcome | None] = [None] * len(units)
    work: queue.SimpleQueue[tuple[int, Mail] | None] = queue.SimpleQueue()

    def sender() -> None:
        with mail_backend(config) as backend:
            while (job := work.get()) is not None:
                index, message = job
                outcomes[index] = backend.send(message)

    threads = [
        threading.Thread(target=sender, name=f"mail-send-{i}", daemon=True)
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    try:
        for index, (person, mine) in enumerate(units):
            try:
                message = writer.message(person, mine)
            except (UnicodeError, ValueError) as exc:
                # This person's address (or name) cannot be written into mail: theirs alone fail.
                outcomes[index] = _not_sent(f"the message cannot be written: {exc}"[:500])
                continue
            work.put((index, message))
    finally:
        for _thread in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    lost = Outcome(ok=False, error="Not sent: the sending thread stopped.", retry=True)
    return [outcome or lost for outcome in outcomes]


# --- mail sent from a request ------------------------------------------------------------------

# Mail a request asks for (a password reset) leaves from here after its commit, so the request
# neither waits for the mail server nor takes longer when there is mail to send.
_background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
_pending: set[Future[Outcome]] = set()


def send_in_background(config: Any, message: Mail) -> Future[Outcome]:
    """Send one message on a background thread with the configured backend."""

    def send() -> Outcome:
        with mail_backend(config) as backend:
            outcome = backend.send(message)
        if not outcome.ok:
            log.warning("Mail to %s not sent: %s", message.to, outcome.error)
        return outcome

    future = _background.submit(send)
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    return future


def drain_background(timeout: float) -> bool:
    """Wait until mail sent in the background has left; False if some is still going."""
    deadline = time.monotonic() + timeout
    for future in list(_pending):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            future.result(remaining)
        except TimeoutError:
            return False
    return True


def password_reset_message(config: Any, user: User, token: str) -> Mail:
    """The mail carrying a password reset link, in the person's language."""
    lang = mail_language(user)
    _ = translator(lang)
    return render_message(
        "password_reset",
        lang,
        _("Reset your password"),
        (user.name, user.email),
        config["MAIL_FROM"],
        {"name": user.name, "link": f"{config['BASE_URL']}/reset-password/{token}"},
    )


def mail_password_reset_after_commit(session: Session, user: User, token: str) -> None:
    """Mail a reset link once the request's transaction (holding its hash) has committed: the
    token is never stored in clear, so it cannot wait in the outbox; a link lost to a crash is
    asked for again. Sent in the background, so the answer takes as long with a link as
    without (no account enumeration by timing)."""
    config = current_app.config
    message = password_reset_message(config, user, token)

    def send(_session: Session) -> None:
        send_in_background(config, message)

    # On the request's own session, not the scoped registry (which would mean every session).
    target = session() if isinstance(session, scoped_session) else session
    event.listen(target, "after_commit", send, once=True)
