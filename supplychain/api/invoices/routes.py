"""Supplier invoices (开票): record (or make from the confirmed statement), list, read with the
three-way match, approve or reject; the chain's matching settings."""

from __future__ import annotations

from collections.abc import Callable

import marshmallow as ma
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.extensions import db
from supplychain.schemas import invoices as s
from supplychain.services import invoice_drafts as drafts
from supplychain.services import invoices

blp = authenticated_blueprint(
    "invoices", __name__, url_prefix="/chains", description="Supplier invoices and matching"
)
BLUEPRINTS = (blp,)


def _head(body: dict) -> drafts.NewInvoice:
    return drafts.NewInvoice(
        number=body["number"],
        kind=body["kind"],
        issue_date=body["issue_date"],
        currency=body.get("currency"),
    )


def _answer(access, draft, dry_run: bool):
    if dry_run:
        return invoices.preview(db.session, access, draft).as_dict(), 200
    return invoices.record_invoice(db.session, access, draft).as_dict(), 201


def _records_invoice(body_schema: type[ma.Schema]) -> Callable:
    """A view that records an invoice: `dry_run` read from the query string and the body by
    `body_schema`; answered 201 with the invoice and its match, or 200 for a dry run (nothing
    recorded); `Idempotency-Key` honoured."""

    def decorate(view: Callable) -> Callable:
        view = blp.alt_response(
            200, schema=s.InvoiceSchema, description="dry run: nothing recorded"
        )(view)
        view = blp.response(201, s.InvoiceSchema)(view)
        view = blp.arguments(body_schema)(view)
        view = blp.arguments(s.DryRunQuerySchema, location="query")(view)
        return idempotent(view)

    return decorate


@blp.route("/<id:cid>/invoices")
class Invoices(MethodView):
    @blp.paged(s.InvoiceQuerySchema, s.InvoicePageSchema)
    def get(self, query, cid):
        """Invoices the caller's org sent (`box=outgoing`) or received (`incoming`); the owner
        sees all of its chain's. Each with its lines and its match as it reads now (computed for
        the whole page at once); newest first."""
        page = invoices.invoices_page(db.session, access_to(cid), **query)
        page.items = [view.as_dict() for view in page.items]
        return page.envelope()

    @_records_invoice(s.InvoiceCreateSchema)
    def post(self, query, body, cid):
        """The seller records an invoice against its order lines with this buyer (net, tax and
        gross computed to the cent, half up); `statement_period` ties it to the confirmed
        statement (409 if not confirmed). Answers with the match; `dry_run` records nothing."""
        access = access_to(cid)
        lines = [drafts.NewInvoiceLine(**line) for line in body["lines"]]
        draft = drafts.draft_invoice(db.session, access, body["buyer_id"], _head(body), lines)
        if body["statement_period"]:
            drafts.tie_to_statement(db.session, access, draft, body["statement_period"])
        return _answer(access, draft, query["dry_run"])


@blp.route("/<id:cid>/invoices/from-statement")
class InvoiceFromStatement(MethodView):
    @_records_invoice(s.FromStatementSchema)
    def post(self, query, body, cid):
        """An invoice made from the seller's confirmed statement of the period: each received,
        not yet invoiced line at received qty x confirmed price, at `tax_rate` or the chain's
        default; tied to the confirmed version. 409 if the statement is not confirmed."""
        access = access_to(cid)
        draft = drafts.draft_from_statement(
            db.session, access, body["period"], _head(body), body["tax_rate"], body["buyer_id"]
        )
        return _answer(access, draft, query["dry_run"])


@blp.route("/<id:cid>/invoices/<id:iid>")
class InvoiceItem(MethodView):
    @blp.response(200, s.InvoiceSchema)
    def get(self, cid, iid):
        """One invoice with its lines and its match now (its two parties and the owner)."""
        return invoices.get_invoice(db.session, access_to(cid), iid).as_dict()


@blp.route("/<id:cid>/invoices/<id:iid>/approve")
class InvoiceApprove(MethodView):
    @blp.changes(s.ApproveSchema, s.InvoiceSchema)
    def post(self, body, cid, iid):
        """The buyer's admins approve: a matched invoice as is, one with exceptions only with
        `accept_exceptions` and a note (409 / 422 otherwise)."""
        view = invoices.approve_invoice(
            db.session, access_to(cid), iid, body["note"], body["accept_exceptions"]
        )
        return view.as_dict()


@blp.route("/<id:cid>/invoices/<id:iid>/reject")
class InvoiceReject(MethodView):
    @blp.changes(s.RejectSchema, s.InvoiceSchema)
    def post(self, body, cid, iid):
        """The buyer's admins send the invoice back with a note; its lines are free again."""
        view = invoices.reject_invoice(db.session, access_to(cid), iid, body["note"])
        return view.as_dict()


@blp.route("/<id:cid>/invoice-settings")
class InvoiceSettings(MethodView):
    @blp.response(200, s.SettingsOutSchema)
    def get(self, cid):
        """The chain's price tolerance (percent), amount tolerance and default tax rate."""
        return drafts.get_settings(db.session, access_to(cid)).__dict__

    @blp.changes(s.SettingsSchema, s.SettingsOutSchema)
    def put(self, body, cid):
        """The chain owner's admins set them (defaults: 0 %, 0.00, 0.13)."""
        return drafts.put_settings(
            db.session,
            access_to(cid),
            body["price_tolerance_pct"],
            body["amount_tolerance"],
            body["default_tax_rate"],
        ).__dict__
