"""Orders: issue, list, acknowledge, amend, cancel, ship, receive."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.extensions import db
from supplychain.schemas import orders as s
from supplychain.services import order_acks, orders, shipments

blp = authenticated_blueprint("orders", __name__, url_prefix="/chains", description="Orders")
BLUEPRINTS = (blp,)


def _lines(items: list[dict]) -> list[orders.NewLine]:
    return [orders.NewLine(**item) for item in items]


def _moves(items: list[dict]) -> list[shipments.Movement]:
    return [shipments.Movement(**item) for item in items]


@blp.route("/<id:cid>/orders")
class Orders(MethodView):
    @blp.arguments(s.OrderQuerySchema, location="query")
    @blp.response(200, s.OrderPageSchema)
    def get(self, query, cid):
        """Orders of the caller's org (all of the chain's for the owner), newest first."""
        return orders.orders_page(
            db.session,
            access_to(cid),
            status=query.get("status"),
            counterparty_id=query.get("counterparty_id"),
            date_from=query.get("date_from"),
            date_to=query.get("date_to"),
            page=query["page"],
            page_size=query["page_size"],
        ).envelope()

    @idempotent
    @blp.arguments(s.OrderCreateSchema)
    @blp.response(201, s.OrderSchema)
    def post(self, body, cid):
        """Issue an order to a linked org, as its buyer or its seller."""
        access = access_to(cid)
        order = orders.issue_order(
            db.session,
            access,
            counterparty_id=body["counterparty_id"],
            issuer_role=body["issuer_role"],
            number=body["number"],
            currency=body["currency"],
            ack_due=body["ack_due"],
            lines=_lines(body["lines"]),
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>")
class OrderDetail(MethodView):
    @blp.response(200, s.OrderSchema)
    def get(self, cid, oid):
        """An order with lines and history (its two parties and the chain owner)."""
        return orders.get_order(db.session, access_to(cid), oid)


@blp.route("/<id:cid>/orders/<id:oid>/ack")
class OrderAck(MethodView):
    @idempotent
    @blp.arguments(s.OrderAckInSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, body, cid, oid):
        """Accept, reject, or answer line by line (the side that did not issue the order)."""
        acks = [order_acks.LineAck(**line) for line in body["lines"] or []]
        order = order_acks.acknowledge_order(
            db.session,
            access_to(cid),
            oid,
            version=body["version"],
            decision=body["decision"],
            reason=body["reason"],
            lines=acks or None,
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/amend")
class OrderAmend(MethodView):
    @blp.arguments(s.AmendInSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, body, cid, oid):
        """The issuer replaces the lines before any shipment; acknowledgment resets to pending."""
        order = orders.amend_order(
            db.session, access_to(cid), oid, body["version"], _lines(body["lines"])
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/cancel")
class OrderCancel(MethodView):
    @blp.arguments(s.CancelInSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, body, cid, oid):
        """The issuer cancels the order before any shipment."""
        order = orders.cancel_order(
            db.session, access_to(cid), oid, body["reason"], body["version"]
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/shipments")
class OrderShipments(MethodView):
    @idempotent
    @blp.arguments(s.ShipmentInSchema)
    @blp.response(201, s.OrderSchema)
    def post(self, body, cid, oid):
        """The seller ships confirmed lines (cumulative shipped ≤ confirmed quantity)."""
        order = shipments.record_shipment(
            db.session,
            access_to(cid),
            oid,
            _moves(body["lines"]),
            body["ref"],
            body["shipped_at"],
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/receipts")
class OrderReceipts(MethodView):
    @idempotent
    @blp.arguments(s.ReceiptInSchema)
    @blp.response(201, s.OrderSchema)
    def post(self, body, cid, oid):
        """The buyer records goods received (cumulative received ≤ shipped)."""
        order = shipments.record_receipt(
            db.session,
            access_to(cid),
            oid,
            _moves(body["lines"]),
            body["ref"],
            body["received_at"],
        )
        return orders.order_view(db.session, order)
