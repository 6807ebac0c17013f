"""Times on pages: in the chain's timezone, the zone named, written as people there write them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from supplychain.timefmt import format_date, format_datetime, zone
from supplychain.ui.timefmt import when

# 10:00 UTC is 18:00 in Beijing: the time the manufacturer wrote in the notice.
DUE = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_beijing_time_in_english_and_chinese():
    assert format_datetime(DUE, "Asia/Shanghai", "en") == "2026-12-04 18:00 CST"
    assert format_datetime(DUE, "Asia/Shanghai", "zh") == "2026年12月4日 18:00 北京时间"


def test_a_naive_value_is_taken_as_utc():
    # SQLite hands back naive datetimes to raw queries: they are UTC, as everything stored.
    naive = DUE.replace(tzinfo=None)
    assert format_datetime(naive, "Asia/Shanghai", "en") == "2026-12-04 18:00 CST"


def test_the_local_day_is_the_chains_day():
    late = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)
    assert format_datetime(late, "Asia/Shanghai", "en") == "2026-12-05 01:30 CST"
    assert format_datetime(late, "Asia/Shanghai", "zh") == "2026年12月5日 01:30 北京时间"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("instant", "english", "chinese"),
    [
        (at(2026, 1, 15, 12, 0), "2026-01-15 13:00 CET", "2026年1月15日 13:00"),
        (at(2026, 7, 15, 12, 0), "2026-07-15 14:00 CEST", "2026年7月15日 14:00"),
        # The last minute of winter time and the first of summer time (29 March 2026).
        (at(2026, 3, 29, 0, 59), "2026-03-29 01:59 CET", "2026年3月29日 01:59"),
        (at(2026, 3, 29, 1, 0), "2026-03-29 03:00 CEST", "2026年3月29日 03:00"),
        # Back to winter time: 02:30 happens twice; the abbreviation tells which.
        (at(2026, 10, 25, 0, 30), "2026-10-25 02:30 CEST", "2026年10月25日 02:30"),
        (at(2026, 10, 25, 1, 30), "2026-10-25 02:30 CET", "2026年10月25日 02:30"),
    ],
)
def test_a_zone_with_summer_time(instant: datetime, english: str, chinese: str):
    assert format_datetime(instant, "Europe/Berlin", "en") == english
    assert format_datetime(instant, "Europe/Berlin", "zh") == f"{chinese} 柏林时间"


def test_zone_names():
    assert format_datetime(DUE, "UTC", "en") == "2026-12-04 10:00 UTC"
    assert format_datetime(DUE, "UTC", "zh") == "2026年12月4日 10:00 协调世界时"
    assert format_datetime(DUE, "Asia/Tokyo", "en") == "2026-12-04 19:00 JST"
    assert format_datetime(DUE, "Asia/Tokyo", "zh") == "2026年12月4日 19:00 东京时间"
    assert format_datetime(DUE, "Asia/Hong_Kong", "zh") == "2026年12月4日 18:00 香港时间"
    assert format_datetime(DUE, "Asia/Taipei", "zh") == "2026年12月4日 18:00 台北时间"
    # Where the zone's abbreviation is only an offset ("+08", "-05"), its IANA name says more.
    assert format_datetime(DUE, "Asia/Singapore", "en") == "2026-12-04 18:00 Asia/Singapore"
    assert format_datetime(DUE, "America/Bogota", "en") == "2026-12-04 05:00 America/Bogota"
    # A zone without a Chinese name keeps its IANA name.
    assert format_datetime(DUE, "America/Bogota", "zh") == "2026年12月4日 05:00 America/Bogota"


def test_an_unknown_zone_shows_utc_and_says_so():
    assert zone("Mars/Olympus_Mons").key == "UTC"
    assert zone("../../etc/passwd").key == "UTC"
    assert format_datetime(DUE, "Mars/Olympus_Mons", "en") == "2026-12-04 10:00 UTC"


def test_dates_are_days_without_a_zone():
    assert format_date(date(2026, 12, 4), "en") == "2026-12-04"
    assert format_date(date(2026, 12, 4), "zh") == "2026年12月4日"


def test_the_filter_outside_a_page():
    assert when(None) == ""
    assert when("") == ""
    assert when(date(2026, 12, 4)) == "2026-12-04"
    # Outside a chain's page (and outside any request) a time is UTC, labelled.
    assert when(DUE) == "2026-12-04 10:00 UTC"
