"""Times and dates as people read them (pages and mail): in the chain's timezone with the zone named, as people write them.

Stored times are UTC. A page under a chain shows them in the chain's timezone, and every time
says which zone it is in: `2026-12-04 18:00 CST` in English (the zone's abbreviation, or its
IANA name where the abbreviation is only an offset such as "+08"), `2026年12月4日 18:00 北京时间`
in Chinese (a Chinese name for common zones, else the IANA name). Pages outside a chain show
UTC, labelled as such. Dates (requested, promised, available) are calendar days, not instants:
no zone, `2026-12-04` in English and `2026年12月4日` in Chinese.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# How Chinese readers name the zones chains are likely to use; others show their IANA name.
ZONE_NAMES_ZH = {
    "Asia/Shanghai": "北京时间",
    "Asia/Chongqing": "北京时间",
    "Asia/Harbin": "北京时间",
    "Asia/Urumqi": "乌鲁木齐时间",
    "Asia/Hong_Kong": "香港时间",
    "Asia/Macau": "澳门时间",
    "Asia/Taipei": "台北时间",
    "Asia/Tokyo": "东京时间",
    "Asia/Seoul": "首尔时间",
    "Asia/Singapore": "新加坡时间",
    "Asia/Kuala_Lumpur": "吉隆坡时间",
    "Asia/Bangkok": "曼谷时间",
    "Asia/Ho_Chi_Minh": "胡志明市时间",
    "Asia/Jakarta": "雅加达时间",
    "Asia/Kolkata": "印度标准时间",
    "Asia/Dubai": "迪拜时间",
    "Europe/London": "伦敦时间",
    "Europe/Paris": "巴黎时间",
    "Europe/Berlin": "柏林时间",
    "Europe/Moscow": "莫斯科时间",
    "America/New_York": "纽约时间",
    "America/Chicago": "芝加哥时间",
    "America/Los_Angeles": "洛杉矶时间",
    "America/Sao_Paulo": "圣保罗时间",
    "Australia/Sydney": "悉尼时间",
    "UTC": "协调世界时",
    "Etc/UTC": "协调世界时",
}


@cache
def zone(name: str | None) -> ZoneInfo:
    """The zone of that IANA name; UTC for none or an unknown name (chains are checked when set)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_label(tz: ZoneInfo, local: datetime, lang: str) -> str:
    """The zone's name for readers of `lang` at that local time (CET or CEST, say)."""
    if lang == "zh":
        return ZONE_NAMES_ZH.get(tz.key, tz.key)
    abbreviation = local.tzname() or ""
    if not abbreviation or abbreviation[0] in "+-":
        return tz.key
    return abbreviation


def format_datetime(value: datetime, timezone: str | None, lang: str) -> str:
    """An instant to the minute in `timezone`, zone named; a naive value is taken as UTC. An
    instant past year 9999 in that zone (9999-12-31T23:00Z in Shanghai) is shown in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    tz = zone(timezone)
    try:
        local = value.astimezone(tz)
    except OverflowError:
        tz = zone("UTC")
        local = value.astimezone(tz)
    label = zone_label(tz, local, lang)
    if lang == "zh":
        return f"{format_date(local.date(), lang)} {local:%H:%M} {label}"
    return f"{local:%Y-%m-%d %H:%M} {label}"


def format_date(value: date, lang: str) -> str:
    """A calendar day as people write it: 2026-12-04, 2026年12月4日."""
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()
