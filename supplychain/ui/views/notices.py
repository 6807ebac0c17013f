"""Notices: inbox and sent box, a notice with ack and response forms, compose, recipients."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.db import Transaction, transaction
from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.extensions import db
from supplychain.models.notices import NOTICE_KINDS
from supplychain.schemas.notices import AckInSchema, NoticeCreateSchema, ResponseInSchema
from supplychain.services import choices, notice_answers, notice_tracking, notices, reminders
from supplychain.services.inbox import inbox_page, sent_page
from supplychain.services.notice_tracking import RECIPIENT_STATES
from supplychain.services.notices import MAX_ITEMS
from supplychain.ui.base import blp, chain, choice, flash_and_redirect, login_required, page_number
from supplychain.ui.forms import (
    MAX_FORM_ROWS,
    FormErrors,
    compact,
    filled_rows,
    nothing_chosen,
    on_form_error,
    on_refusal,
    posted_form,
    quantity_rows,
    remap_rows,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 25
ITEM_FIELDS = (
    "sku",
    "description",
    "qty",
    "unit",
    "unit_price",
    "available_from",
    "available_until",
)
START_ROWS = 3


@blp.get("/chains/<id:cid>/notices")
@login_required
def notice_list(cid: int | None):
    """Inbox (addressed to the user's org) with unread/unacked filters, or the sent box."""
    access = chain(cid)
    box = choice("box", ("inbox", "sent")) or "inbox"
    state = choice("state", ("unread", "unacked"))
    lister = sent_page if box == "sent" else inbox_page
    found = lister(db.session, access, state, page_number(), PAGE_SIZE)
    names = choices.org_names(db.session, {item["sender_org_id"] for item in found.items})
    return render_template(
        "notices/list.html", access=access, box=box, state=state, page=found, names=names
    )


def _render_notice(
    access: ChainAccess,
    nid: int | None,
    failed: str | None = None,
    errors: FormErrors | None = None,
):
    view = notices.open_notice(db.session, access, nid)
    sender = choices.org_names(db.session, [view.notice.sender_org_id])
    answered = {}
    if view.my_response:
        answered = {line["sku"]: line["qty"] for line in view.my_response["items"]}
    return render_template(
        "notices/detail.html",
        access=access,
        view=view,
        sender=sender.get(view.notice.sender_org_id, ""),
        ack_errors=errors if errors and failed == "ack" else FormErrors(),
        respond_errors=errors if errors and failed == "respond" else FormErrors(),
        form=request.form if failed else MultiDict(),
        answered=answered,
    )


@blp.get("/chains/<id:cid>/notices/<id:nid>")
@transaction(Transaction.WRITES)  # a recipient's first visit records the read
@login_required
def notice(cid: int | None, nid: int | None):
    """A notice with its items; a recipient's first visit marks it read for its org."""
    return _render_notice(chain(cid), nid)


@blp.post("/chains/<id:cid>/notices/<id:nid>/ack")
@login_required
def notice_ack(cid: int | None, nid: int | None):
    """Acknowledge the notice for the user's org (a second acknowledgment changes nothing)."""
    access = chain(cid)
    with on_form_error(lambda exc: _render_notice(access, nid, "ack", FormErrors.of(exc))):
        body = validated(AckInSchema, compact({"note": text(request.form, "note")}))
        _row, created = notice_answers.acknowledge_notice(db.session, access, nid, body.get("note"))
    return flash_and_redirect(
        gettext("Acknowledged.") if created else gettext("Acknowledged before."),
        "ui.notice",
        cid=cid,
        nid=nid,
    )


@blp.post("/chains/<id:cid>/notices/<id:nid>/respond")
@login_required
def notice_respond(cid: int | None, nid: int | None):
    """Answer with a quantity per item; a newer answer replaces the org's previous one."""
    access = chain(cid)
    filled = quantity_rows(request.form, "items", ("sku", "qty"), MAX_ITEMS)
    positions = [index for index, _ in filled]
    body = compact({"items": [values for _, values in filled], "note": text(request.form, "note")})

    def rerender(exc):
        return _render_notice(access, nid, "respond", remap_rows(exc, "items", positions))

    with on_form_error(rerender):
        if not filled:
            raise nothing_chosen("items", gettext("Give a quantity for at least one item."))
        loaded = validated(ResponseInSchema, body)
        notice_answers.respond_to_notice(
            db.session,
            access,
            nid,
            [(line["sku"], line["qty"]) for line in loaded["items"]],
            loaded.get("note"),
        )
    return flash_and_redirect(gettext("Your quantities were sent."), "ui.notice", cid=cid, nid=nid)


@blp.post("/chains/<id:cid>/notices/<id:nid>/withdraw")
@login_required
def notice_withdraw(cid: int | None, nid: int | None):
    """The sender withdraws a notice: it stays visible, marked withdrawn."""
    access = chain(cid)
    with on_refusal(url_for("ui.notice", cid=cid, nid=nid)):
        notices.withdraw_notice(db.session, access, nid)
    return flash_and_redirect(gettext("The notice was withdrawn."), "ui.notice", cid=cid, nid=nid)


@blp.post("/chains/<id:cid>/notices/<id:nid>/remind")
@login_required
def notice_remind(cid: int | None, nid: int | None):
    """The sender reminds the recipients who have not acknowledged (or, without ack, read)."""
    access = chain(cid)
    with on_refusal(url_for("ui.notice_recipients", cid=cid, nid=nid)):
        count = reminders.remind_notice(db.session, access, nid, None)
    if count:
        flash(gettext("Reminded %(count)s recipients.", count=count), "ok")
    else:
        flash(gettext("Nobody is left to remind."), "ok")
    return redirect(url_for("ui.notice_recipients", cid=cid, nid=nid))


@blp.get("/chains/<id:cid>/notices/<id:nid>/recipients")
@login_required
def notice_recipients(cid: int | None, nid: int | None):
    """The sender's progress: who read, acknowledged and answered, and per-sku sums."""
    access = chain(cid)
    status = choice("status", RECIPIENT_STATES)
    found = notice_tracking.recipients_page(
        db.session, access, nid, status, page_number(), PAGE_SIZE
    )
    view = notices.open_notice(db.session, access, nid)
    return render_template(
        "notices/recipients.html", access=access, view=view, page=found, status=status
    )


# --- compose ----------------------------------------------------------------------------------


def _render_compose(access: ChainAccess, form: MultiDict, errors: FormErrors, rows: int):
    return render_template(
        "notices/compose.html",
        access=access,
        form=form,
        errors=errors,
        rows=rows,
        kinds=NOTICE_KINDS,
        choices=choices.audience_choices(db.session, access),
    )


def _row_count(form: MultiDict) -> int:
    value = form.get("rows", "")
    count = int(value) if value.isascii() and value.isdigit() and len(value) < 4 else START_ROWS
    return min(max(count, 1), MAX_FORM_ROWS)


def _aware(value: str | None, timezone: str) -> str | None:
    """A `datetime-local` value read in the chain's timezone, as ISO 8601 with offset."""
    if value is None:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema names the field and says why
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(timezone))
    return local.isoformat()


@blp.route("/chains/<id:cid>/notices/new", methods=["GET", "POST"])
@login_required
def notice_compose(cid: int | None):
    """Compose a supply or demand notice with items and an audience (tiers, groups, orgs)."""
    access = chain(cid, app=notices.APP)
    form = posted_form()
    rows = _row_count(form)
    if request.method != "POST" or form.get("action") == "more_rows":
        rows = min(rows + (0 if request.method != "POST" else START_ROWS), MAX_FORM_ROWS)
        return _render_compose(access, form, FormErrors(), rows)
    filled = filled_rows(form, "items", ITEM_FIELDS, MAX_ITEMS)
    positions = [index for index, _ in filled]
    audience = {
        "all": form.get("audience_all") == "1",
        "tiers": form.getlist("tiers"),
        "groups": form.getlist("groups"),
        "orgs": [value for value in form.getlist("orgs") if value],
    }
    body = compact(
        {
            "kind": text(form, "kind"),
            "title": text(form, "title"),
            "body": form.get("body", ""),
            "items": [compact(values) for _, values in filled],
            "audience": audience,
            "requires_ack": form.get("requires_ack") == "1",
            "ack_due": _aware(text(form, "ack_due"), access.chain.timezone),
        }
    )

    def rerender(exc):
        return _render_compose(access, form, remap_rows(exc, "items", positions), rows)

    # Addressing orgs one may not (403) is shown on the form too.
    with on_form_error(rerender, (Invalid, Conflict, Forbidden)):
        loaded = validated(NoticeCreateSchema, body)
        sent = notices.broadcast_notice(db.session, access, **loaded)
    return flash_and_redirect(
        gettext("Sent to %(count)s recipients.", count=sent.recipients_count),
        "ui.notice_recipients",
        cid=cid,
        nid=sent.id,
    )
