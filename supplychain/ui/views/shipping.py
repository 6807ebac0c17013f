"""Ship notices (送货单): the list, a new notice picked from the "to ship" lines of several orders
of one buyer, the notice page with its labels and delivery note, and the buyer's receiving page
that takes keyboard-wedge scans one after another (a plain form: no JavaScript needed)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.documents import pdf
from supplychain.errors import DomainError, Invalid
from supplychain.extensions import db
from supplychain.models.shipping import NOTICE_STATUSES, PACKAGE_KINDS
from supplychain.schemas.common import format_decimal, parse_id
from supplychain.schemas.shipping import (
    LabelsQuerySchema,
    ShipNoticeCancelSchema,
    ShipNoticeCreateSchema,
)
from supplychain.services import shipping, shipping_cancel, shipping_issue, shipping_receipts
from supplychain.ui.base import (
    actor,
    blp,
    chain,
    choice,
    flash_and_redirect,
    login_required,
    page_number,
)
from supplychain.ui.forms import (
    FormErrors,
    compact,
    integer,
    nothing_chosen,
    on_form_error,
    posted_form,
    quantity_rows,
    remap_rows,
    text,
    validated,
)
from supplychain.ui.i18n import current_language, error_text, gettext

PAGE_SIZE = 25
MAX_PACKAGES_FORM = 200
# The receiving page's list of latest scans lives in the (cookie) session: kept small.
SCANS_KEPT = 8
LINES_SHOWN = 3


@blp.get("/chains/<id:cid>/ship-notices")
@login_required
def ship_notices(cid: int | None):
    """Notices from the org (outgoing) and to it (incoming)."""
    access = chain(cid)
    box = choice("box", ("incoming", "outgoing"))
    status = choice("status", NOTICE_STATUSES)
    found = shipping.notices_page(
        db.session,
        access,
        box=box,
        status=status,
        order_id=None,
        page=page_number(),
        page_size=PAGE_SIZE,
    )
    return render_template(
        "shipping/list.html",
        access=access,
        page=found,
        box=box,
        status=status,
        statuses=NOTICE_STATUSES,
        buyers=shipping.buyers_to_ship(db.session, access),
    )


# --- a new notice ---------------------------------------------------------------------------------


def _render_new(access: ChainAccess, buyer: int | None, form: MultiDict, errors: FormErrors):
    lines = shipping.shippable_lines(db.session, access, buyer) if buyer else []
    return render_template(
        "shipping/new.html",
        access=access,
        buyers=shipping.buyers_to_ship(db.session, access),
        buyer=buyer,
        lines=lines,
        kinds=PACKAGE_KINDS,
        form=form,
        errors=errors,
        max_packages=MAX_PACKAGES_FORM,
    )


def _package_count(form: MultiDict) -> int | str:
    raw = text(form, "packages") or "0"
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_PACKAGES_FORM:
        raise Invalid(
            "Check the highlighted fields.",
            {"packages": [f"A number from 0 to {MAX_PACKAGES_FORM}."]},
        )
    return int(raw)


@blp.route("/chains/<id:cid>/ship-notices/new", methods=["GET", "POST"])
@login_required
def ship_notice_new(cid: int | None):
    """Pick lines of the buyer's orders to ship, say in how many packages, issue the notice."""
    access = chain(cid, app=shipping.APP)
    form = posted_form()
    buyer = parse_id(form.get("buyer") or request.args.get("buyer") or "")
    if request.method != "POST":
        return _render_new(access, buyer, form, FormErrors())
    filled = quantity_rows(
        form, "lines", ("order_id", "line_no", "qty", "package"), shipping.MAX_LINES
    )
    positions = [index for index, _ in filled]

    def rerender(exc):
        return _render_new(access, buyer, form, remap_rows(exc, "lines", positions))

    with on_form_error(rerender):
        count = _package_count(form)
        kind = text(form, "package_kind") or "carton"
        carrier = text(form, "carrier")
        body = compact(
            {
                "buyer_id": buyer,
                "carrier": compact({"name": carrier, "code": text(form, "carrier_code")})
                if carrier
                else None,
                "tracking_numbers": [t for t in (text(form, "tracking") or "").split() if t],
                "packages": [{"ref": str(n), "kind": kind} for n in range(1, count + 1)],
                "lines": [
                    compact(values | {"line_no": integer(form, f"lines-{index}-line_no")})
                    for index, values in filled
                ],
            }
        )
        if not filled:
            raise nothing_chosen("lines", gettext("Give a quantity for at least one line."))
        loaded = validated(ShipNoticeCreateSchema, body)
        notice = shipping_issue.issue_notice(db.session, access, **loaded)
    return flash_and_redirect(
        gettext("Ship notice %(number)s issued.", number=notice.number),
        "ui.ship_notice",
        cid=cid,
        sid=notice.id,
    )


# --- one notice -----------------------------------------------------------------------------------


# A notice of more labels than this offers them in parts too, each part well within a worker's
# time on a busy machine (2 000 labels of maximum-length texts take ~100 s of CPU).
LABELS_PER_PART = 500
BAD_NUMBERS = "Package numbers `from` and `to` are whole numbers from 1 to the number of packages."


def label_parts(count: int) -> list[tuple[int, int]]:
    """(first, last) package numbers of each part of `count` labels printed in parts."""
    return [
        (first, min(first + LABELS_PER_PART - 1, count))
        for first in range(1, count + 1, LABELS_PER_PART)
    ]


def _render_notice(access: ChainAccess, sid: int | None, errors: FormErrors | None = None):
    view = shipping.get_notice(db.session, access, sid)
    me = access.actor.org_id
    notice = view.notice
    return render_template(
        "shipping/detail.html",
        access=access,
        label_parts=label_parts,
        view=view,
        notice=notice,
        may_cancel=notice.seller_id == me and notice.status == "issued",
        may_receive=notice.buyer_id == me and notice.status in ("issued", "partially_received"),
        errors=errors or FormErrors(),
    )


@blp.get("/chains/<id:cid>/ship-notices/<id:sid>")
@login_required
def ship_notice(cid: int | None, sid: int | None):
    """A notice: parties, packages with their SSCCs, lines, its documents and what may be done."""
    return _render_notice(chain(cid), sid)


@blp.post("/chains/<id:cid>/ship-notices/<id:sid>/cancel")
@login_required
def ship_notice_cancel(cid: int | None, sid: int | None):
    """The seller cancels the notice before any receipt."""
    access = chain(cid)
    with on_form_error(lambda exc: _render_notice(access, sid, FormErrors.of(exc))):
        loaded = validated(
            ShipNoticeCancelSchema, compact({"reason": text(request.form, "reason")})
        )
        shipping_cancel.cancel_notice(db.session, access, sid, loaded["reason"])
    return flash_and_redirect(
        gettext("The ship notice was cancelled."), "ui.ship_notice", cid=cid, sid=sid
    )


@blp.get("/chains/<id:cid>/ship-notices/<id:sid>/labels.pdf")
@login_required
def ship_notice_labels(cid: int | None, sid: int | None):
    """The labels to print, one 100 × 150 mm page per package; `?from=N&to=M` (package
    numbers) prints those only, as the API does."""
    access = chain(cid)
    view = shipping.get_notice(db.session, access, sid)
    try:
        query = validated(LabelsQuerySchema, request.args.to_dict())
    except Invalid as exc:
        raise Invalid(BAD_NUMBERS, exc.errors) from exc
    chosen = shipping.label_packages(view, query.get("first"), query.get("last"))
    data = pdf.labels_pdf(view, access.chain.timezone, chosen)
    return pdf.inline_response(data, "labels", view.notice)


@blp.get("/chains/<id:cid>/ship-notices/<id:sid>/delivery-note.pdf")
@login_required
def ship_notice_note(cid: int | None, sid: int | None):
    """The A4 delivery note (送货单) in the page's language, or `?lang=`."""
    access = chain(cid)
    view = shipping.get_notice(db.session, access, sid)
    lang = choice("lang", ("zh", "en")) or current_language()
    data = pdf.delivery_note_pdf(view, lang, access.chain.timezone)
    return pdf.inline_response(data, "delivery-note", view.notice)


# --- receiving by scan ----------------------------------------------------------------------------


def _scans_key(access: ChainAccess) -> str:
    return f"scans-{access.chain_id}"


@blp.route("/chains/<id:cid>/receive", methods=["GET", "POST"])
@login_required
def receive_scan(cid: int | None):
    """One input for a keyboard-wedge scanner: each scan (digits then Enter) posts the form,
    receives that package and comes back here, which lists what the latest scans did."""
    access = chain(cid, app=shipping.APP)
    key = _scans_key(access)
    if request.method == "POST":
        code = request.form.get("code", "")
        entry: dict[str, Any] = {"code": code.strip()[:40]}
        try:
            result = shipping_receipts.scan_receipt(db.session, access, code[:200])
        except DomainError as exc:
            db.session.rollback()
            messages = (exc.errors or {}).get("code") or (exc.errors or {}).get("packages")
            detail = messages[0] if isinstance(messages, list) and messages else None
            if isinstance(detail, list):
                detail = detail[0] if detail else None
            entry |= {"ok": False, "message": error_text(detail or exc.message)}
        else:
            by_seq = {
                line.line.seq: line
                for line in shipping.notice_view(db.session, result.notice).lines
            }
            entry |= {
                "ok": True,
                "notice": result.notice.number,
                "notice_id": str(result.notice.id),
                "status": result.notice.status,
                "packages": [p["sscc"] or f"PKG-{p['id']}" for p in result.packages][:2],
                "lines": [
                    {
                        "order": by_seq[line["seq"]].order_number,
                        "line_no": line["line_no"],
                        "sku": by_seq[line["seq"]].sku,
                        "unit": by_seq[line["seq"]].unit or "",
                        "qty": format_decimal(line["qty"]),
                    }
                    for line in result.lines[:LINES_SHOWN]
                ],
                "more_lines": max(len(result.lines) - LINES_SHOWN, 0),
            }
        session[key] = [entry, *session.get(key, [])][:SCANS_KEPT]
        return redirect(url_for("ui.receive_scan", cid=cid))
    return render_template(
        "shipping/receive.html", access=access, scans=session.get(key, []), me=actor()
    )


@blp.post("/chains/<id:cid>/receive/clear")
@login_required
def receive_scan_clear(cid: int | None):
    """Forget the list of scans shown on the receiving page."""
    access = chain(cid)
    session.pop(_scans_key(access), None)
    return redirect(url_for("ui.receive_scan", cid=cid))
