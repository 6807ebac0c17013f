"""Times and dates on pages: the core's formats (`supplychain.timefmt`) in the page's chain
timezone and the request's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import g, has_request_context

from supplychain.timefmt import format_date, format_datetime
from supplychain.ui.i18n import current_language


def page_timezone() -> str:
    """The timezone of the page being rendered: its chain's, else UTC."""
    access = getattr(g, "chain_access", None) if has_request_context() else None
    return access.chain.timezone if access is not None else "UTC"


def when(value: Any) -> str:
    """The `when` filter: a time in the page's timezone with its zone, a date as a day, or ''."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        try:
            return format_datetime(value, page_timezone(), current_language())
        except OverflowError:  # past year 9999 in the page's timezone: shown in UTC
            return format_datetime(value, "UTC", current_language())
    if isinstance(value, date):
        return format_date(value, current_language())
    return str(value)
