"""Reconciliation: the owner's tier workbooks (runs, run now, the schedule) and partners' statements."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.db import Transaction, transaction
from supplychain.errors import Busy, Conflict, Invalid, NotFound
from supplychain.extensions import db
from supplychain.graph import UNLINKED
from supplychain.ids import parse_id
from supplychain.models.base import utcnow
from supplychain.models.reconciliation import FREQUENCIES
from supplychain.periods import monthly_period, previous_period, weekly_period
from supplychain.schemas.reconciliation import (
    RunCreateSchema,
    ScheduleInSchema,
    StatementQuerySchema,
)
from supplychain.services import choices, members
from supplychain.services.app_access import require_app
from supplychain.services.pagination import paginate
from supplychain.services.reconciliation.ledger import XLSX
from supplychain.services.reconciliation.runs import (
    get_run,
    is_stale,
    request_run,
    run_file,
    runs_query,
)
from supplychain.services.reconciliation.schedules import ScheduleSpec, get_schedule, put_schedule
from supplychain.services.reconciliation.statements import APP, statement_org, write_statement
from supplychain.ui.base import blp, chain, login_required, page_number
from supplychain.ui.forms import (
    FormErrors,
    compact,
    integer,
    nothing_chosen,
    on_form_error,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 25
RECENT_MONTHS = 12
RECENT_WEEKS = 8
MAX_FILTER = 20
DEFAULT_SCHEDULE = {"frequency": "monthly", "day": "1", "hour": "6", "tiers": [], "enabled": True}


# --- periods as people pick them ----------------------------------------------------------------


def _local_now(access: ChainAccess):
    return utcnow().astimezone(ZoneInfo(access.chain.timezone))


def last_month(access: ChainAccess) -> str:
    """The previous calendar month in the chain's timezone, e.g. `2026-01`."""
    return previous_period("monthly", _local_now(access)).label


def recent_periods(access: ChainAccess) -> dict[str, list[str]]:
    """Months and ISO weeks a person is likely to want, newest first (the current one included:
    it has started, so its statement so far can be had)."""
    today = _local_now(access).date()
    months: list[str] = []
    day = today
    for _ in range(RECENT_MONTHS):
        months.append(monthly_period(day).label)
        day = day.replace(day=1) - timedelta(days=1)
    weeks = [weekly_period(today - timedelta(weeks=n)).label for n in range(RECENT_WEEKS)]
    return {"months": months, "weeks": weeks}


def reconcilable_tiers(access: ChainAccess) -> list[str]:
    """The chain's upstream and downstream tiers present now (a workbook needs one of these)."""
    return [t for t in choices.chain_tiers(db.session, access) if t != UNLINKED]


@blp.app_template_filter("filesize")
def _filesize(size: int | None) -> str:
    """Bytes as people read them."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# --- the owner's runs -------------------------------------------------------------------------


def _schedule_values(access: ChainAccess) -> tuple[dict[str, Any], bool]:
    """The schedule as the form shows it, and whether one is set."""
    try:
        schedule = get_schedule(db.session, access)
    except NotFound:
        return dict(DEFAULT_SCHEDULE), False
    values = {
        "frequency": schedule.frequency,
        "day": str(schedule.day),
        "hour": str(schedule.hour),
        "tiers": list(schedule.tiers or []),
        "enabled": schedule.enabled,
    }
    return values, True


def _schedule_form(form: MultiDict) -> dict[str, Any]:
    return {
        "frequency": form.get("frequency", ""),
        "day": form.get("day", ""),
        "hour": form.get("hour", ""),
        "tiers": form.getlist("tiers"),
        "enabled": form.get("enabled") is not None,
    }


def _render_runs(
    access: ChainAccess,
    *,
    run_form: MultiDict | None = None,
    run_errors: FormErrors | None = None,
    schedule_form: MultiDict | None = None,
    schedule_errors: FormErrors | None = None,
):
    tiers = reconcilable_tiers(access)
    filters = {
        "tier": text(request.args, "tier"),
        "period": text(request.args, "period"),
    }
    filters = {k: v if v and len(v) <= MAX_FILTER else None for k, v in filters.items()}
    found = paginate(
        db.session,
        runs_query(access, filters["tier"], filters["period"]),
        page_number(),
        PAGE_SIZE,
    )
    schedule = None
    schedule_set = False
    if access.actor.is_admin:
        schedule, schedule_set = _schedule_values(access)
        if schedule_form is not None:
            schedule = _schedule_form(schedule_form)
    return render_template(
        "reconciliation/runs.html",
        access=access,
        page=found,
        filters=filters,
        tiers=tiers,
        default_period=last_month(access),
        run_form=run_form if run_form is not None else MultiDict(),
        run_errors=run_errors or FormErrors(),
        schedule=schedule,
        schedule_set=schedule_set,
        schedule_errors=schedule_errors or FormErrors(),
        frequencies=FREQUENCIES,
    )


@blp.get("/chains/<id:cid>/reconciliation")
@login_required
def recon_runs(cid: int | None):
    """Tier workbooks by tier and period, a run-now form and (owner admins) the schedule."""
    access = chain(cid)
    access.require_owner()
    return _render_runs(access)


# "Run now" waits this long for the workbook (a small tier takes well under a second); a large
# tier goes on in the background and its page refreshes until it is ready.
RUN_PATIENCE_SECONDS = 5.0
# How often a page of a run still being produced reloads itself (no JavaScript needed).
REFRESH_SECONDS = 3


@blp.post("/chains/<id:cid>/reconciliation/runs")
# The run commits step by step in sessions of its own: this request's session only reads.
@transaction(Transaction.OWN)
@login_required
def recon_run_now(cid: int | None):
    """Produce a tier's workbook for a period now (an existing one is shown unless forced)."""
    access = chain(cid)
    access.require_owner()
    form = request.form
    body = compact(
        {
            "tier": text(form, "tier"),
            "period": text(form, "period"),
            "force": form.get("force") is not None,
        }
    )

    def rerender(exc):
        return _render_runs(access, run_form=form, run_errors=FormErrors.of(exc))

    with on_form_error(rerender, (Invalid, Conflict, Busy)):
        loaded = validated(RunCreateSchema, body)
        run, created = request_run(
            db.session,
            db.engine,
            current_app.config["REPORTS_DIR"],
            access,
            loaded["tier"],
            loaded["period"],
            loaded["force"],
            wait=False,
            patience=RUN_PATIENCE_SECONDS,
        )
    # The run committed in sessions of its own: read afresh from here on.
    db.session.rollback()
    if run.status == "failed":
        flash(gettext("The workbook could not be produced; the error is shown below."), "error")
    elif created and run.status == "succeeded":
        flash(gettext("Workbook produced: %(rows)s lines.", rows=run.rows or 0), "ok")
    elif created:
        flash(gettext("The workbook is being produced; this page shows it when it is ready."), "ok")
    else:
        exists = gettext(
            "A workbook for this tier and period exists already (revision %(revision)s).",
            revision=run.revision,
        )
        flash(f"{exists} {gettext('Tick “New revision” to produce another.')}", "ok")
    return redirect(url_for("ui.recon_run", cid=cid, rid=run.id))


@blp.get("/chains/<id:cid>/reconciliation/runs/<id:rid>")
@login_required
def recon_run(cid: int | None, rid: int | None):
    """One run: its figures, its error if it failed, and the download."""
    access = chain(cid)
    run = get_run(db.session, access, rid)
    # Past STALE_AFTER its process is taken to have died: stop reloading, say how to go on.
    stalled = is_stale(run, utcnow())
    return render_template(
        "reconciliation/run.html",
        access=access,
        run=run,
        in_progress=run.status in ("queued", "running") and not stalled,
        stalled=stalled,
        refresh_seconds=REFRESH_SECONDS,
    )


@blp.get("/chains/<id:cid>/reconciliation/runs/<id:rid>/file")
@login_required
def recon_run_file(cid: int | None, rid: int | None):
    """The workbook of a run, as the API serves it (owner only)."""
    path, name = run_file(db.session, chain(cid), rid, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype=XLSX, as_attachment=True, download_name=name)


@blp.post("/chains/<id:cid>/reconciliation/schedule")
@login_required
def recon_schedule(cid: int | None):
    """Set when the tier workbooks are produced (owner admins)."""
    access = chain(cid)
    access.require_owner_admin()
    form = request.form
    tiers = [tier.strip() for tier in form.getlist("tiers") if tier.strip()]
    body = compact(
        {
            "frequency": text(form, "frequency"),
            "day": integer(form, "day"),
            "hour": integer(form, "hour"),
            "tiers": tiers or None,
            "enabled": form.get("enabled") is not None,
        }
    )

    def rerender(exc):
        return _render_runs(access, schedule_form=form, schedule_errors=FormErrors.of(exc))

    with on_form_error(rerender):
        loaded = validated(ScheduleInSchema, body)
        put_schedule(db.session, access, ScheduleSpec(**loaded))
    flash(gettext("Schedule saved."), "ok")
    return redirect(url_for("ui.recon_runs", cid=cid) + "#schedule")


# --- statements -------------------------------------------------------------------------------


def _statement_org(access: ChainAccess, raw: str | None) -> tuple[int | None, str | None]:
    """The other org whose statements the page offers (its id and name), or None for the
    caller's own; `statement_org` decides whose may be had (a partner naming another org: 403)."""
    org_id = statement_org(access, parse_id(raw))
    if org_id == access.actor.org_id:
        return None, None
    view = members.member_detail(db.session, access, org_id)
    return view.member.org_id, view.member.org.name


def _render_statements(
    access: ChainAccess, form: MultiDict, errors: FormErrors, org_id: int | None, org_name: Any
):
    periods = recent_periods(access)
    chosen = form.get("period") or last_month(access)
    return render_template(
        "reconciliation/statements.html",
        access=access,
        periods=periods,
        chosen=chosen,
        default_period=last_month(access),
        errors=errors,
        org_id=org_id,
        org_name=org_name,
    )


@blp.get("/chains/<id:cid>/statements")
@login_required
def statements(cid: int | None):
    """Pick a period and download the org's statement (partners with the app: their own)."""
    access = chain(cid, app=APP)
    org_id, org_name = _statement_org(access, text(request.args, "org_id"))
    return _render_statements(access, request.args, FormErrors(), org_id, org_name)


@blp.get("/chains/<id:cid>/statements/download")
@transaction(Transaction.WRITES)  # writing a statement records an audit event
@login_required
def statement_file(cid: int | None):
    """One period's statement as xlsx, written for this request (a partner: its own org only)."""
    access = chain(cid)
    period = text(request.args, "period") or ""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes (and so deletes) it
    try:
        query = validated(StatementQuerySchema, compact({"org_id": text(request.args, "org_id")}))
        if not period:
            raise nothing_chosen("period", gettext("Pick a period."))
        name = write_statement(db.session, access, period, query.get("org_id"), handle)
    except Invalid as exc:
        handle.close()
        db.session.rollback()
        require_app(db.session, access, APP)
        org_id, org_name = _statement_org(access, text(request.args, "org_id"))
        page = _render_statements(access, request.args, FormErrors.of(exc), org_id, org_name)
        return page, exc.code
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return send_file(handle, mimetype=XLSX, as_attachment=True, download_name=name)
