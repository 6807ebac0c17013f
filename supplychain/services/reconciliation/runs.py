"""Reconciliation runs: each (chain, tier, period, revision) produced exactly once, on request,
on schedule or from the CLI, and the runs as the owner lists and downloads them.

The only service code that commits. A run is long (a large tier's workbook takes a minute), so
each step of its claim state machine (queued, running, succeeded or failed) is its own short
transaction: the claim is visible to other processes at once, and writing the workbook only
reads, so it never holds SQLite's write lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import uuid
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.errors import Busy, NotFound
from supplychain.models import Chain, ReconciliationRun
from supplychain.models.base import utcnow
from supplychain.periods import parse_period
from supplychain.services.audit import Author
from supplychain.services.reconciliation import background
from supplychain.services.reconciliation.ledger import (
    check_period,
    check_tier,
    safe_name,
)
from supplychain.services.reconciliation.run_events import record_run_change
from supplychain.services.reconciliation.tier_workbook import write_tier_workbook

log = logging.getLogger(__name__)
# A run still "running" after this long is taken to have died with its process.
STALE_AFTER = timedelta(minutes=30)
INTERRUPTED = "Interrupted: the server stopped before this run finished. Ask for it again."


def _sessions(engine: Engine) -> sessionmaker[Session]:
    # Runs commit step by step in their own transactions, each taking SQLite's write lock early.
    return sessionmaker(
        bind=engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
    )


def reading(engine: Engine) -> sessionmaker[Session]:
    """Sessions for what only reads outside a request: a plain (deferred) BEGIN."""
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
            record_run_change(session, current, author)
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
    with reading(engine)() as session:
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
        with reading(engine)() as session:
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
        with reading(engine)() as session:
            still_mine = (
                session.scalar(
                    select(ReconciliationRun.claim).where(ReconciliationRun.id == run.id)
                )
                == run.claim
            )
        if not still_mine:
            temp.unlink(missing_ok=True)
            with reading(engine)() as session:
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


def _existing_run(
    engine: Engine, chain_id: int, tier: str, period_label: str, force: bool, now: datetime
) -> ReconciliationRun | None:
    """What a claim would answer without making anything: the latest run of (tier, period) when
    it succeeded or is still in hand; None when a claim would make or retake one. Checks the
    tier and period as a claim does."""
    with reading(engine)() as session:
        _check_request(session, chain_id, tier, period_label, now)
        latest = None if force else _latest_run(session, chain_id, tier, period_label)
        if latest is None or latest.status == "failed" or is_stale(latest, now):
            return None
        return latest


def _interrupt(engine: Engine, run: ReconciliationRun, author: Author | None, status: str) -> bool:
    """Fail a run the process stops under and take its claim, so its thread records nothing."""
    values = {"status": "failed", "error": INTERRUPTED, "finished_at": utcnow(), "claim": None}
    return _advance(_sessions(engine), run, status, values, author, audit=True)[1]


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
    now = utcnow()
    if not wait and background.queue_is_full():
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
    if not mine:
        return run, False
    author = Author.of(access.actor)
    if wait:
        return produce_run(engine, reports_dir, run, author=author, now=now), True
    future = background.submit(
        run.id,
        partial(_produce_in_background, engine, reports_dir, run, author, now),
        partial(_interrupt, engine, run, author),
    )
    if patience > 0:
        try:
            run = future.result(timeout=patience) or run
        except FuturesTimeout:
            with reading(engine)() as fresh:
                run = fresh.get(ReconciliationRun, run.id) or run
    return run, True


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
    name = f"{safe_name(access.chain.name)} - {run.tier} - {run.period} - r{run.revision}.xlsx"
    return path, name
