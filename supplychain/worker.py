"""The delivery loop: claim due deliveries with a lease, send outside any transaction, record.

1. Claim (one short transaction): up to `WORKER_BATCH` pending deliveries that are due and not
   leased (or whose lease ran out: their worker died) get `lease_until` and `leased_by`. On
   PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`, so concurrent workers take
   different rows without waiting; on SQLite the transaction begins IMMEDIATE (db.py), which
   serialises claims. Mail is claimed per person: all the due mail of up to `WORKER_BATCH`
   people, each person's as one unit (one message: a daily digest never splits across batches
   or workers; on PostgreSQL a per-person advisory try-lock keeps two claims apart). Only
   channels with a registered sender are claimed: a delivery of another channel waits for a
   worker that has one.
2. Send: each channel's sender gets its claimed deliveries with their events, outside any
   transaction, and answers an Outcome per delivery.
3. Record (another short transaction): only where this worker still holds the lease
   (`leased_by`), so a worker that outlived its lease never overwrites its successor.
   Success: `succeeded`; a failure worth retrying: `pending` again after the retry schedule's
   next step (±10 % jitter); else `failed`.

The lease must outlast a batch. The webhook sender sends `WEBHOOK_CONCURRENCY` at once, each
within `WEBHOOK_TIMEOUT`, so a batch takes at most ceil(batch / concurrency) × timeout: 40 s
with the defaults (32, 8, 10 s) against a 60 s lease. A worker killed mid-batch loses nothing:
its deliveries are claimed again when the lease runs out, and sent a second time (at-least-once;
receivers dedupe on `webhook-id`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import socket
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Select, bindparam, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from supplychain import mail, webhook_sender
from supplychain.deliveries import Claimed, Outcome
from supplychain.extensions import db
from supplychain.identity.logout_channel import send_logout_tokens
from supplychain.models import Delivery, Event
from supplychain.models.base import UTCDateTime, utcnow

log = logging.getLogger(__name__)

Sender = Callable[[Flask, list[Claimed]], dict[int, Outcome]]
# Channel -> sender. A sender gets the app (settings, database) and one channel's deliveries.
SENDERS: dict[str, Sender] = {
    "webhook": webhook_sender.send_webhooks,
    "email": mail.send_email_deliveries,
    "logout": send_logout_tokens,
}
# What senders keep between batches (connection pools, threads), released when a worker stops.
RELEASES: list[Callable[[Flask], None]] = [webhook_sender.release]
MAX_ERROR_CHARS = 500
JITTER = 0.1
EMAIL = "email"
# A claim looks at this many times a batch of the first due deliveries: enough to fill a batch
# when another worker is claiming the first ones at the same moment, or people have several.
CANDIDATES_PER_BATCH = 4
# PostgreSQL advisory lock class (the two-int form) of "a worker is claiming this person's mail".
MAIL_LOCK_CLASS = 0x5C12


def _due(now: datetime) -> tuple[Any, ...]:
    """SQL: a delivery is pending, due, and not leased (or its lease ran out)."""
    return (
        Delivery.status == "pending",
        Delivery.next_attempt_at <= now,
        or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
    )


def worker_name() -> str:
    """Who holds a lease: host, process and a random tag (two workers in one process differ)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def lower_priority(app: Flask) -> None:
    """Lower this process's CPU priority to `WORKER_NICE` (a worker process calls it at start):
    a sender in the background must not slow the web answering people, nor the database."""
    wanted = app.config["WORKER_NICE"]
    if wanted <= 0 or not hasattr(os, "nice"):
        return
    try:
        current = os.nice(0)
        if current < wanted:
            os.nice(wanted - current)
    except OSError as exc:
        log.warning("delivery worker: cannot lower its priority: %s", exc)


def retry_delay(schedule: tuple[int, ...], attempts: int) -> timedelta | None:
    """How long to wait after the `attempts`-th failed try (1-based), ±10 %; None when the
    schedule is used up (the delivery has failed)."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))


class Worker:
    """One delivery worker: `run` loops until told to stop; `run_once` is one batch."""

    def __init__(self, app: Flask, name: str | None = None) -> None:
        self.app = app
        self.name = name or worker_name()
        self.batch = app.config["WORKER_BATCH"]
        self.lease = timedelta(seconds=app.config["WORKER_LEASE_SECONDS"])
        self.poll = app.config["WORKER_POLL_SECONDS"]
        self.schedule: tuple[int, ...] = tuple(app.config["WEBHOOK_RETRY_SCHEDULE"])
        self.handled = 0

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, parent_pid: int | None = None) -> None:
        """Deliver until `stop` is set (or the parent process is gone); the batch in hand is
        always finished and recorded first."""
        self._check_lease()
        self._mention_unsent_channels()
        log.info("delivery worker %s started (channels: %s)", self.name, ", ".join(SENDERS))
        try:
            while not stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.info("delivery worker %s: parent process gone, stopping", self.name)
                    break
                try:
                    done = self.run_once()
                except SQLAlchemyError as exc:
                    # The database is away or busy: nothing was lost (leases run out); wait.
                    log.warning("delivery worker %s: database error: %s", self.name, exc)
                    done = 0
                if done == 0:
                    stop.wait(self.poll)
        finally:
            self.close()
            log.info("delivery worker %s stopped: %s handled", self.name, self.handled)

    def close(self) -> None:
        """Release what the senders keep between batches."""
        for release in RELEASES:
            release(self.app)

    def run_once(self) -> int:
        """Claim one batch, send it, record the outcomes; the number of deliveries handled."""
        claimed = self.claim()
        if claimed:
            self.record(claimed, self.send(claimed))
            self.handled += len(claimed)
        return len(claimed)

    # --- 1. claim ---------------------------------------------------------------------------

    def claim(self) -> list[Claimed]:
        """Lease a batch of due deliveries to this worker (see `_lease_due`) and load their
        events."""
        now = utcnow()
        with self.app.app_context():
            session = db.session
            try:
                rows = self._lease_due(session, now)
                events = {}
                if rows:
                    events = {
                        e.id: e
                        for e in session.execute(
                            select(Event.id, Event.type, Event.occurred_at, Event.data).where(
                                Event.id.in_({row.event_id for row in rows})
                            )
                        )
                    }
                session.commit()
            finally:
                session.remove()
        claimed = []
        for row in sorted(rows, key=lambda r: r.id):
            event = events.get(row.event_id)
            claimed.append(
                Claimed(
                    id=row.id,
                    channel=row.channel,
                    event_id=row.event_id,
                    event_type=event.type if event else "",
                    chain_id=row.chain_id,
                    occurred_at=event.occurred_at if event else now,
                    data=dict(event.data or {}) if event else {},
                    attempts=row.attempts,
                    endpoint_id=row.endpoint_id,
                    user_id=row.user_id,
                )
            )
        return claimed

    def _lease(self, ids: Select[Any], now: datetime) -> Any:
        """UPDATE: lease the deliveries `ids` selects to this worker, returning what to send."""
        return (
            update(Delivery)
            .where(Delivery.id.in_(ids.scalar_subquery()))
            .values(lease_until=now + self.lease, leased_by=self.name)
            .returning(
                Delivery.id,
                Delivery.channel,
                Delivery.event_id,
                Delivery.chain_id,
                Delivery.attempts,
                Delivery.endpoint_id,
                Delivery.user_id,
            )
            .execution_options(synchronize_session=False)
        )

    def _lease_due(self, session: Session, now: datetime) -> list[Any]:
        """Lease up to a batch of the first due deliveries of the other channels, and all the
        due mail of up to a batch of the first people with due mail, each person's as one
        unit, so their due deliveries leave as one message (a daily digest is one mail,
        however many deliveries it has and however many workers run).

        One look at the first due deliveries (a few times a batch, in the order of the due
        index, no sort) finds the candidates; they are leased `FOR UPDATE SKIP LOCKED`, so a
        worker claiming at the same moment takes the next ones. On PostgreSQL a worker takes a
        person only when it gets a transaction-scoped advisory lock on them (try, never wait):
        of two workers claiming at once, one takes the person's whole unit and the other
        passes them by; one that comes after the first committed finds the unit leased. No
        one else locks an unleased mail delivery, so the unit's rows are all there to lease.
        On SQLite the claim transaction is IMMEDIATE: claims never overlap."""
        candidates = session.execute(
            select(Delivery.id, Delivery.channel, Delivery.user_id)
            .where(*_due(now), Delivery.channel.in_(list(SENDERS)))
            # Not also by id: (status, next_attempt_at) is the index, and ties in it come in
            # insertion order anyway; a second key would sort every due delivery.
            .order_by(Delivery.next_attempt_at)
            .limit(self.batch * CANDIDATES_PER_BATCH)
        ).all()
        if not candidates:
            return []
        singles = [c.id for c in candidates if c.channel != EMAIL or c.user_id is None]
        people = list(
            dict.fromkeys(c.user_id for c in candidates if c.channel == EMAIL and c.user_id)
        )
        if session.get_bind().dialect.name == "postgresql" and people:
            # Evaluated row by row until the LIMIT is reached: locks only the people taken.
            people = list(
                session.scalars(
                    text(
                        "SELECT p FROM unnest(CAST(:people AS bigint[])) AS t(p)"
                        " WHERE pg_try_advisory_xact_lock(:lock_class, CAST(p % 2147483648 AS int))"
                        " LIMIT :batch"
                    ),
                    {"people": people, "lock_class": MAIL_LOCK_CLASS, "batch": self.batch},
                )
            )
        else:
            people = people[: self.batch]
        rows: list[Any] = []
        if singles:
            due = (
                select(Delivery.id)
                .where(*_due(now), Delivery.id.in_(singles))
                .order_by(Delivery.next_attempt_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            rows += session.execute(self._lease(due, now)).all()
        if people:
            units = (
                select(Delivery.id)
                .where(*_due(now), Delivery.channel == EMAIL, Delivery.user_id.in_(people))
                .with_for_update(skip_locked=True)
            )
            rows += session.execute(self._lease(units, now)).all()
        return rows

    # --- 2. send ----------------------------------------------------------------------------

    def send(self, claimed: list[Claimed]) -> dict[int, Outcome]:
        """Each channel's deliveries to its sender; an outcome for every delivery."""
        by_channel: dict[str, list[Claimed]] = defaultdict(list)
        outcomes: dict[int, Outcome] = {}
        for delivery in claimed:
            if not delivery.event_type:
                outcomes[delivery.id] = Outcome(ok=False, error="The event is gone.", retry=False)
            else:
                by_channel[delivery.channel].append(delivery)
        for channel, deliveries in by_channel.items():
            try:
                outcomes.update(SENDERS[channel](self.app, deliveries))
            except Exception as exc:
                # A sender's bug must not stop the worker, nor retry the batch for ever: the
                # failure is logged with its traceback and counted as an attempt of each one.
                log.exception("delivery worker %s: %s sender failed", self.name, channel)
                failed = Outcome(ok=False, error=f"Sender error: {exc.__class__.__name__}: {exc}")
                outcomes.update({d.id: failed for d in deliveries})
        return outcomes

    # --- 3. record --------------------------------------------------------------------------

    def record(self, claimed: list[Claimed], outcomes: dict[int, Outcome]) -> None:
        """Write each outcome where this worker still holds the delivery's lease: the successes
        in one statement, the rest one row each. Deliveries that shared one send (a person's
        mail) get the same next try, so they are claimed together again."""
        now = utcnow()
        succeeded: list[int] = []
        rows: list[dict[str, Any]] = []
        delays: dict[tuple[int, int], timedelta | None] = {}
        for delivery in claimed:
            outcome = outcomes.get(delivery.id) or Outcome(ok=False, error="No outcome.")
            if outcome.ok:
                succeeded.append(delivery.id)
                continue
            attempts = delivery.attempts + 1
            delay = None
            if outcome.retry:
                key = (id(outcome), attempts)
                if key not in delays:
                    delays[key] = retry_delay(self.schedule, attempts)
                delay = delays[key]
            if delay is not None:
                status, next_at = "pending", now + delay
            else:
                status, next_at = "failed", None
            rows.append(
                {
                    "b_id": delivery.id,
                    "b_owner": self.name,
                    "b_status": status,
                    "b_attempts": attempts,
                    "b_next": next_at,
                    "b_code": outcome.status_code,
                    "b_error": (outcome.error or "")[:MAX_ERROR_CHARS],
                }
            )
        table = Delivery.__table__
        failures = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.leased_by == bindparam("b_owner"))
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=func.coalesce(
                    bindparam("b_next", type_=UTCDateTime()), table.c.next_attempt_at
                ),
                lease_until=None,
                leased_by=None,
                last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
                delivered_at=None,
            )
        )
        with self.app.app_context():
            session = db.session
            try:
                # A success's status code is the same for its whole send: 200s and 250s apart.
                codes: dict[int | None, list[int]] = defaultdict(list)
                for delivery_id in succeeded:
                    codes[outcomes[delivery_id].status_code].append(delivery_id)
                for code, ids in codes.items():
                    session.execute(
                        update(table)
                        .where(table.c.id.in_(ids), table.c.leased_by == self.name)
                        .values(
                            status="succeeded",
                            attempts=table.c.attempts + 1,
                            lease_until=None,
                            leased_by=None,
                            last_status_code=code,
                            last_error=None,
                            delivered_at=now,
                        )
                    )
                if rows:
                    session.execute(failures, rows)
                session.commit()
            finally:
                session.remove()

    # --- start-up notes ---------------------------------------------------------------------

    def _check_lease(self) -> None:
        concurrency = self.app.config["WEBHOOK_CONCURRENCY"]
        worst = math.ceil(self.batch / concurrency) * self.app.config["WEBHOOK_TIMEOUT"]
        if worst >= self.lease.total_seconds():
            log.warning(
                "delivery worker %s: a batch may take %s s, longer than the %s s lease:"
                " raise SUPPLYCHAIN_WORKER_LEASE_SECONDS or lower SUPPLYCHAIN_WORKER_BATCH",
                self.name,
                worst,
                int(self.lease.total_seconds()),
            )

    def _mention_unsent_channels(self) -> None:
        """Say once which pending deliveries this worker leaves alone (no sender here)."""
        with self.app.app_context():
            try:
                channels = db.session.scalars(
                    select(Delivery.channel)
                    .where(Delivery.status == "pending", Delivery.channel.not_in(list(SENDERS)))
                    .distinct()
                ).all()
                db.session.commit()
            finally:
                db.session.remove()
        for channel in channels:
            log.warning(
                "delivery worker %s has no %s sender: those deliveries wait for a worker that has",
                self.name,
                channel,
            )
