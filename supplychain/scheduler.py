"""APScheduler set-up: one job per chain schedule and the reminders job, persisted, with misfires
caught up once.

APScheduler 3 cannot share a job store between processes, so exactly one scheduler runs per
deployment (the `serve` master, or `supplychain scheduler`). Jobs have fixed ids; a job whose
trigger is unchanged is kept as stored, so a run missed while the process was down fires once on
start-up (coalesce, no grace limit). The claim row in the database makes every run exactly-once.
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import Chain, ReconciliationSchedule
from supplychain.models.base import utcnow

log = logging.getLogger(__name__)
JOB_PREFIX = "reconciliation-chain-"
SYNC_JOB = "sync-schedules"
SYNC_SECONDS = 30
REMINDERS_JOB = "reminders"
REMINDERS_MINUTES = 5
OIDC_PURGE_JOB = "oidc-purge"
OIDC_PURGE_HOURS = 1
JOB_DEFAULTS = {
    "coalesce": True,  # many missed fire times: one run
    "misfire_grace_time": None,  # however late: run (APScheduler's default of 1 s would skip)
    "max_instances": 1,
}
_app: Flask | None = None


def schedule_trigger(schedule: ReconciliationSchedule, timezone: str) -> CronTrigger:
    """The cron trigger of a schedule in the chain's timezone.

    Monthly days 29-31 fire on days 28 to 31: the job works out the latest due time itself
    (min(day, month length)) and claims that period, so the extra firings are no-ops.
    """
    if schedule.frequency == "monthly":
        day = str(schedule.day) if schedule.day <= 28 else "28-31"
        return CronTrigger(day=day, hour=schedule.hour, timezone=timezone)
    return CronTrigger(day_of_week=schedule.day - 1, hour=schedule.hour, timezone=timezone)


def run_chain_schedule(chain_id: int) -> None:
    """The job: run a chain's schedule inside an app context."""
    from supplychain.services.reconciliation.schedules import run_schedule

    assert _app is not None, "scheduler used before init_scheduler"
    with _app.app_context():
        runs = run_schedule(db.engine, _app.config["REPORTS_DIR"], chain_id)
        log.info(
            "chain %s: %d scheduled runs: %s",
            chain_id,
            len(runs),
            [(r.tier, r.period, r.status) for r in runs],
        )


def send_reminders() -> None:
    """The job: send the notice, order and statement reminders that are due, committing once (their claim
    rows make each reminder exactly-once, however many schedulers run)."""
    from supplychain.services.reminders import send_due_reminders

    assert _app is not None, "scheduler used before init_scheduler"
    with _app.app_context():
        try:
            sent = send_due_reminders(db.session, utcnow())
            db.session.commit()
        finally:
            db.session.remove()
        log.info(
            "reminders sent for notices %s, orders %s and statements %s",
            sent.notices,
            sent.orders,
            sent.statements,
        )


def purge_oidc() -> None:
    """The job: delete the OpenID Connect provider's dead codes, token families and long-ended
    app sessions, committing once (identity/purge.py keeps what reuse detection needs; running twice is harmless)."""
    from supplychain.identity.purge import purge

    assert _app is not None, "scheduler used before init_scheduler"
    with _app.app_context():
        try:
            purged = purge(db.session, utcnow())
            db.session.commit()
        finally:
            db.session.remove()
        log.info(
            "oidc purge: %d codes, %d tokens, %d sessions deleted",
            purged.codes,
            purged.tokens,
            purged.sessions,
        )


def sync_jobs(scheduler: BackgroundScheduler) -> None:
    """Make the job list match the schedules table: add, replace changed, remove disabled."""
    assert _app is not None
    with _app.app_context():
        rows = db.session.execute(
            select(ReconciliationSchedule, Chain.timezone).join(
                Chain, Chain.id == ReconciliationSchedule.chain_id
            )
        ).all()
        db.session.remove()
    wanted: dict[str, tuple[int, CronTrigger]] = {}
    for schedule, timezone in rows:
        if schedule.enabled:
            trigger = schedule_trigger(schedule, timezone)
            wanted[f"{JOB_PREFIX}{schedule.chain_id}"] = (schedule.chain_id, trigger)
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id)
    for job_id, (chain_id, trigger) in wanted.items():
        existing = scheduler.get_job(job_id)
        if existing is not None and repr(existing.trigger) == repr(trigger):
            continue  # unchanged: keep its stored next run time (a missed run still fires)
        scheduler.add_job(
            run_chain_schedule,
            trigger,
            args=[chain_id],
            id=job_id,
            replace_existing=True,
            name=f"reconciliation for chain {chain_id}",
        )


class ChainScheduler(BackgroundScheduler):
    """A BackgroundScheduler whose database job store is fully closed after shutdown.

    APScheduler disposes the store's engine before joining its thread, which may still hold a
    connection; disposing again once the thread has stopped closes that one too.
    """

    def __init__(self, store: SQLAlchemyJobStore, **options: Any) -> None:
        self.db_store = store
        super().__init__(**options)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait=wait)
        self.db_store.engine.dispose()


def init_scheduler(app: Flask, **options: Any) -> ChainScheduler:
    """A scheduler bound to the app's database job store (not started)."""
    global _app
    _app = app
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")
    scheduler = ChainScheduler(
        store,
        jobstores={
            "default": store,
            "memory": MemoryJobStore(),  # the sync job holds the scheduler: never pickled
        },
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
        **options,
    )
    return scheduler


def start_scheduler(app: Flask) -> ChainScheduler:
    """Start the scheduler: stored jobs load (misfires fire once), then schedules are synced."""
    scheduler = init_scheduler(app)
    scheduler.start(paused=True)
    sync_jobs(scheduler)
    scheduler.add_job(
        send_reminders,
        "interval",
        minutes=REMINDERS_MINUTES,
        id=REMINDERS_JOB,
        replace_existing=True,
        name="notice and order reminders",
    )
    scheduler.add_job(
        purge_oidc,
        "interval",
        hours=OIDC_PURGE_HOURS,
        id=OIDC_PURGE_JOB,
        replace_existing=True,
        name="purge of dead OpenID Connect codes and tokens",
    )
    scheduler.add_job(
        sync_jobs,
        "interval",
        seconds=SYNC_SECONDS,
        args=[scheduler],
        id=SYNC_JOB,
        replace_existing=True,
        jobstore="memory",
    )
    scheduler.resume()
    app.extensions["supplychain_scheduler"] = scheduler
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    """Shut down, letting a running job finish."""
    if scheduler.running:
        scheduler.shutdown(wait=True)
