"""Orders: list, the order page with acknowledgment, shipment and receipt forms, new orders."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.extensions import db
from supplychain.models.orders import ORDER_STATUSES
from supplychain.schemas.orders import (
    CancelInSchema,
    OrderAckInSchema,
    OrderCreateSchema,
    ReceiptInSchema,
    ShipmentInSchema,
)
from supplychain.services import choices, order_acks, orders, shipments, worklist
from supplychain.services.orders import MAX_LINES
from supplychain.ui.base import blp, chain, choice, flash_and_redirect, login_required, page_number
from supplychain.ui.forms import (
    MAX_FORM_ROWS,
    FormErrors,
    compact,
    filled_rows,
    integer,
    nothing_chosen,
    on_form_error,
    posted_form,
    quantity_rows,
    remap_rows,
    rows,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 25
ACK_FIELDS = ("status", "qty", "unit_price", "promised_date", "reason")
NEW_LINE_FIELDS = ("sku", "description", "qty", "unit", "unit_price", "requested_date")
START_ROWS = 3


@blp.get("/chains/<id:cid>/orders")
@login_required
def order_list(cid: int | None):
    """Orders of the user's org (all of the chain's for the owner) by status, or what waits."""
    access = chain(cid)
    status = choice("status", ORDER_STATUSES)
    waiting = choice("waiting", worklist.WAITING_KINDS)
    if waiting:
        found = worklist.awaiting_page(db.session, access, waiting, page_number(), PAGE_SIZE)
        found.items = [{"order": o, "line_count": None, "amount": None} for o in found.items]
    else:
        found = orders.orders_page(
            db.session,
            access,
            status=status,
            counterparty_id=None,
            date_from=None,
            date_to=None,
            page=page_number(),
            page_size=PAGE_SIZE,
        )
    ids = {item["order"].buyer_id for item in found.items}
    ids |= {item["order"].seller_id for item in found.items}
    return render_template(
        "orders/list.html",
        access=access,
        page=found,
        status=status,
        waiting=waiting,
        statuses=ORDER_STATUSES,
        names=choices.org_names(db.session, ids),
    )


def _render_order(
    access: ChainAccess,
    oid: int | None,
    failed: str | None = None,
    errors: FormErrors | None = None,
):
    view = orders.get_order(db.session, access, oid)
    order = view.order
    forms = order.actions_for(access.actor.org_id, view.lines)
    names = choices.org_names(
        db.session,
        {order.buyer_id, order.seller_id, *(event.org_id for event in view.history)},
    )
    no = FormErrors()
    return render_template(
        "orders/detail.html",
        access=access,
        view=view,
        order=order,
        names=names,
        forms=forms,
        failed=failed,
        form=request.form if failed else MultiDict(),
        ack_errors=errors if failed == "ack" else no,
        ship_errors=errors if failed == "ship" else no,
        receive_errors=errors if failed == "receive" else no,
        cancel_errors=errors if failed == "cancel" else no,
    )


@blp.get("/chains/<id:cid>/orders/<id:oid>")
@login_required
def order(cid: int | None, oid: int | None):
    """An order with both sides' figures per line, X12 codes, history and the forms that apply."""
    return _render_order(chain(cid), oid)


def _failed(access: ChainAccess, oid: int | None, which: str, positions: list[int] | None = None):
    """The order page again with the errors of form `which` (lines keyed by the form's rows)."""

    def rerender(exc):
        errors = (
            remap_rows(exc, "lines", positions) if positions is not None else FormErrors.of(exc)
        )
        return _render_order(access, oid, which, errors)

    return rerender


@blp.post("/chains/<id:cid>/orders/<id:oid>/ack")
@login_required
def order_ack(cid: int | None, oid: int | None):
    """Accept all, reject all, or answer line by line (accept, reject, change, backorder)."""
    access = chain(cid)
    form = request.form
    decision = form.get("decision", "lines")
    body: dict[str, Any] = {
        "version": integer(form, "version"),
        "decision": decision,
        "reason": text(form, "reason"),
    }
    positions = rows(form, "lines", MAX_LINES)
    if decision == "lines":
        body["lines"] = [
            compact(
                {
                    "line_no": integer(form, f"lines-{i}-line_no"),
                    **{name: text(form, f"lines-{i}-{name}") for name in ACK_FIELDS},
                }
            )
            for i in positions
        ]
    with on_form_error(_failed(access, oid, "ack", positions)):
        loaded = validated(OrderAckInSchema, compact(body))
        order_acks.acknowledge_order(
            db.session,
            access,
            oid,
            version=loaded["version"],
            decision=loaded["decision"],
            reason=loaded["reason"],
            lines=[order_acks.LineAck(**line) for line in loaded["lines"] or []] or None,
        )
    return flash_and_redirect(
        gettext("Your acknowledgment was recorded."), "ui.order", cid=cid, oid=oid
    )


def _movement(cid: int | None, oid: int | None, which: str):
    access = chain(cid)
    form = request.form
    filled = quantity_rows(form, which, ("line_no", "qty"), MAX_LINES)
    positions = [index for index, _ in filled]
    moves = [
        {"line_no": integer(form, f"{which}-{index}-line_no"), "qty": values["qty"]}
        for index, values in filled
    ]
    body = compact({"lines": moves, "ref": text(form, "ref")})
    with on_form_error(_failed(access, oid, which, positions)):
        if not moves:
            raise nothing_chosen("lines", gettext("Give a quantity for at least one line."))
        schema, record = (
            (ShipmentInSchema, shipments.record_shipment)
            if which == "ship"
            else (ReceiptInSchema, shipments.record_receipt)
        )
        loaded = validated(schema, body)
        record(
            db.session,
            access,
            oid,
            [shipments.Movement(**line) for line in loaded["lines"]],
            loaded["ref"],
            None,
        )
    return flash_and_redirect(
        gettext("Shipment recorded.") if which == "ship" else gettext("Receipt recorded."),
        "ui.order",
        cid=cid,
        oid=oid,
    )


@blp.post("/chains/<id:cid>/orders/<id:oid>/ship")
@login_required
def order_ship(cid: int | None, oid: int | None):
    """The seller records a shipment of confirmed lines."""
    return _movement(cid, oid, "ship")


@blp.post("/chains/<id:cid>/orders/<id:oid>/receive")
@login_required
def order_receive(cid: int | None, oid: int | None):
    """The buyer records goods received."""
    return _movement(cid, oid, "receive")


@blp.post("/chains/<id:cid>/orders/<id:oid>/cancel")
@login_required
def order_cancel(cid: int | None, oid: int | None):
    """The issuer cancels the order before anything ships."""
    access = chain(cid)
    body = compact(
        {
            "reason": text(request.form, "reason"),
            "version": integer(request.form, "version"),
        }
    )
    with on_form_error(_failed(access, oid, "cancel")):
        loaded = validated(CancelInSchema, body)
        orders.cancel_order(db.session, access, oid, loaded["reason"], loaded["version"])
    return flash_and_redirect(gettext("The order was cancelled."), "ui.order", cid=cid, oid=oid)


# --- new order --------------------------------------------------------------------------------


def _render_new(access: ChainAccess, form: MultiDict, errors: FormErrors, count: int):
    return render_template(
        "orders/new.html",
        access=access,
        form=form,
        errors=errors,
        rows=count,
        linked=choices.linked_orgs(db.session, access),
    )


@blp.route("/chains/<id:cid>/orders/new", methods=["GET", "POST"])
@login_required
def order_new(cid: int | None):
    """Issue an order to a linked org: buy from a supplier or sell to a customer."""
    access = chain(cid, app=orders.APP)
    form = posted_form()
    raw = form.get("rows", "")
    count = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 5 else START_ROWS
    count = min(max(count, 1), MAX_FORM_ROWS)
    if request.method != "POST" or form.get("action") == "more_rows":
        count = min(count + (0 if request.method != "POST" else START_ROWS), MAX_FORM_ROWS)
        return _render_new(access, form, FormErrors(), count)
    role, _, counterparty = (text(form, "counterparty") or "").partition(":")
    filled = filled_rows(form, "lines", NEW_LINE_FIELDS, MAX_LINES)
    positions = [index for index, _ in filled]
    body = compact(
        {
            "counterparty_id": counterparty or None,
            "issuer_role": role or None,
            "number": text(form, "number"),
            "currency": text(form, "currency"),
            "lines": [
                {"line_no": n + 1, **compact(values)} for n, (_, values) in enumerate(filled)
            ],
        }
    )

    def rerender(exc):
        errors = remap_rows(exc, "lines", positions)
        if errors.has("issuer_role") or errors.has("counterparty_id"):
            errors.tree.setdefault("counterparty", [])
            for key in ("issuer_role", "counterparty_id"):
                errors.tree["counterparty"] += errors.at(key)
        return _render_new(access, form, errors, count)

    with on_form_error(rerender):
        loaded = validated(OrderCreateSchema, body)
        issued = orders.issue_order(db.session, access, **loaded)
    return flash_and_redirect(
        gettext("Order %(number)s issued.", number=issued.number),
        "ui.order",
        cid=cid,
        oid=issued.id,
    )
