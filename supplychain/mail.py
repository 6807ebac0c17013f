"""Email: backends chosen by settings, messages rendered per person, and the email sender.

`SUPPLYCHAIN_SMTP_URL` set: SMTP through the standard library, one connection per batch (a
refused recipient fails that message only). Unset: one `.eml` file per message under
`SUPPLYCHAIN_MAIL_DIR` (default `instance/mail/`), for development and demos.

`send_email_deliveries` is the worker's sender for the `email` channel: it reads what it needs
in one short transaction, ends it, and talks SMTP outside any transaction. Deliveries claimed
together for one person leave as one message (the daily digest is exactly that).
"""

from __future__ import annotations

import itertools
import logging
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer
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

    def send(self, message: EmailMessage) -> Outcome:
        """Send one message: the server refusing its recipient or content fails it (5xx for good,
        4xx to be retried); trouble with the server itself is retried; the connection stays for
        the next message unless it broke."""
        try:
            if self.connection is None:
                self.connection = self._open()
            self.connection.send_message(message)
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

    def send(self, message: EmailMessage) -> Outcome:
        """Write the message as `<time>-<random>.eml` (written aside, then renamed into place,
        so a reader never sees half a file)."""
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        target = self.folder / name
        partial = self.folder / f".{name}.part"
        try:
            partial.write_bytes(message.as_bytes())
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


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """The signed token of a person's one-click unsubscribe link."""
    return str(URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).dumps({"u": user_id}))


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


def describe_event(claimed: Claimed, chain: Chain | None, lang: str, base_url: str) -> MailItem:
    """What a message says about one event, in `lang`, with the link to its page."""
    # The pages' time format (chain timezone, zone named); imported here as `translator` says.
    from supplychain.ui.timefmt import format_datetime as format_local_time

    _ = translator(lang)
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


def render_message(
    template: str,
    lang: str,
    subject: str,
    to: str,
    sender: str,
    context: dict[str, Any],
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A multipart message (plain text, then HTML) from `<template>.txt` and `<template>.html`;
    with `unsubscribe_url`, the RFC 8058 one-click unsubscribe headers."""
    env = _environment()
    values = {**context, "_": translator(lang), "lang": lang, "unsubscribe_url": unsubscribe_url}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(env.get_template(f"{template}.txt").render(values))
    message.add_alternative(env.get_template(f"{template}.html").render(values), subtype="html")
    return message


# --- the email sender --------------------------------------------------------------------------


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
    batches: list[tuple[list[Claimed], EmailMessage]] = []
    config = app.config
    with app.app_context():
        try:
            users, chains, current = _load(claimed)
            preferences = preferences_of(db.session, list(users.values()))
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
                    batches.append((mine, _event_message(config, user, mine, chains)))
        finally:
            # Nothing is held open while the server is talked to.
            db.session.remove()
    with mail_backend(config) as backend:
        for mine, message in batches:
            outcome = backend.send(message)
            for c in mine:
                outcomes[c.id] = outcome
    return outcomes


def _event_message(
    config: Any, user: User, claimed: list[Claimed], chains: dict[int, Chain]
) -> EmailMessage:
    lang = mail_language(user)
    _ = translator(lang)
    base = config["BASE_URL"]
    items = [describe_event(c, chains.get(c.chain_id), lang, base) for c in claimed]
    if len(items) == 1:
        chain = chains.get(claimed[0].chain_id)
        subject = f"[{chain.name}] {items[0].headline}" if chain else items[0].headline
    else:
        subject = _("%(count)s updates from your supply chains", count=len(items))
    return render_message(
        "events",
        lang,
        subject,
        formataddr((user.name, user.email)),
        config["MAIL_FROM"],
        {
            "name": user.name,
            "items": items,
            "settings_url": f"{base}/account/notifications",
        },
        unsubscribe_url=f"{base}/unsubscribe/{unsubscribe_token(config['SECRET_KEY'], user.id)}",
    )


# --- mail sent from a request ------------------------------------------------------------------

# Mail a request asks for (a password reset) leaves from here after its commit, so the request
# neither waits for the mail server nor takes longer when there is mail to send.
_background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
_pending: set[Future[Outcome]] = set()


def send_in_background(config: Any, message: EmailMessage) -> Future[Outcome]:
    """Send one message on a background thread with the configured backend."""

    def send() -> Outcome:
        with mail_backend(config) as backend:
            outcome = backend.send(message)
        if not outcome.ok:
            log.warning("Mail to %s not sent: %s", message["To"], outcome.error)
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


def password_reset_message(config: Any, user: User, token: str) -> EmailMessage:
    """The mail carrying a password reset link, in the person's language."""
    lang = mail_language(user)
    _ = translator(lang)
    return render_message(
        "password_reset",
        lang,
        _("Reset your password"),
        formataddr((user.name, user.email)),
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
