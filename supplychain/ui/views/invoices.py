"""Supplier invoices (开票) as pages: the seller makes one from its confirmed statement and sees
its match before submitting; the buyer's queue (invoices received, their exceptions), the
invoice page with the approve and reject forms (a note; exceptions accepted only with one)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.models.invoices import INVOICE_KINDS, INVOICE_STATUSES
from supplychain.schemas.common import parse_id
from supplychain.schemas.invoices import ApproveSchema, FromStatementSchema, RejectSchema
from supplychain.services import invoice_drafts, invoices
from supplychain.ui.base import blp, chain, choice, flash_and_redirect, login_required, page_number
from supplychain.ui.forms import (
    NO_ERRORS,
    FormErrors,
    compact,
    on_form_error,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 25
BOXES = ("incoming", "outgoing")


@blp.get("/chains/<id:cid>/invoices")
@login_required
def invoice_list(cid: int | None):
    """Invoices received (the buyer's queue: submitted ones first asked) or sent; the owner
    may see all of its chain's."""
    access = chain(cid)
    box = choice("box", BOXES) or ("all" if request.args.get("box") == "all" else "incoming")
    status = choice("status", INVOICE_STATUSES)
    if "status" not in request.args and box == "incoming":
        status = "submitted"
    found = invoices.invoices_page(
        db.session,
        access,
        box=None if box == "all" else box,
        status=status,
        period=None,
        page=page_number(),
        page_size=PAGE_SIZE,
    )
    return render_template(
        "invoices/list.html",
        access=access,
        page=found,
        box=box,
        status=status,
        statuses=INVOICE_STATUSES,
    )


def _render_invoice(
    access: ChainAccess,
    view: Any,
    failed: str | None = None,
    errors: FormErrors = NO_ERRORS,
    form: MultiDict | None = None,
    **preview: Any,
):
    """An invoice's page; a preview (`view.invoice` None: nothing recorded) passes its form and
    the `kinds` and `buyer_id` of the from-statement form."""
    invoice = view.invoice
    deciding = (
        invoice is not None
        and invoice.status == "submitted"
        and access.actor.org_id == invoice.buyer_id
        and access.actor.is_admin
    )
    if form is None:
        form = request.form if failed else MultiDict()
    return render_template(
        "invoices/detail.html",
        access=access,
        view=view,
        head=view.as_dict(),
        deciding=deciding,
        failed=failed,
        form=form,
        errors=errors,
        **preview,
    )


@blp.get("/chains/<id:cid>/invoices/<id:iid>")
@login_required
def invoice(cid: int | None, iid: int | None):
    """One invoice: its lines, its match now, and for the buyer's admins the decision forms."""
    access = chain(cid)
    return _render_invoice(access, invoices.get_invoice(db.session, access, iid))


def _decide(cid: int | None, iid: int | None, which: str, schema: Any, body: dict[str, Any]):
    access = chain(cid)
    invoice_id = iid

    def rerender(exc):
        view = invoices.get_invoice(db.session, access, invoice_id)
        return _render_invoice(access, view, which, FormErrors.of(exc))

    with on_form_error(rerender):
        loaded = validated(schema, compact(body))
        if which == "approve":
            invoices.approve_invoice(
                db.session, access, invoice_id, loaded["note"], loaded["accept_exceptions"]
            )
        else:
            invoices.reject_invoice(db.session, access, invoice_id, loaded["note"])
    return flash_and_redirect(
        gettext("Invoice approved.") if which == "approve" else gettext("Invoice rejected."),
        "ui.invoice",
        cid=cid,
        iid=iid,
    )


@blp.post("/chains/<id:cid>/invoices/<id:iid>/approve")
@login_required
def invoice_approve(cid: int | None, iid: int | None):
    """The buyer's admin approves; with exceptions only ticking "accept" and giving a note."""
    form = request.form
    body = {"note": text(form, "note"), "accept_exceptions": form.get("accept_exceptions") == "1"}
    return _decide(cid, iid, "approve", ApproveSchema, body)


@blp.post("/chains/<id:cid>/invoices/<id:iid>/reject")
@login_required
def invoice_reject(cid: int | None, iid: int | None):
    """The buyer's admin sends the invoice back with a note; its lines are free again."""
    return _decide(cid, iid, "reject", RejectSchema, {"note": text(request.form, "note")})


def _statement_form(form: MultiDict) -> tuple[dict[str, Any], int | None]:
    body = compact(
        {
            "period": text(form, "period"),
            "number": text(form, "number"),
            "kind": text(form, "kind"),
            "issue_date": text(form, "issue_date"),
            "tax_rate": text(form, "tax_rate"),
        }
    )
    return body, parse_id(form.get("buyer_id", ""))


@blp.post("/chains/<id:cid>/invoices/from-statement")
@transaction(Transaction.WRITES)
@login_required
def invoice_from_statement(cid: int | None):
    """From the confirmed statement page: `preview` shows the invoice with its match, nothing
    saved; `submit` records it and opens its page. Errors show on the preview page."""
    access = chain(cid)
    body, buyer_id = _statement_form(request.form)
    submitting = request.form.get("submit") == "1"

    def rerender(exc):
        return render_template(
            "invoices/detail.html",
            access=access,
            view=None,
            head=None,
            deciding=False,
            failed="draft",
            form=request.form,
            errors=FormErrors.of(exc),
            kinds=INVOICE_KINDS,
        )

    with on_form_error(rerender):
        loaded = validated(FromStatementSchema, body)
        head = invoice_drafts.NewInvoice(loaded["number"], loaded["kind"], loaded["issue_date"])
        draft = invoice_drafts.draft_from_statement(
            db.session, access, loaded["period"], head, loaded["tax_rate"], buyer_id
        )
        if submitting:
            view = invoices.record_invoice(db.session, access, draft)
        else:
            view = invoices.preview(db.session, access, draft)
    if submitting:
        return flash_and_redirect(
            gettext("Invoice submitted."), "ui.invoice", cid=cid, iid=view.invoice.id
        )
    return _render_invoice(access, view, form=request.form, kinds=INVOICE_KINDS, buyer_id=buyer_id)
