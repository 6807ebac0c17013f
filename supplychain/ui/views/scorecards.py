"""Scorecards: the owner's table of every partner's figures for a period, sortable by any column
(links, no script), and a partner's own; the same service and rules as the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template, request

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.extensions import db
from supplychain.models.base import utcnow
from supplychain.services import choices
from supplychain.services.pagination import page_of_list
from supplychain.services.scorecards import RATES, SORT_KEYS, Scorecard, scorecards
from supplychain.ui.base import blp, chain, login_required, page_number
from supplychain.ui.forms import FormErrors, text
from supplychain.ui.views.reconciliation import recent_periods

PAGE_SIZE = 50
RECENT_YEARS = 3
# The table's columns: (sort key, heading, kind); kind picks how a figure is shown.
COLUMNS = (
    ("name", "Organisation", "text"),
    ("tier", "Tier", "text"),
    ("orders", "Orders", "int"),
    ("lines", "Lines", "int"),
    ("ack_rate", "Ack rate", "rate"),
    ("median_ack_hours", "Median hours to ack", "hours"),
    ("on_time_rate", "On time", "rate"),
    ("fill_rate", "Fill rate", "rate"),
    ("discrepancy_lines", "Lines with discrepancies", "int"),
    ("notice_ack_rate", "Notices acknowledged", "rate"),
    ("notice_response_rate", "Notices answered", "rate"),
    ("invoice_match_rate", "Invoices matched", "rate"),
)
NO_DATA = "—"


def periods_offered(access: ChainAccess) -> dict[str, list[str]]:
    """Months, ISO weeks and years a person is likely to want, newest first (the current one
    included: it has started)."""
    this_year = utcnow().astimezone(ZoneInfo(access.chain.timezone)).year
    years = [str(this_year - n) for n in range(RECENT_YEARS)]
    return recent_periods(access) | {"years": years}


def shown(card: Scorecard, key: str, kind: str) -> str:
    """A figure as the table shows it: rates as percentages, hours with two decimals, and the
    dash where there is no data (never 0)."""
    value: Any = getattr(card, key)
    if value is None:
        return NO_DATA
    if kind == "rate":
        return f"{(Decimal(value) * 100).quantize(Decimal('0.1'))}%"
    if kind == "hours":
        return f"{Decimal(value):.2f}"
    return str(value)


@blp.get("/chains/<id:cid>/scorecards")
@login_required
def scorecard_list(cid: int | None):
    """Scorecards for a period: every partner (owner) or the caller's own org (partner)."""
    access = chain(cid)
    periods = periods_offered(access)
    period = text(request.args, "period") or periods["months"][0]
    tier = text(request.args, "tier") or None
    sort = text(request.args, "sort") or "name"
    if sort.removeprefix("-") not in SORT_KEYS:
        sort = "name"
    errors = FormErrors()
    cards: list[Scorecard] = []
    status = 200
    try:
        cards = scorecards(db.session, access, period, tier=tier, sort=sort)[1]
    except Invalid as exc:
        errors, status = FormErrors.of(exc), exc.code
    page = page_of_list(cards, page_number(), PAGE_SIZE)
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    tiers = choices.chain_tiers(db.session, access)
    return render_template(
        "scorecards/list.html",
        access=access,
        page=page,
        period=period,
        periods=periods,
        tier=tier,
        tiers=tiers if access.is_owner else [],
        columns=COLUMNS,
        sort_key=key,
        descending=descending,
        rates=RATES,
        errors=errors,
        shown=shown,
    ), status
