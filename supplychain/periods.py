"""Reconciliation periods (`YYYY-MM`, `YYYY-Www`) and schedule fire times, in a chain's timezone."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTHLY = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")
WEEKLY = re.compile(r"^([0-9]{4})-W(0[1-9]|[1-4][0-9]|5[0-3])\Z")


@dataclass(frozen=True)
class Period:
    """A half-open span of local dates [first, last] named like `2026-11` or `2026-W47`."""

    label: str
    first: date
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as UTC instants [start, end) for a chain in timezone `tz`."""
        start = datetime.combine(self.first, time.min, tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


def parse_period(label: str) -> Period | None:
    """The period a label names, or None when it is malformed (week 53 only where it exists)."""
    if m := MONTHLY.match(label):
        year, month = int(m[1]), int(m[2])
        if year < 1900:
            return None
        last_day = calendar.monthrange(year, month)[1]
        return Period(label, date(year, month, 1), date(year, month, last_day))
    if m := WEEKLY.match(label):
        year, week = int(m[1]), int(m[2])
        if year < 1900:
            return None
        try:
            first = date.fromisocalendar(year, week, 1)
            last = first + timedelta(days=6)
        except (ValueError, OverflowError):  # no week 53 that year; 9999-W52 ends in 10000
            return None
        return Period(label, first, last)
    return None


def monthly_period(day: date) -> Period:
    """The calendar month containing `day`."""
    period = parse_period(f"{day.year:04d}-{day.month:02d}")
    assert period is not None
    return period


def weekly_period(day: date) -> Period:
    """The ISO week containing `day`."""
    year, week, _ = day.isocalendar()
    period = parse_period(f"{year:04d}-W{week:02d}")
    assert period is not None
    return period


def previous_period(frequency: str, fire_local: datetime) -> Period:
    """What a run fired at `fire_local` covers: the previous month, or the previous ISO week."""
    today = fire_local.date()
    if frequency == "monthly":
        return monthly_period(today.replace(day=1) - timedelta(days=1))
    return weekly_period(today - timedelta(days=today.isoweekday() - 1) - timedelta(days=1))


def latest_fire_time(frequency: str, day: int, hour: int, tz: ZoneInfo, now: datetime) -> datetime:
    """The most recent scheduled instant at or before `now` (monthly days past a month's end fall
    on its last day; weekly `day` is the ISO weekday, 1 = Monday)."""
    local_now = now.astimezone(tz)

    def monthly_at(year: int, month: int) -> datetime:
        last = calendar.monthrange(year, month)[1]
        return datetime(year, month, min(day, last), hour, tzinfo=tz)

    if frequency == "monthly":
        candidate = monthly_at(local_now.year, local_now.month)
        if candidate > local_now:
            prev = local_now.replace(day=1) - timedelta(days=1)
            candidate = monthly_at(prev.year, prev.month)
        return candidate
    monday = local_now.date() - timedelta(days=local_now.isoweekday() - 1)
    candidate_day = monday + timedelta(days=day - 1)
    candidate = datetime.combine(candidate_day, time(hour), tzinfo=tz)
    if candidate > local_now:
        candidate -= timedelta(days=7)
    return candidate


def is_future(period: Period, tz: ZoneInfo, now: datetime) -> bool:
    """True when the period has not started yet in the chain's timezone."""
    return period.first > now.astimezone(tz).date()
