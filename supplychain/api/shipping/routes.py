"""Ship notices (送货单, ASN): issue, list, read, cancel, receive (by package, line or scan),
their labels and delivery note as PDF; the org's GS1 company prefix."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.auth import current_actor
from supplychain.documents import pdf
from supplychain.extensions import db
from supplychain.schemas import shipping as s
from supplychain.services import shipping, shipping_cancel, shipping_issue, shipping_receipts

blp = authenticated_blueprint(
    "shipping", __name__, url_prefix="/chains", description="Ship notices (送货单, ASN)"
)
org_blp = authenticated_blueprint(
    "my_org", __name__, url_prefix="/me", description="The caller's org: shipping settings"
)
BLUEPRINTS = (blp, org_blp)
PDF_RESPONSE = {
    "200": {"description": "A PDF", "content": {"application/pdf": {"schema": {"type": "string"}}}}
}


def _received(result: shipping_receipts.Received) -> shipping.NoticeView:
    view = shipping.notice_view(db.session, result.notice)
    view.received = {"packages": result.packages, "lines": result.lines}
    return view


@blp.route("/<id:cid>/ship-notices")
class ShipNotices(MethodView):
    @blp.paged(s.ShipNoticeQuerySchema, s.ShipNoticePageSchema)
    def get(self, query, cid):
        """Notices to and from the caller's org (all of the chain's for the owner), newest first."""
        return shipping.notices_page(db.session, access_to(cid), **query).envelope()

    @blp.creates(s.ShipNoticeCreateSchema, s.ShipNoticeSchema)
    def post(self, body, cid):
        """The seller issues a notice over lines of its orders with one buyer: the shipment.

        Each line's quantity, summed over the notice per order line, must fit the line's
        shippable quantity (409 naming `lines.<i>`; nothing saved). Packages get SSCCs from
        the seller's GS1 company prefix (none without one); a supplied `sscc` must carry a good
        check digit (422) and be new for the seller (409)."""
        notice = shipping_issue.issue_notice(db.session, access_to(cid), **body)
        return shipping.notice_view(db.session, notice)


@blp.route("/<id:cid>/ship-notices/<id:sid>")
class ShipNoticeItem(MethodView):
    @blp.response(200, s.ShipNoticeSchema)
    def get(self, cid, sid):
        """One notice with packages and lines (its two parties and the chain owner)."""
        return shipping.get_notice(db.session, access_to(cid), sid)


@blp.route("/<id:cid>/ship-notices/<id:sid>/cancel")
class ShipNoticeCancel(MethodView):
    @idempotent
    @blp.changes(s.ShipNoticeCancelSchema, s.ShipNoticeSchema)
    def post(self, body, cid, sid):
        """The seller cancels a notice before any receipt (409 after): quantities given back."""
        notice = shipping_cancel.cancel_notice(db.session, access_to(cid), sid, body["reason"])
        return shipping.notice_view(db.session, notice)


@blp.route("/<id:cid>/ship-notices/<id:sid>/receipts")
class ShipNoticeReceipts(MethodView):
    @blp.creates(s.ShipNoticeReceiptSchema, s.ReceiptResultSchema)
    def post(self, body, cid, sid):
        """The buyer receives whole packages (SSCC or package id) and lines in part; never past
        what was shipped; a package received twice is 409."""
        result = shipping_receipts.receive_notice(
            db.session,
            access_to(cid),
            sid,
            packages=body["packages"],
            lines=[shipping_receipts.LineReceipt(**line) for line in body["lines"]],
            received_at=body["received_at"],
        )
        return _received(result)


@blp.route("/<id:cid>/receipts/scan")
class ScanReceipt(MethodView):
    @blp.changes(s.ScanInSchema, s.ReceiptResultSchema)
    def post(self, body, cid):
        """Receive the package a scanned label names (`00`+SSCC, `(00)`, `]C1`/FNC1 prefixed,
        bare SSCC or package id): 422 for a bad check digit or an unknown code, 409 if it was
        received already."""
        result = shipping_receipts.scan_receipt(
            db.session, access_to(cid), body["code"], body["received_at"]
        )
        return _received(result)


@blp.route("/<id:cid>/ship-notices/<id:sid>/labels.pdf")
class ShipNoticeLabels(MethodView):
    @blp.arguments(s.LabelsQuerySchema, location="query")
    @blp.doc(responses=PDF_RESPONSE)
    def get(self, query, cid, sid):
        """One 100 × 150 mm label per package: GS1-128 of (00)+SSCC (Code 128 of the package id
        without one), ship-from, ship-to, order numbers, carrier, package n of N.

        To reprint some labels (a damaged one: `?from=7&to=7`), or to print a big shipment in
        parts, `from` and `to` choose the packages numbered `from` to `to` (both included, 1 to
        N; `from` alone runs to N, `to` alone starts at 1): those pages only, each still saying
        n of N. A number past N, or `from` after `to`, is a 422 naming it."""
        access = access_to(cid)
        view = shipping.get_notice(db.session, access, sid)
        chosen = shipping.label_packages(view, query.get("first"), query.get("last"))
        data = pdf.labels_pdf(view, access.chain.timezone, chosen)
        return pdf.inline_response(data, "labels", view.notice)


@blp.route("/<id:cid>/ship-notices/<id:sid>/delivery-note.pdf")
class ShipNoticeDeliveryNote(MethodView):
    @blp.arguments(s.DocumentQuerySchema, location="query")
    @blp.doc(responses=PDF_RESPONSE)
    def get(self, query, cid, sid):
        """The A4 送货单: parties, the number as Code 128 and QR, one row per line, package
        count, boxes to sign; `lang` zh or en (default: the caller's language)."""
        access = access_to(cid)
        view = shipping.get_notice(db.session, access, sid)
        lang = query.get("lang") or current_actor().user.language or "zh"
        data = pdf.delivery_note_pdf(view, lang, access.chain.timezone)
        return pdf.inline_response(data, "delivery-note", view.notice)


@org_blp.route("/org")
class MyOrg(MethodView):
    @org_blp.response(200, s.OrgShippingSchema)
    def get(self):
        """The caller's org: name, GS1 company prefix, address."""
        return current_actor().user.org

    @org_blp.changes(s.OrgShippingInSchema, s.OrgShippingSchema)
    def patch(self, body):
        """An admin sets the org's GS1 company prefix (7 to 10 digits, null to clear) and the
        address its labels and delivery notes show."""
        return shipping.set_org_shipping(db.session, current_actor(), body)
