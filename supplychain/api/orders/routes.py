"""Orders: issue, list, acknowledge, amend, cancel, ship, receive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.extensions import db
from supplychain.models.orders import Order
from supplychain.schemas import orders as s
from supplychain.services import order_acks, orders, shipments

blp = authenticated_blueprint("orders", __name__, url_prefix="/chains", description="Orders")
BLUEPRINTS = (blp,)


def _moved(record: Callable[..., Order], body: dict, cid: int, oid: int, at: datetime):
    """Record a shipment or a receipt of the order's lines (`record`), answering the order."""
    moves = [shipments.Movement(**item) for item in body["lines"]]
    order = record(db.session, access_to(cid), oid, moves, body["ref"], at)
    return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders")
class Orders(MethodView):
    @blp.paged(s.OrderQuerySchema, s.OrderPageSchema)
    def get(self, query, cid):
        """Orders of the caller's org (all of the chain's for the owner), newest first."""
        return orders.orders_page(db.session, access_to(cid), **query).envelope()

    @blp.creates(s.OrderCreateSchema, s.OrderSchema)
    def post(self, body, cid):
        """Issue an order to a linked org, as its buyer or its seller."""
        order = orders.issue_order(db.session, access_to(cid), **body)
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
    @blp.changes(s.OrderAckInSchema, s.OrderSchema)
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
    @blp.changes(s.AmendInSchema, s.OrderSchema)
    def post(self, body, cid, oid):
        """The issuer replaces the lines before any shipment; acknowledgment resets to pending."""
        order = orders.amend_order(db.session, access_to(cid), oid, body["version"], body["lines"])
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/cancel")
class OrderCancel(MethodView):
    @blp.changes(s.CancelInSchema, s.OrderSchema)
    def post(self, body, cid, oid):
        """The issuer cancels the order before any shipment."""
        order = orders.cancel_order(
            db.session, access_to(cid), oid, body["reason"], body["version"]
        )
        return orders.order_view(db.session, order)


@blp.route("/<id:cid>/orders/<id:oid>/shipments")
class OrderShipments(MethodView):
    @blp.creates(s.ShipmentInSchema, s.OrderSchema)
    def post(self, body, cid, oid):
        """The seller ships confirmed lines (cumulative shipped ≤ confirmed quantity)."""
        return _moved(shipments.record_shipment, body, cid, oid, body["shipped_at"])


@blp.route("/<id:cid>/orders/<id:oid>/receipts")
class OrderReceipts(MethodView):
    @blp.creates(s.ReceiptInSchema, s.OrderSchema)
    def post(self, body, cid, oid):
        """The buyer records goods received (cumulative received ≤ shipped)."""
        return _moved(shipments.record_receipt, body, cid, oid, body["received_at"])
