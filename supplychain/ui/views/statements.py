"""Statements (对账确认) as pages: an org's statement of a period with its status, lines and
disputes, which the partner confirms or disputes line by line (on a phone too, without
JavaScript); the owner's period board with its dispute queue and the resolve form."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.db import Transaction, transaction
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.extensions import db
from supplychain.ids import parse_id
from supplychain.models.statements import DISPUTE_FIELDS, RESOLUTIONS, STATEMENT_STATUSES
from supplychain.schemas.reconciliation import (
    MAX_DISPUTE_LINES,
    ConfirmInSchema,
    DisputeInSchema,
    ResolveInSchema,
)
from supplychain.services import choices
from supplychain.services.reconciliation import board, confirmations, disputes, statement_view
from supplychain.ui.base import blp, chain, login_required, page_number
from supplychain.ui.forms import (
    NO_ERRORS,
    FormErrors,
    compact,
    integer,
    nothing_chosen,
    on_form_error,
    remap_rows,
    text,
    validated,
)
from supplychain.ui.i18n import gettext
from supplychain.ui.views.reconciliation import last_month, recent_periods, reconcilable_tiers

BOARD_PAGE_SIZE = 50
# The figures a `changed` statement compares that are quantities or prices (the rest is text).
NUMERIC_FIGURES = frozenset(
    {"qty", "unit_price", "confirmed_qty", "confirmed_price", "shipped_qty", "received_qty"}
)


# --- an org's statement -----------------------------------------------------------------------


def _org_arg(raw: str | None) -> int | None:
    """The `org_id` a URL names (None: the caller's own); one naming no org is 404."""
    if raw is None:
        return None
    org_id = parse_id(raw)
    if org_id is None:
        raise NotFound("No such member in this chain.")
    return org_id


def statement_url(cid: Any, period: str, org_id: int | None = None, anchor: str = "") -> str:
    """The statement page (the owner's view of another org's names it)."""
    url = url_for("ui.statement", cid=cid, period=period, org_id=org_id)
    return url + (f"#{anchor}" if anchor else "")


def _render_statement(
    access: ChainAccess,
    period: str,
    org_id: int | None,
    *,
    failed: str | None = None,
    errors: FormErrors = NO_ERRORS,
):
    view = statement_view.statement_view(db.session, access, period, org_id)
    people = {view["confirmed_by"]}
    for dispute in view["disputes"]:
        people |= {dispute["opened_by"], dispute["resolved_by"]}
    own = view["org_id"] == access.actor.org_id
    return render_template(
        "reconciliation/statement.html",
        access=access,
        view=view,
        users=choices.user_names(db.session, people),
        answering=own and not access.is_owner,
        other_org=None if own else view["org_id"],
        failed=failed,
        form=request.form if failed else MultiDict(),
        confirm_errors=errors if failed == "confirm" else NO_ERRORS,
        dispute_errors=errors if failed == "dispute" else NO_ERRORS,
        dispute_fields=DISPUTE_FIELDS,
        numeric=NUMERIC_FIGURES,
        open_disputes=[d for d in view["disputes"] if d["status"] == "open"],
    )


@blp.get("/chains/<id:cid>/statements/<period>")
@transaction(Transaction.READS)
@login_required
def statement(cid: int | None, period: str):
    """An org's statement of a period: its status, totals, lines and disputes; the partner's
    people confirm it or dispute lines of it (the owner reads any member's with `?org_id=`)."""
    access = chain(cid)
    org_id = _org_arg(text(request.args, "org_id"))
    if org_id is None and access.is_owner:
        # The owner answers no statement of its own: its people look at the partners' answers.
        return redirect(url_for("ui.statement_board", cid=cid, period=period))
    return _render_statement(access, period, org_id)


def _rerender(access: ChainAccess, period: str, which: str, positions: list[int] | None = None):
    def rerender(exc):
        errors = (
            remap_rows(exc, "lines", positions) if positions is not None else FormErrors.of(exc)
        )
        if isinstance(exc, Conflict):
            # The page shows the statement as it is now: the digest it was not is no help.
            errors.tree.pop("version", None)
        return _render_statement(access, period, None, failed=which, errors=errors)

    return rerender


@blp.post("/chains/<id:cid>/statements/<period>/confirm")
@transaction(Transaction.WRITES)
@login_required
def statement_confirm(cid: int | None, period: str):
    """The partner confirms the version it was shown; a stale one answers the page again with
    the figures as they are now (409)."""
    access = chain(cid)
    body = compact({"version": text(request.form, "version")})
    with on_form_error(_rerender(access, period, "confirm")):
        loaded = validated(ConfirmInSchema, body)
        confirmations.confirm_statement(db.session, access, period, loaded["version"])
    flash(gettext("Statement confirmed."), "ok")
    return redirect(statement_url(cid, period))


def _picked_lines(form: MultiDict) -> tuple[list[int], list[dict[str, Any]]]:
    """The rows the partner disputes: ticked, or with an expected value or a note typed. Only
    those are read, however long the statement; one more than a dispute may hold is kept so
    the schema says how many it may."""
    picked: set[int] = set()
    for key, value in form.items(multi=True):
        head, _, rest = key.partition("-")
        index, _, name = rest.partition("-")
        if (
            head == "lines"
            and name in ("pick", "expected", "note")
            and value.strip()
            and index.isascii()
            and index.isdigit()
            and len(index) < 7
        ):
            picked.add(int(index))
    positions = sorted(picked)[: MAX_DISPUTE_LINES + 1]
    lines = []
    for index in positions:
        prefix = f"lines-{index}-"
        lines.append(
            compact(
                {
                    "order_number": text(form, prefix + "order_number"),
                    "line_no": integer(form, prefix + "line_no"),
                    "field": text(form, prefix + "field"),
                    "expected": text(form, prefix + "expected"),
                    "note": text(form, prefix + "note"),
                }
            )
        )
    return positions, lines


@blp.post("/chains/<id:cid>/statements/<period>/disputes")
@transaction(Transaction.WRITES)
@login_required
def statement_dispute(cid: int | None, period: str):
    """The partner disputes the ticked lines of the version it was shown, each with what is
    wrong (quantity, price, shipped, received, other), the value it expects and a note."""
    access = chain(cid)
    form = request.form
    positions, lines = _picked_lines(form)
    body = compact({"version": text(form, "version"), "note": text(form, "note"), "lines": lines})
    with on_form_error(_rerender(access, period, "dispute", positions)):
        if not lines:
            raise nothing_chosen("lines", gettext("Tick the lines you dispute."))
        loaded = validated(DisputeInSchema, body)
        disputes.open_dispute(
            db.session,
            access,
            period,
            loaded["version"],
            [disputes.DisputedLine(**line) for line in loaded["lines"]],
            loaded["note"],
        )
    flash(gettext("Your dispute was sent: the owner will answer it."), "ok")
    return redirect(statement_url(cid, period, anchor="disputes"))


# --- the owner's board and dispute queue -------------------------------------------------------


def _one_of(value: str | None, allowed: tuple[str, ...] | list[str]) -> str | None:
    return value if value in allowed else None


def _render_board(
    access: ChainAccess,
    *,
    period: str | None = None,
    failed: int | None = None,
    errors: FormErrors = NO_ERRORS,
):
    period = period or text(request.args, "period") or last_month(access)
    tiers = reconcilable_tiers(access)
    # A resolve form that failed carries the board's filters along.
    source = request.form if failed else request.args
    tier = _one_of(source.get("tier"), tiers)
    status = _one_of(source.get("status"), STATEMENT_STATUSES)
    filter_errors = NO_ERRORS
    try:
        found = board.statement_board(
            db.session, access, period, tier, status, page_number(), BOARD_PAGE_SIZE
        )
        queue = disputes.open_disputes(db.session, access, period, tier)
    except Invalid as exc:
        db.session.rollback()
        filter_errors, found, queue = FormErrors.of(exc), None, []
    people = {d.opened_by for d in queue}
    return render_template(
        "reconciliation/board.html",
        access=access,
        period=period,
        periods=recent_periods(access),
        default_period=last_month(access),
        tiers=tiers,
        tier=tier,
        status=status,
        statuses=STATEMENT_STATUSES,
        page=found,
        filter_errors=filter_errors,
        queue=[statement_view.dispute_view(d) for d in queue],
        org_names=choices.org_names(db.session, {d.org_id for d in queue}),
        users=choices.user_names(db.session, people),
        resolutions=RESOLUTIONS,
        failed=failed,
        form=request.form if failed else MultiDict(),
        resolve_errors=errors,
    ), (422 if filter_errors else 200)


@blp.get("/chains/<id:cid>/reconciliation/statements")
@transaction(Transaction.READS)
@login_required
def statement_board(cid: int | None):
    """Every org of a period's tiers with its statement's status (filter by tier and status),
    the counts per status, and the queue of open disputes to resolve (owner only)."""
    access = chain(cid)
    access.require_owner()
    return _render_board(access)


@blp.post("/chains/<id:cid>/reconciliation/disputes/<id:did>/resolve")
@transaction(Transaction.WRITES)
@login_required
def dispute_resolve(cid: int | None, did: int | None):
    """The owner's admin or staff accepts or rejects an open dispute with a note; the
    statement is open again for the partner to confirm."""
    access = chain(cid)
    access.require_owner()
    dispute = disputes.get_dispute(db.session, access, did)
    dispute_id, period = dispute.id, dispute.period
    form = request.form
    body = compact({"resolution": text(form, "resolution"), "note": text(form, "note")})

    def rerender(exc):
        page, _ = _render_board(access, period=period, failed=dispute_id, errors=FormErrors.of(exc))
        return page

    with on_form_error(rerender, (Invalid, Conflict)):
        loaded = validated(ResolveInSchema, body)
        disputes.resolve_dispute(
            db.session, access, dispute_id, loaded["resolution"], loaded["note"]
        )
    if loaded["resolution"] == "accepted":
        flash(gettext("Dispute accepted."), "ok")
    else:
        flash(gettext("Dispute rejected."), "ok")
    args = compact({"period": period, "tier": text(form, "tier"), "status": text(form, "status")})
    return redirect(url_for("ui.statement_board", cid=cid, **args) + "#queue")
