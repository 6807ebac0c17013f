"""Reconciliation: schedules, exactly-once runs of tier workbooks, and partners' statements."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.errors import Busy, Forbidden, Invalid, NotFound
from supplychain.excel.workbook import (
    LineRecord,
    OrgRecord,
    WorkbookMeta,
    write_reconciliation_workbook,
)
from supplychain.graph import CORE, UNLINKED, tier_sort_key, valid_tier
from supplychain.models import (
    Chain,
    Group,
    Member,
    Order,
    OrderLine,
    Org,
    ReconciliationRun,
    ReconciliationSchedule,
)
from supplychain.models.base import utcnow
from supplychain.periods import Period, is_future, latest_fire_time, parse_period, previous_period
from supplychain.services.apps import require_app
from supplychain.services.audit import Author, record_event
from supplychain.services.chains import chain_graph

log = logging.getLogger(__name__)
APP = "reconciliation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A run still "running" after this long is taken to have died with its process.
STALE_AFTER = timedelta(minutes=30)
SCOPE = (
    "Orders dated in the period (order date in the chain's timezone) between each org of the "
    "tier and its counterparty one tier nearer the core."
)


@dataclass
class ScheduleSpec:
    """A schedule as the owner sets it."""

    frequency: str
    day: int
    hour: int
    tiers: list[str] | None
    enabled: bool


# --- validation -------------------------------------------------------------------------------


def check_period(label: str, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """A well-formed period that has started (422 otherwise)."""
    period = parse_period(label)
    if period is None:
        raise Invalid("Malformed period.", {"period": ["Use YYYY-MM or YYYY-Www (ISO week)."]})
    if is_future(period, tz, now or utcnow()):
        raise Invalid("Future period.", {"period": ["This period has not started yet."]})
    return period


def _reconcilable(label: str) -> bool:
    return valid_tier(label) and label not in (CORE, UNLINKED)


def check_tier(session: Session, chain: Chain, tier: str) -> frozenset[int]:
    """The orgs of an upstream or downstream tier present in the chain (422 otherwise)."""
    if not _reconcilable(tier):
        raise Invalid("Not a reconcilable tier.", {"tier": ["Use U1, U2... or D1, D2..."]})
    orgs = chain_graph(session, chain).orgs_in_tier(tier)
    if not orgs:
        raise Invalid("Unknown tier.", {"tier": [f"No org is in tier {tier} of this chain."]})
    return orgs


def nearer_tier(tier: str) -> str:
    """The tier one step nearer the core: D2 -> D1, D1 -> core, U1 -> core."""
    depth = int(tier[1:])
    return CORE if depth == 1 else f"{tier[0]}{depth - 1}"


# --- schedules --------------------------------------------------------------------------------


def get_schedule(session: Session, access: ChainAccess) -> ReconciliationSchedule:
    """The chain's schedule (owner admins); 404 until one is set."""
    access.require_owner_admin()
    schedule = session.scalar(
        select(ReconciliationSchedule).where(ReconciliationSchedule.chain_id == access.chain_id)
    )
    if schedule is None:
        raise NotFound("No reconciliation schedule is set for this chain.")
    return schedule


def put_schedule(
    session: Session, access: ChainAccess, spec: ScheduleSpec
) -> ReconciliationSchedule:
    """Set the schedule: monthly day 1-31 (short months run on their last day) or weekly ISO
    weekday 1-7, hour 0-23 in the chain's timezone, chosen tiers or all (None)."""
    access.require_owner_admin()
    errors: dict[str, Any] = {}
    if spec.frequency == "monthly" and not 1 <= spec.day <= 31:
        errors["day"] = ["Monthly: day of month 1-31."]
    if spec.frequency == "weekly" and not 1 <= spec.day <= 7:
        errors["day"] = ["Weekly: ISO weekday 1 (Monday) to 7 (Sunday)."]
    if not 0 <= spec.hour <= 23:
        errors["hour"] = ["0 to 23."]
    bad = [t for t in spec.tiers or [] if not _reconcilable(t)]
    if bad:
        errors["tiers"] = [f"Not reconcilable tiers: {', '.join(bad)}"]
    if spec.tiers is not None and not spec.tiers:
        errors["tiers"] = ["Give at least one tier, or null for all tiers."]
    if errors:
        raise Invalid("Invalid schedule.", errors)
    schedule = session.scalar(
        select(ReconciliationSchedule).where(ReconciliationSchedule.chain_id == access.chain_id)
    )
    if schedule is None:
        schedule = ReconciliationSchedule(chain_id=access.chain_id)
        session.add(schedule)
    schedule.frequency = spec.frequency
    schedule.day = spec.day
    schedule.hour = spec.hour
    schedule.tiers = sorted(set(spec.tiers), key=tier_sort_key) if spec.tiers else None
    schedule.enabled = spec.enabled
    schedule.updated_by = access.actor.user_id
    schedule.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        access.actor,
        "reconciliation.schedule",
        "chain",
        access.chain_id,
        chain_id=access.chain_id,
        data={
            "frequency": spec.frequency,
            "day": spec.day,
            "hour": spec.hour,
            "tiers": schedule.tiers,
            "enabled": spec.enabled,
        },
    )
    return schedule


# --- data -------------------------------------------------------------------------------------


def _directory(session: Session, chain_id: int) -> dict[int, tuple[str | None, str, str | None]]:
    """org_id -> (custom id, name, group path) for every member, current or removed."""
    rows = session.execute(
        select(Member.org_id, Member.custom_id, Org.name, Group.path)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == chain_id)
    )
    return {org_id: (code, name, path) for org_id, code, name, path in rows}


def _order_lines(
    session: Session, chain: Chain, period: Period, org_ids: set[int] | None
) -> Iterator[tuple[Any, ...]]:
    """Stream (order, line) columns of the chain's orders dated in the period, in batches."""
    tz = ZoneInfo(chain.timezone)
    start, end = period.bounds(tz)
    stmt = (
        select(
            Order.id,
            Order.number,
            Order.created_at,
            Order.status,
            Order.ack_code,
            Order.currency,
            Order.buyer_id,
            Order.seller_id,
            Order.ack_due,
            Order.acked_at,
            OrderLine.line_no,
            OrderLine.sku,
            OrderLine.description,
            OrderLine.unit,
            OrderLine.qty,
            OrderLine.unit_price,
            OrderLine.requested_date,
            OrderLine.ack_status,
            OrderLine.ack_code,
            OrderLine.confirmed_qty,
            OrderLine.confirmed_price,
            OrderLine.promised_date,
            OrderLine.shipped_qty,
            OrderLine.received_qty,
            OrderLine.ack_reason,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.chain_id == chain.id, Order.created_at >= start, Order.created_at < end)
        .order_by(Order.id, OrderLine.line_no)
        .execution_options(yield_per=2000)
    )
    if org_ids is not None:
        ids = sorted(org_ids)
        stmt = stmt.where(or_(Order.buyer_id.in_(ids), Order.seller_id.in_(ids)))
    yield from session.execute(stmt)


def _records(
    rows: Iterator[tuple[Any, ...]],
    directory: dict[int, tuple[str | None, str, str | None]],
    tz: ZoneInfo,
    side_of: Any,
) -> Iterator[LineRecord]:
    for row in rows:
        (_, number, created_at, status, bak02, currency, buyer, seller, ack_due, acked_at,
         line_no, sku, description, unit, qty, price, requested, ack_status, ack01,
         confirmed_qty, confirmed_price, promised, shipped, received, reason) = row  # fmt: skip
        side = side_of(buyer, seller)
        if side is None:
            continue
        org_id, role, other = side
        code, name, _ = directory.get(other, (None, f"org {other}", None))
        yield LineRecord(
            org_id=org_id, role=role, counterparty_code=code, counterparty_name=name,
            order_number=number, order_date=created_at.astimezone(tz).date(),
            order_status=status, bak02=bak02, currency=currency, line_no=line_no, sku=sku,
            description=description, unit=unit, ordered_qty=qty, unit_price=price,
            requested_date=requested, ack_status=ack_status, ack01=ack01,
            confirmed_qty=confirmed_qty, confirmed_price=confirmed_price,
            promised_date=promised, shipped_qty=shipped, received_qty=received,
            ack_due=ack_due, acked_at=acked_at, reason=reason,
        )  # fmt: skip


def write_tier_workbook(
    session: Session,
    chain: Chain,
    tier: str,
    period: Period,
    target: Any,
    revision: int | None,
    now: datetime,
) -> tuple[int, int]:
    """Write one tier's workbook to `target`; returns (line rows, orgs)."""
    tier_orgs = check_tier(session, chain, tier)
    graph = chain_graph(session, chain)
    nearer = graph.orgs_in_tier(nearer_tier(tier))
    directory = _directory(session, chain.id)
    tz = ZoneInfo(chain.timezone)
    orgs = sorted(
        (OrgRecord(o, *directory.get(o, (None, f"org {o}", None)), tier) for o in tier_orgs),
        key=lambda rec: (rec.code or "", rec.name, rec.org_id),
    )

    def side_of(buyer: int, seller: int) -> tuple[int, str, int] | None:
        if buyer in tier_orgs and seller in nearer:
            return buyer, "buyer", seller
        if seller in tier_orgs and buyer in nearer:
            return seller, "seller", buyer
        return None

    meta = WorkbookMeta(
        title=f"Reconciliation of tier {tier}", chain=chain.name, tier=tier, period=period.label,
        first_day=period.first, last_day=period.last, timezone=chain.timezone,
        generated_at=now.astimezone(tz), revision=revision, scope=SCOPE,
    )  # fmt: skip
    rows = _records(_order_lines(session, chain, period, None), directory, tz, side_of)
    stats = write_reconciliation_workbook(target, meta, orgs, rows, tz, now)
    return stats.rows, stats.orgs


# --- runs -------------------------------------------------------------------------------------


def _sessions(engine: Engine) -> sessionmaker[Session]:
    # Runs commit step by step in their own transactions, each taking SQLite's write lock early.
    return sessionmaker(
        bind=engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
    )


def _reading(engine: Engine) -> sessionmaker[Session]:
    # What only reads (writing a workbook takes a minute for a large tier) must not hold
    # SQLite's write lock meanwhile: under WAL a plain BEGIN reads while others write.
    return sessionmaker(
        bind=engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False
    )


def is_stale(run: ReconciliationRun, now: datetime) -> bool:
    """Queued or running since before STALE_AFTER: taken to have died with its process."""
    return (
        run.status in ("queued", "running")
        and (run.started_at or run.created_at) < now - STALE_AFTER
    )


def _latest_run(
    session: Session, chain_id: int, tier: str, period: str
) -> ReconciliationRun | None:
    return session.scalar(
        select(ReconciliationRun)
        .where(
            ReconciliationRun.chain_id == chain_id,
            ReconciliationRun.tier == tier,
            ReconciliationRun.period == period,
        )
        .order_by(ReconciliationRun.revision.desc())
        .limit(1)
    )


def _check_request(
    session: Session, chain_id: int, tier: str, period_label: str, now: datetime
) -> None:
    """404 for an unknown chain, 422 for a tier or period that cannot be reconciled."""
    chain = session.get(Chain, chain_id)
    if chain is None:
        raise NotFound("No such chain.")
    check_period(period_label, ZoneInfo(chain.timezone), now)
    check_tier(session, chain, tier)


def _claim(
    make: sessionmaker[Session],
    chain_id: int,
    tier: str,
    period: str,
    force: bool,
    trigger: str,
    user_id: int | None,
    now: datetime,
) -> tuple[ReconciliationRun, bool]:
    """Claim (chain, tier, period, revision): returns the run and whether this caller owns it."""
    for _attempt in range(3):
        with make() as session:
            try:
                with session.begin():
                    latest = _latest_run(session, chain_id, tier, period)
                    if latest is not None and not force:
                        if latest.status == "failed" or is_stale(latest, now):
                            taken = session.execute(
                                update(ReconciliationRun)
                                .where(
                                    ReconciliationRun.id == latest.id,
                                    ReconciliationRun.status == latest.status,
                                )
                                .values(
                                    status="queued",
                                    claim=uuid.uuid4().hex,
                                    error=None,
                                    # The stale clock restarts at the claim: a retaken run
                                    # waiting in the background queue is not "dead" yet.
                                    started_at=now,
                                    finished_at=None,
                                    trigger=trigger,
                                    requested_by=user_id,
                                )
                                .execution_options(synchronize_session=False)
                            )
                            session.refresh(latest)
                            return latest, bool(taken.rowcount)
                        return latest, False
                    run = ReconciliationRun(
                        chain_id=chain_id, tier=tier, period=period,
                        revision=(latest.revision + 1) if latest else 1, status="queued",
                        claim=uuid.uuid4().hex, trigger=trigger, requested_by=user_id,
                        created_at=now,
                    )  # fmt: skip
                    session.add(run)
                    session.flush()
                    return run, True
            except IntegrityError:
                continue  # another process claimed the same revision first: look again
    raise RuntimeError("could not claim a reconciliation run")


def _advance(
    make: sessionmaker[Session],
    run: ReconciliationRun,
    from_status: str,
    values: dict[str, Any],
    author: Author | None = None,
    audit: bool = False,
) -> tuple[ReconciliationRun, bool]:
    """Move a run this producer claimed on (with its audit event, in the same transaction);
    (the run as it is now, False) when the claim was taken over meanwhile."""
    with make() as session, session.begin():
        moved = session.execute(
            update(ReconciliationRun)
            .where(
                ReconciliationRun.id == run.id,
                ReconciliationRun.claim == run.claim,
                ReconciliationRun.status == from_status,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        current = session.get(ReconciliationRun, run.id)
        if current is None:  # gone (a test database wiped, say): nothing to move
            return run, False
        if moved and audit:
            _audit_run(session, current, author)
        return current, bool(moved)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def execute_run(
    engine: Engine,
    reports_dir: str,
    chain_id: int,
    tier: str,
    period_label: str,
    *,
    force: bool = False,
    trigger: str = "api",
    actor: Actor | None = None,
    now: datetime | None = None,
) -> tuple[ReconciliationRun, bool]:
    """Produce the tier workbook for a period exactly once (a new revision with `force`).

    Returns the run and True when this call made it. Any number of schedulers, API calls and CLI
    processes may call this at once: the unique claim row decides who writes the file. A failure
    leaves no file, records the error, and a later call retries the same revision.
    """
    now = now or utcnow()
    run, mine = claim_run(
        engine, chain_id, tier, period_label, force=force, trigger=trigger, actor=actor, now=now
    )
    if not mine:
        return run, False
    return produce_run(engine, reports_dir, run, author=Author.of(actor), now=now), True


def claim_run(
    engine: Engine,
    chain_id: int,
    tier: str,
    period_label: str,
    *,
    force: bool,
    trigger: str,
    actor: Actor | None,
    now: datetime,
) -> tuple[ReconciliationRun, bool]:
    """Check the tier and period, then claim the run: (run, True) when this caller must
    produce it (status queued), else the run that exists already."""
    with _reading(engine)() as session:
        _check_request(session, chain_id, tier, period_label, now)
    return _claim(
        _sessions(engine),
        chain_id,
        tier,
        period_label,
        force,
        trigger,
        actor.user_id if actor else None,
        now,
    )


def produce_run(
    engine: Engine,
    reports_dir: str,
    claimed: ReconciliationRun,
    *,
    author: Author | None,
    now: datetime,
) -> ReconciliationRun:
    """Write the workbook of a run this caller claimed: running, then succeeded or failed.

    Every step holds the claim: a producer that lost the run to a takeover (it took longer than
    STALE_AFTER) writes no file and records nothing."""
    make = _sessions(engine)
    run, mine = _advance(make, claimed, "queued", {"status": "running", "started_at": utcnow()})
    if not mine:
        return run
    tier, period_label, chain_id = run.tier, run.period, run.chain_id
    folder = Path(reports_dir) / str(chain_id) / period_label
    final = folder / f"{tier}-r{run.revision}.xlsx"
    temp: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _reading(engine)() as session:
            chain = session.get(Chain, chain_id)
            assert chain is not None
            period = parse_period(period_label)
            assert period is not None
            with tempfile.NamedTemporaryFile(
                dir=folder, prefix=f".{tier}-r{run.revision}-", suffix=".tmp", delete=False
            ) as handle:
                temp = Path(handle.name)
                rows, orgs = write_tier_workbook(
                    session, chain, tier, period, handle, run.revision, now
                )
                handle.flush()
                os.fsync(handle.fileno())
        size = temp.stat().st_size
        sha = _file_digest(temp)
        with _reading(engine)() as session:
            still_mine = (
                session.scalar(
                    select(ReconciliationRun.claim).where(ReconciliationRun.id == run.id)
                )
                == run.claim
            )
        if not still_mine:
            temp.unlink(missing_ok=True)
            with _reading(engine)() as session:
                return session.get(ReconciliationRun, run.id) or run
        os.replace(temp, final)  # atomic: the file is whole or absent
        temp = None
    except Exception as exc:
        log.exception("reconciliation run %s failed", run.id)
        if temp is not None:
            temp.unlink(missing_ok=True)
        failed, _ = _advance(
            make,
            run,
            "running",
            {
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "finished_at": utcnow(),
            },
            author,
            audit=True,
        )
        return failed
    done, _ = _advance(
        make,
        run,
        "running",
        {
            "status": "succeeded",
            "rows": rows,
            "orgs": orgs,
            "size": size,
            "sha256": sha,
            "path": str(final.relative_to(reports_dir)),
            "finished_at": utcnow(),
            "error": None,
        },
        author,
        audit=True,
    )
    return done


def _audit_run(session: Session, run: ReconciliationRun, author: Author | None) -> None:
    record_event(
        session,
        author,
        f"reconciliation.run.{run.status}",
        "reconciliation_run",
        run.id,
        chain_id=run.chain_id,
        data={
            "tier": run.tier,
            "period": run.period,
            "revision": run.revision,
            "trigger": run.trigger,
            "rows": run.rows,
            "error": run.error,
        },
    )


# Runs asked for in the background: one at a time per process (each is CPU-bound openpyxl work;
# the claim row still keeps every run exactly-once across processes), at most MAX_QUEUED waiting
# (so none waits anywhere near STALE_AFTER). Made on first use, so a forked web worker gets its
# own.
MAX_QUEUED = 8
INTERRUPTED = "Interrupted: the server stopped before this run finished. Ask for it again."


@dataclass
class _Background:
    pid: int
    executor: ThreadPoolExecutor
    pending: dict[
        int, tuple[Future[ReconciliationRun | None], ReconciliationRun, Engine, Author | None]
    ]


_background: _Background | None = None
_background_lock = threading.Lock()


def _submit(
    engine: Engine, reports_dir: str, run: ReconciliationRun, author: Author | None, now: datetime
) -> Future[ReconciliationRun | None]:
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation-run")
            _background = _Background(os.getpid(), executor, {})
        future = _background.executor.submit(
            _produce_in_background, engine, reports_dir, run, author, now
        )
        pending = _background.pending
        pending[run.id] = (future, run, engine, author)
    # Outside the lock: a future done already runs its callback here, at once.
    future.add_done_callback(lambda _: _forget(pending, run.id))
    return future


def _forget(pending: dict[int, Any], run_id: int) -> None:
    with _background_lock:
        pending.pop(run_id, None)


def _existing_run(
    engine: Engine, chain_id: int, tier: str, period_label: str, force: bool, now: datetime
) -> ReconciliationRun | None:
    """What a claim would answer without making anything: the latest run of (tier, period) when
    it succeeded or is still in hand; None when a claim would make or retake one. Checks the
    tier and period as a claim does."""
    with _reading(engine)() as session:
        _check_request(session, chain_id, tier, period_label, now)
        latest = None if force else _latest_run(session, chain_id, tier, period_label)
        if latest is None or latest.status == "failed" or is_stale(latest, now):
            return None
        return latest


def _queue_is_full() -> bool:
    with _background_lock:
        return (
            _background is not None
            and _background.pid == os.getpid()
            and len(_background.pending) > MAX_QUEUED
        )


def drain_background(timeout: float) -> bool:
    """Wait until this process has no run waiting or being produced; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _background_lock:
            futures = [] if _background is None else [p[0] for p in _background.pending.values()]
        if not futures:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        wait_for(futures, timeout=left)


def stop_background(grace: float = 0.0) -> int:
    """On shutdown: runs still waiting are marked interrupted (failed, audited), so the next
    request takes them up at once instead of after STALE_AFTER; the one being produced gets
    `grace` seconds to finish, else it is marked interrupted too and loses its claim (its
    thread dies with the process). Returns how many were interrupted. gunicorn calls this from
    its worker_exit hook."""
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():
            return 0
        stopping, _background = _background, None
    waiting = list(stopping.pending.values())
    # Outside the lock: cancelling runs the futures' done-callbacks, which take it.
    stopping.executor.shutdown(wait=False, cancel_futures=True)
    interrupted = 0
    for future, run, engine, author in waiting:  # first the ones that will never start
        if future.cancelled():
            interrupted += _interrupt(engine, run, "queued", author)[1]
    unfinished = [item for item in waiting if not item[0].done()]
    if unfinished and grace > 0:
        wait_for([item[0] for item in unfinished], timeout=grace)
    for future, run, engine, author in unfinished:
        if not future.done():
            interrupted += _interrupt(engine, run, "running", author)[1]
    return interrupted


def _interrupt(
    engine: Engine, run: ReconciliationRun, status: str, author: Author | None
) -> tuple[ReconciliationRun, bool]:
    values = {"status": "failed", "error": INTERRUPTED, "finished_at": utcnow(), "claim": None}
    return _advance(_sessions(engine), run, status, values, author, audit=True)


def _produce_in_background(
    engine: Engine,
    reports_dir: str,
    run: ReconciliationRun,
    author: Author | None,
    now: datetime,
) -> ReconciliationRun | None:
    try:
        return produce_run(engine, reports_dir, run, author=author, now=now)
    except Exception:  # produce_run records its own failures; this is the database gone away
        log.exception("background reconciliation run %s could not be recorded", run.id)
        return None


def request_run(
    session: Session,
    engine: Engine,
    reports_dir: str,
    access: ChainAccess,
    tier: str,
    period: str,
    force: bool,
    *,
    wait: bool = True,
    patience: float = 0.0,
) -> tuple[ReconciliationRun, bool]:
    """An owner admin or staff asks for a tier workbook now (same rules as the scheduler).

    With `wait=False` a run this call claims is produced in the background and returned as it
    is after at most `patience` seconds (queued or running if not done by then); poll it until
    it succeeds or fails. A run that dies with its process is taken over by the next request
    after STALE_AFTER."""
    access.require_owner()
    if wait:
        return execute_run(
            engine,
            reports_dir,
            access.chain_id,
            tier,
            period,
            force=force,
            trigger="api",
            actor=access.actor,
        )
    now = utcnow()
    if _queue_is_full():
        # Bad input is still 422, and a run that exists is still answered (200); only a run
        # that would have to be made now waits for room.
        existing = _existing_run(engine, access.chain_id, tier, period, force, now)
        if existing is not None:
            return existing, False
        raise Busy("Workbooks are being produced here already; ask again in a minute.")
    run, mine = claim_run(
        engine,
        access.chain_id,
        tier,
        period,
        force=force,
        trigger="api",
        actor=access.actor,
        now=now,
    )
    if mine:
        future = _submit(engine, reports_dir, run, Author.of(access.actor), now)
        if patience > 0:
            try:
                run = future.result(timeout=patience) or run
            except FuturesTimeout:
                with _reading(engine)() as fresh:
                    run = fresh.get(ReconciliationRun, run.id) or run
    return run, mine


def runs_query(access: ChainAccess, tier: str | None, period: str | None) -> Select:
    """Runs of the chain, newest first (owner)."""
    access.require_owner()
    stmt = select(ReconciliationRun).where(ReconciliationRun.chain_id == access.chain_id)
    if tier:
        stmt = stmt.where(ReconciliationRun.tier == tier)
    if period:
        stmt = stmt.where(ReconciliationRun.period == period)
    return stmt.order_by(ReconciliationRun.id.desc())


def get_run(session: Session, access: ChainAccess, run_id: int | None) -> ReconciliationRun:
    """One run of this chain (owner); a run of another chain is 404."""
    access.require_owner()
    run = session.get(ReconciliationRun, run_id) if run_id else None
    if run is None or run.chain_id != access.chain_id:
        raise NotFound("No such run.")
    return run


def _safe_name(text: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip() or "chain"


def run_file(
    session: Session, access: ChainAccess, run_id: int | None, reports_dir: str
) -> tuple[Path, str]:
    """The workbook of a succeeded run and its download name (chain, tier, period)."""
    run = get_run(session, access, run_id)
    if run.status != "succeeded" or not run.path:
        raise NotFound(f"This run has no file (status {run.status}).")
    path = Path(reports_dir) / run.path
    if not path.is_file():
        raise NotFound("The workbook file is missing from the reports folder.")
    name = f"{_safe_name(access.chain.name)} - {run.tier} - {run.period} - r{run.revision}.xlsx"
    return path, name


# --- statements -------------------------------------------------------------------------------


def write_statement(
    session: Session,
    access: ChainAccess,
    period_label: str,
    org_id: int | None,
    target: IO[bytes],
) -> str:
    """One org's statement for a period: a partner its own only, the owner any member's."""
    require_app(session, access, APP)
    me = access.actor.org_id
    subject = org_id if org_id is not None else me
    if not access.is_owner and subject != me:
        raise Forbidden("A partner may download only its own statement.")
    chain = access.chain
    tz = ZoneInfo(chain.timezone)
    period = check_period(period_label, tz)
    directory = _directory(session, chain.id)
    member = session.scalar(
        select(Member.id).where(Member.chain_id == chain.id, Member.org_id == subject)
    )
    if member is None:
        raise NotFound("No such member in this chain.")
    tier = chain_graph(session, chain).tier_of(subject)
    code, name, group = directory[subject]
    org = OrgRecord(subject, code, name, group, tier)

    def side_of(buyer: int, seller: int) -> tuple[int, str, int] | None:
        if buyer == subject:
            return subject, "buyer", seller
        if seller == subject:
            return subject, "seller", buyer
        return None

    now = utcnow()
    meta = WorkbookMeta(
        title=f"Statement of {name}", chain=chain.name, tier=tier, period=period.label,
        first_day=period.first, last_day=period.last, timezone=chain.timezone,
        generated_at=now.astimezone(tz), revision=None,
        scope="Every order of this org dated in the period (order date in the chain's timezone).",
    )  # fmt: skip
    rows = _records(_order_lines(session, chain, period, {subject}), directory, tz, side_of)
    write_reconciliation_workbook(target, meta, [org], rows, tz, now)
    record_event(
        session,
        access.actor,
        "reconciliation.statement",
        "org",
        subject,
        chain_id=chain.id,
        data={"period": period.label},
    )
    return (
        f"{_safe_name(chain.name)} - statement - {_safe_name(code or name)} - {period.label}.xlsx"
    )


# --- scheduled runs ---------------------------------------------------------------------------


def scheduled_tiers(session: Session, chain: Chain, schedule: ReconciliationSchedule) -> list[str]:
    """The tiers a scheduled run covers: the chosen ones present in the chain, or all of them."""
    graph = chain_graph(session, chain)
    present = sorted({t for t in graph.tiers.values() if _reconcilable(t)}, key=tier_sort_key)
    if schedule.tiers is None:
        return present
    return [t for t in schedule.tiers if t in present]


def run_schedule(
    engine: Engine, reports_dir: str, chain_id: int, now: datetime | None = None
) -> list[ReconciliationRun]:
    """Run a chain's schedule for the period of its latest due time (taken from the schedule,
    not from when the job happens to run), every tier once."""
    now = now or utcnow()
    with _reading(engine)() as session:
        chain = session.get(Chain, chain_id)
        schedule = session.scalar(
            select(ReconciliationSchedule).where(ReconciliationSchedule.chain_id == chain_id)
        )
        if chain is None or schedule is None or not schedule.enabled:
            return []
        tz = ZoneInfo(chain.timezone)
        fired = latest_fire_time(schedule.frequency, schedule.day, schedule.hour, tz, now)
        period = previous_period(schedule.frequency, fired)
        tiers = scheduled_tiers(session, chain, schedule)
    runs = []
    for tier in tiers:
        run, _ = execute_run(
            engine, reports_dir, chain_id, tier, period.label, trigger="schedule", now=now
        )
        runs.append(run)
    return runs
