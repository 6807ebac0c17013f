"""The `email` channel and mail sent from a request (password reset).

`EmailChannel.send` (`send_email_deliveries`) reads what it needs in one short transaction,
ends it, and talks to the backend (`backends.py`: SMTP, or `.eml` files without
`SUPPLYCHAIN_SMTP_URL`) outside any transaction. Deliveries claimed together for one person
leave as one message (the daily digest is exactly that: the worker claims a person's due mail
as one unit). Cheap per message, because a worker sends thousands: what a message says about an
event is worked out once per batch and language (`content.py`), and a big batch goes out over
a few SMTP connections at once (`SMTP_CONNECTIONS` threads, one connection each), so the
server's round trips overlap with writing the next messages (`message.py`). A message that
cannot be written (an address with a line break) fails that person's deliveries alone.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from supplychain.extensions import db
from supplychain.i18n import translator
from supplychain.models import Chain, Member, User
from supplychain.outbound.channel import Channel
from supplychain.outbound.deliveries import Claimed, Outcome
from supplychain.outbound.mail import invitations as invitation_mail
from supplychain.outbound.mail.backends import mail_backend
from supplychain.outbound.mail.content import MailItem, describe_event, render_message
from supplychain.outbound.mail.message import HeaderRefused, Mail, sender_header
from supplychain.outbound.mail.unsubscribe import unsubscribe_token
from supplychain.services.notification_settings import mail_language, preferences_of

log = logging.getLogger(__name__)


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
            pending = invitation_mail.load_pending(db.session, config["SECRET_KEY"], users, claimed)
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
                    elif not invitation_mail.wanted(preference, c.event_type):
                        outcomes[c.id] = _not_sent("the person turned this mail off.")
                    elif reason := invitation_mail.refusal(c, user, pending):
                        outcomes[c.id] = _not_sent(reason)
                    else:
                        mine.append(c)
                if mine and user is not None:
                    person = _Person(user.id, user.name, user.email, mail_language(user))
                    units.append((person, mine))
        finally:
            # Nothing is held open while the server is talked to.
            db.session.remove()
        writer = _Writer(config, chains, pending)
        for (_person, mine), outcome in zip(units, _send_all(config, units, writer), strict=True):
            for c in mine:
                outcomes[c.id] = outcome
    return outcomes


class _Writer:
    """Writes a batch's messages; what a message says of an event is worked out once per event
    and language in the batch, each language's catalog is read once."""

    def __init__(
        self,
        config: Any,
        chains: dict[int, _ChainFacts],
        pending: invitation_mail.PendingBatch | None = None,
    ) -> None:
        self.config = config
        self.chains = chains
        self.pending = pending or invitation_mail.PendingBatch({}, {})
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
        if person.id in self.pending.people:
            # Not activated yet: the invitation and short notes only (invitations.py).
            return invitation_mail.pending_message(self, person, claimed, self.pending)
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
    try:
        sender_header(config["MAIL_FROM"])
    except HeaderRefused as exc:
        # The setting, not the people: every message waits for it to be fixed.
        return [Outcome(ok=False, error=f"SUPPLYCHAIN_MAIL_FROM: {exc}", retry=True)] * len(units)
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
    try:
        message = password_reset_message(config, user, token)
    except HeaderRefused as exc:
        # An address no mail can carry (stored before addresses were checked everywhere): no
        # mail, and the same answer as for anyone else.
        log.warning("Password reset mail for user %s not written: %s", user.id, exc)
        return

    def send(_session: Session) -> None:
        send_in_background(config, message)

    # On the request's own session, not the scoped registry (which would mean every session).
    target = session() if isinstance(session, scoped_session) else session
    event.listen(target, "after_commit", send, once=True)


class EmailChannel(Channel):
    """Mail to people: all of a person's due deliveries are claimed as one unit and leave as
    one message (the daily digest)."""

    name = "email"
    per_person = True

    def send(self, app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
        return send_email_deliveries(app, claimed)
