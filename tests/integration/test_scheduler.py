"""The scheduler with a controlled clock: fire times, catch-up of missed runs, exactly-once."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from supplychain.extensions import db
from supplychain.models import ReconciliationRun
from supplychain.periods import latest_fire_time, previous_period
from supplychain.scheduler import JOB_PREFIX, start_scheduler, stop_scheduler
from supplychain.services.reconciliation.schedules import run_schedule
from tests.conftest import Api

SH = ZoneInfo("Asia/Shanghai")
# The scheduler, its runs and the CLI work in sessions and processes of their own, which must see
# what the test made: these tests commit for real.
pytestmark = pytest.mark.committed


def _schedule(w, **body):
    body = {"frequency": "monthly", "day": 1, "hour": 2, "tiers": None, **body}
    r = w.api.put(w.path("/reconciliation/schedule"), body, token=w.owner.token)
    assert r.status_code == 200, r.text


def _runs(app):
    with app.app_context():
        rows = db.session.execute(
            select(
                ReconciliationRun.tier,
                ReconciliationRun.period,
                ReconciliationRun.revision,
                ReconciliationRun.status,
                ReconciliationRun.trigger,
            ).order_by(ReconciliationRun.tier)
        ).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_run_schedule_takes_the_period_from_the_due_time(world, app):
    _schedule(world)
    reports = app.config["REPORTS_DIR"]
    with app.app_context():
        # 1 December, 03:00 in Shanghai: the 02:00 run covers November, all tiers present.
        runs = run_schedule(
            db.engine, reports, int(world.chain_id), now=datetime(2026, 12, 1, 3, tzinfo=SH)
        )
        assert [(r.tier, r.period, r.status) for r in runs] == [
            ("U1", "2026-11", "succeeded"),
            ("D1", "2026-11", "succeeded"),
            ("D2", "2026-11", "succeeded"),
        ]
        # The job running late, even days later, still covers November; and only once.
        again = run_schedule(
            db.engine, reports, int(world.chain_id), now=datetime(2026, 12, 9, 15, tzinfo=SH)
        )
        assert [r.id for r in again] == [r.id for r in runs]
        # Before the due time it is still October's turn.
        early = run_schedule(
            db.engine, reports, int(world.chain_id), now=datetime(2026, 12, 1, 1, tzinfo=SH)
        )
        assert {r.period for r in early} == {"2026-10"}
        db.session.remove()
    assert len(_runs(app)) == 6 and all(r[4] == "schedule" for r in _runs(app))


def test_chosen_tiers_and_disabled_schedule(world, app):
    _schedule(world, tiers=["D2"], frequency="weekly", day=1, hour=8)
    with app.app_context():
        runs = run_schedule(
            db.engine,
            app.config["REPORTS_DIR"],
            int(world.chain_id),
            now=datetime(2027, 1, 4, 9, tzinfo=SH),
        )
        assert [(r.tier, r.period) for r in runs] == [("D2", "2026-W53")]
        db.session.remove()
    _schedule(world, enabled=False)
    with app.app_context():
        assert (
            run_schedule(
                db.engine,
                app.config["REPORTS_DIR"],
                int(world.chain_id),
                now=datetime(2027, 2, 4, 9, tzinfo=SH),
            )
            == []
        )
        db.session.remove()


def _wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_scheduler_registers_jobs_in_chain_timezone(world, app):
    _schedule(world)
    scheduler = start_scheduler(app)
    try:
        job = scheduler.get_job(f"{JOB_PREFIX}{world.chain_id}")
        assert job is not None
        assert job.coalesce is True and job.misfire_grace_time is None
        nxt = job.next_run_time.astimezone(SH)
        assert (nxt.day, nxt.hour, nxt.minute) == (1, 2, 0)
        assert nxt > datetime.now(UTC)
    finally:
        stop_scheduler(scheduler)
        app.extensions.pop("supplychain_scheduler", None)


def _move_stored_job(app, job_id, when):
    """Edit the job as the database holds it, with no scheduler running (as after a crash)."""
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    store = SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(), "default")
    try:
        job = store.lookup_job(job_id)
        job._modify(next_run_time=when)
        store.update_job(job)
    finally:
        store.shutdown()


def test_missed_run_is_caught_up_once_on_start(world, app):
    """The server was down at the due time: on start-up the run happens once, not zero or twice."""
    _schedule(world)
    scheduler = start_scheduler(app)
    job_id = f"{JOB_PREFIX}{world.chain_id}"
    stop_scheduler(scheduler)
    # Downtime across several due times: the persisted job's next run time lies in the past.
    _move_stored_job(app, job_id, datetime.now(UTC) - timedelta(days=62))
    assert _runs(app) == []
    expected = previous_period("monthly", latest_fire_time("monthly", 1, 2, SH, datetime.now(UTC)))
    scheduler = start_scheduler(app)
    try:
        assert _wait_for(
            lambda: len(_runs(app)) == 3 and all(r[3] == "succeeded" for r in _runs(app))
        )
        time.sleep(0.5)  # would a second (uncoalesced) firing add runs? It must not.
        runs = _runs(app)
        assert [(r[0], r[1], r[2]) for r in runs] == [
            ("D1", expected.label, 1),
            ("D2", expected.label, 1),
            ("U1", expected.label, 1),
        ]
        nxt = scheduler.get_job(job_id).next_run_time
        assert nxt > datetime.now(UTC)
    finally:
        stop_scheduler(scheduler)
        app.extensions.pop("supplychain_scheduler", None)


def test_schedule_changes_reach_a_running_scheduler(world, app):
    scheduler = start_scheduler(app)
    try:
        assert scheduler.get_job(f"{JOB_PREFIX}{world.chain_id}") is None
        _schedule(world, frequency="weekly", day=3, hour=7)
        from supplychain.scheduler import sync_jobs

        sync_jobs(scheduler)  # what the 30-second sync job does
        nxt = scheduler.get_job(f"{JOB_PREFIX}{world.chain_id}").next_run_time.astimezone(SH)
        assert (nxt.isoweekday(), nxt.hour) == (3, 7)
        _schedule(world, enabled=False)
        sync_jobs(scheduler)
        assert scheduler.get_job(f"{JOB_PREFIX}{world.chain_id}") is None
    finally:
        stop_scheduler(scheduler)
        app.extensions.pop("supplychain_scheduler", None)


@pytest.mark.parametrize("round_", range(2))
def test_exactly_once_across_processes_and_api(world, http_api, app, database_url, round_):
    """Four CLI processes and two API calls ask for the same workbook at once: one is made."""
    period = previous_period("monthly", datetime.now(SH)).label
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SUPPLYCHAIN_REPORTS_DIR": app.config["REPORTS_DIR"],
    }
    cli = [
        sys.executable,
        "-m",
        "supplychain.cli",
        "reconcile",
        world.chain_id,
        "--tier",
        "D1",
        "--period",
        period,
    ]
    procs = [
        subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    api_codes = []

    def call():
        client = Api(http_api.base, world.owner.token)
        api_codes.append(
            client.post(
                world.path("/reconciliation/runs"), {"tier": "D1", "period": period}
            ).status_code
        )

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    outputs = [p.communicate(timeout=120) for p in procs]
    for thread in threads:
        thread.join()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    created = [json.loads(out)["created"] for out, _ in outputs] + [c == 201 for c in api_codes]
    assert created.count(True) == 1, (created, api_codes)
    assert all(
        json.loads(out)["status"] in ("succeeded", "running", "queued") for out, _ in outputs
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReconciliationRun)) == 1
        db.session.remove()
    folder = Path(app.config["REPORTS_DIR"]) / world.chain_id / period
    assert [p.name for p in folder.iterdir()] == ["D1-r1.xlsx"]
