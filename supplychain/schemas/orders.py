"""Schemas of orders, lines, acknowledgments, amendments, shipments and receipts."""

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from supplychain.models.orders import LINE_STATUSES, ORDER_STATUSES
from supplychain.schemas.common import (
    BaseSchema,
    DecimalAmount,
    FilterQuery,
    Id,
    LineNo,
    Price,
    Quantity,
    Text,
    UtcDateTime,
    page_of,
)
from supplychain.services.orders import MAX_LINES, NewLine


class LineInSchema(BaseSchema):
    line_no = LineNo(required=True)
    sku = Text(required=True, max_length=64)
    description = Text(load_default=None, allow_none=True, max_length=500)
    qty = Quantity(required=True)
    unit = Text(load_default=None, allow_none=True, max_length=20)
    unit_price = Price(required=True)
    requested_date = fields.Date(load_default=None, allow_none=True)

    @ma.post_load
    def new_line(self, data: dict[str, Any], **kwargs: Any) -> NewLine:
        """The line as the order services take it."""
        return NewLine(**data)


class OrderCreateSchema(BaseSchema):
    counterparty_id = Id(required=True)
    issuer_role = fields.String(required=True, validate=validate.OneOf(("buyer", "seller")))
    number = Text(load_default=None, allow_none=True, max_length=64)
    currency = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{3}\Z", error="ISO 4217 code, e.g. CNY."),
    )
    ack_due = UtcDateTime(load_default=None, allow_none=True)
    lines = fields.List(
        fields.Nested(LineInSchema), required=True, validate=validate.Length(min=1, max=MAX_LINES)
    )


class LineAckInSchema(BaseSchema):
    line_no = LineNo(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(("accepted", "rejected", "backordered", "changed"))
    )
    qty = Quantity(load_default=None, allow_none=True)
    unit_price = Price(load_default=None, allow_none=True)
    promised_date = fields.Date(load_default=None, allow_none=True)
    reason = Text(load_default=None, allow_none=True, max_length=500)


class OrderAckInSchema(BaseSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    decision = fields.String(required=True, validate=validate.OneOf(("accept", "reject", "lines")))
    reason = Text(load_default=None, allow_none=True, max_length=500)
    lines = fields.List(
        fields.Nested(LineAckInSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )

    @ma.validates_schema
    def _lines_with_decision(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["decision"] == "lines" and not data.get("lines"):
            raise ma.ValidationError("Give lines with decision 'lines'.", "lines")


class AmendInSchema(BaseSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    lines = fields.List(
        fields.Nested(LineInSchema), required=True, validate=validate.Length(min=1, max=MAX_LINES)
    )


class CancelInSchema(BaseSchema):
    reason = Text(required=True, max_length=2000, multiline=True)
    version = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1)
    )


class MovementLineSchema(BaseSchema):
    line_no = LineNo(required=True)
    qty = Quantity(required=True)


class MovementInSchema(BaseSchema):
    lines = fields.List(
        fields.Nested(MovementLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )
    ref = Text(load_default=None, allow_none=True, max_length=100)


class ShipmentInSchema(MovementInSchema):
    shipped_at = fields.AwareDateTime(load_default=None, allow_none=True)


class ReceiptInSchema(MovementInSchema):
    received_at = fields.AwareDateTime(load_default=None, allow_none=True)


class OrderLineSchema(BaseSchema):
    line_no = fields.Integer()
    sku = fields.String()
    description = fields.String(allow_none=True)
    qty = DecimalAmount()
    unit = fields.String(allow_none=True)
    unit_price = DecimalAmount(min_decimals=2)
    requested_date = fields.Date(allow_none=True)
    ack_status = fields.String(metadata={"enum": list(LINE_STATUSES)})
    ack_code = fields.String(
        allow_none=True, metadata={"enum": ["IA", "IR", "IB", "IQ", "IP", "DR", "IC"]}
    )
    confirmed_qty = DecimalAmount(allow_none=True)
    confirmed_price = DecimalAmount(allow_none=True, min_decimals=2)
    promised_date = fields.Date(allow_none=True)
    reason = fields.String(attribute="ack_reason", allow_none=True)
    shipped_qty = DecimalAmount()
    received_qty = DecimalAmount()


class OrderEventSchema(BaseSchema):
    id = Id()
    kind = fields.String()
    version = fields.Integer()
    at = fields.DateTime()
    user_id = Id()
    org_id = Id()
    data = fields.Dict()


class OrderBaseSchema(BaseSchema):
    id = Id(attribute="order.id")
    number = fields.String(attribute="order.number")
    chain_id = Id(attribute="order.chain_id")
    buyer_id = Id(attribute="order.buyer_id")
    seller_id = Id(attribute="order.seller_id")
    issuer_id = Id(attribute="order.issuer_id")
    issuer_role = fields.String(attribute="order.issuer_role")
    currency = fields.String(attribute="order.currency")
    status = fields.String(attribute="order.status", metadata={"enum": list(ORDER_STATUSES)})
    ack_code = fields.String(attribute="order.ack_code", allow_none=True)
    version = fields.Integer(attribute="order.version")
    ack_due = fields.DateTime(attribute="order.ack_due", allow_none=True)
    acked_at = fields.DateTime(attribute="order.acked_at", allow_none=True)
    cancel_reason = fields.String(attribute="order.cancel_reason", allow_none=True)
    created_at = fields.DateTime(attribute="order.created_at")
    updated_at = fields.DateTime(attribute="order.updated_at")


class OrderSchema(OrderBaseSchema):
    lines = fields.List(fields.Nested(OrderLineSchema))
    history = fields.List(fields.Nested(OrderEventSchema))


class OrderSummarySchema(OrderBaseSchema):
    line_count = fields.Integer()
    amount = DecimalAmount(min_decimals=2)


OrderPageSchema = page_of(OrderSummarySchema, "OrderListSchema")


class OrderQuerySchema(FilterQuery):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    counterparty_id = Id()
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
