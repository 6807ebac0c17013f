"""Periods and schedule fire times in a chain's timezone."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from supplychain.periods import is_future, latest_fire_time, parse_period, previous_period

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("label", "first", "last"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-W47", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
        ("2027-W01", date(2027, 1, 4), date(2027, 1, 10)),
    ],
)
def test_parse_period(label, first, last):
    period = parse_period(label)
    assert period is not None and (period.first, period.last) == (first, last)


@pytest.mark.parametrize(
    "label",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "2026-W00",
        "2025-W53",
        "2026-W54",
        "26-11",
        "",
        "x",
        "2026-11 ",
        "0999-01",
    ],
)
def test_malformed_periods(label):
    assert parse_period(label) is None


def test_period_bounds_are_local_midnights():
    start, end = parse_period("2026-11").bounds(SH)
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)


def test_monthly_fire_times_and_previous_month():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=SH)
    fired = latest_fire_time("monthly", 1, 2, SH, now)
    assert fired == datetime(2026, 12, 1, 2, tzinfo=SH)
    assert previous_period("monthly", fired).label == "2026-11"
    # One hour before the due time, the latest due time is last month's.
    early = latest_fire_time("monthly", 1, 2, SH, datetime(2026, 12, 1, 1, tzinfo=SH))
    assert early == datetime(2026, 11, 1, 2, tzinfo=SH)
    assert previous_period("monthly", early).label == "2026-10"


def test_monthly_day_past_month_end_is_last_day():
    fired = latest_fire_time("monthly", 31, 6, SH, datetime(2027, 3, 5, tzinfo=SH))
    assert fired == datetime(2027, 2, 28, 6, tzinfo=SH)
    assert previous_period("monthly", fired).label == "2027-01"


def test_weekly_fire_times_cover_previous_iso_week():
    # Monday 2027-01-04 09:00; weekly on Monday at 08:00 -> previous ISO week 2026-W53.
    now = datetime(2027, 1, 4, 9, tzinfo=SH)
    fired = latest_fire_time("weekly", 1, 8, SH, now)
    assert fired == datetime(2027, 1, 4, 8, tzinfo=SH)
    assert previous_period("weekly", fired).label == "2026-W53"
    # Sunday due time seen on a Wednesday: last Sunday.
    fired = latest_fire_time("weekly", 7, 23, SH, datetime(2026, 11, 25, 12, tzinfo=SH))
    assert fired == datetime(2026, 11, 22, 23, tzinfo=SH)
    assert previous_period("weekly", fired).label == "2026-W46"


def test_fire_time_uses_chain_timezone_not_utc():
    # 2026-11-30 18:30 UTC is already 1 December 02:30 in Shanghai.
    now = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    assert previous_period("monthly", latest_fire_time("monthly", 1, 2, SH, now)).label == "2026-11"
    ny = ZoneInfo("America/New_York")
    assert previous_period("monthly", latest_fire_time("monthly", 1, 2, ny, now)).label == "2026-10"


def test_future_period():
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert not is_future(parse_period("2026-11"), SH, now)
    assert is_future(parse_period("2026-12"), SH, now)
    assert not is_future(parse_period("2026-W47"), SH, now)
    assert is_future(parse_period("2026-W49"), SH, now)
