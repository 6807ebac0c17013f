"""Reconciliation schedules: the owner's monthly or weekly schedule, and the scheduler's run of
it (every chosen tier once, for the period of its latest due time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid, NotFound
from supplychain.graph import tier_sort_key
from supplychain.models import Chain, ReconciliationRun, ReconciliationSchedule
from supplychain.models.base import utcnow
from supplychain.periods import latest_fire_time, previous_period
from supplychain.services.audit import record_action
from supplychain.services.chains import chain_graph
from supplychain.services.reconciliation.ledger import reconcilable
from supplychain.services.reconciliation.runs import execute_run, reading


@dataclass
class ScheduleSpec:
    """A schedule as the owner sets it."""

    frequency: str
    day: int
    hour: int
    tiers: list[str] | None
    enabled: bool


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
    bad = [t for t in spec.tiers or [] if not reconcilable(t)]
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
    record_action(
        session,
        access,
        "reconciliation.schedule",
        "chain",
        access.chain_id,
        data={
            "frequency": spec.frequency,
            "day": spec.day,
            "hour": spec.hour,
            "tiers": schedule.tiers,
            "enabled": spec.enabled,
        },
    )
    return schedule


def scheduled_tiers(session: Session, chain: Chain, schedule: ReconciliationSchedule) -> list[str]:
    """The tiers a scheduled run covers: the chosen ones present in the chain, or all of them."""
    graph = chain_graph(session, chain)
    present = sorted({t for t in graph.tiers.values() if reconcilable(t)}, key=tier_sort_key)
    if schedule.tiers is None:
        return present
    return [t for t in schedule.tiers if t in present]


def run_schedule(
    engine: Engine, reports_dir: str, chain_id: int, now: datetime | None = None
) -> list[ReconciliationRun]:
    """Run a chain's schedule for the period of its latest due time (taken from the schedule,
    not from when the job happens to run), every tier once."""
    now = now or utcnow()
    with reading(engine)() as session:
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
