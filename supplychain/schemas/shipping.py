"""Schemas of ship notices (送货单, ASN), their packages and lines, receipts and scans."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from supplychain.models.shipping import NOTICE_STATUSES, PACKAGE_KINDS
from supplychain.schemas.common import (
    BaseSchema,
    DecimalAmount,
    FilterQuery,
    Id,
    LineNo,
    Quantity,
    Text,
    UtcDateTime,
    page_of,
)
from supplychain.services.shipping import (
    MAX_LINES,
    MAX_PACKAGES,
    NewPackage,
    NoticeLineIn,
    package_label_code,
)

SSCC_FIELD = {"pattern": r"^[0-9]{18}$", "description": "18 digits with a GS1 check digit"}


class CarrierSchema(BaseSchema):
    name = Text(required=True, max_length=200)
    code = Text(load_default=None, allow_none=True, max_length=50)


class PackageInSchema(BaseSchema):
    ref = Text(required=True, max_length=50)
    sscc = fields.String(load_default=None, allow_none=True, metadata=SSCC_FIELD)
    kind = fields.String(load_default="carton", validate=validate.OneOf(PACKAGE_KINDS))
    weight_kg = Quantity(load_default=None, allow_none=True)

    @post_load
    def new_package(self, data: dict[str, Any], **kwargs: Any) -> NewPackage:
        """The package as `issue_notice` takes it."""
        return NewPackage(**data)


class NoticeLineInSchema(BaseSchema):
    order_id = Id(required=True)
    line_no = LineNo(required=True)
    qty = Quantity(required=True)
    package = Text(load_default=None, allow_none=True, max_length=50)

    @post_load
    def notice_line(self, data: dict[str, Any], **kwargs: Any) -> NoticeLineIn:
        """The line as `issue_notice` takes it."""
        return NoticeLineIn(**data)


class ShipNoticeCreateSchema(BaseSchema):
    number = Text(load_default=None, allow_none=True, max_length=64)
    buyer_id = Id(required=True)
    shipped_at = UtcDateTime(load_default=None, allow_none=True)
    expected_at = UtcDateTime(load_default=None, allow_none=True)
    carrier = fields.Nested(CarrierSchema, load_default=None, allow_none=True)
    tracking_numbers = fields.List(
        Text(max_length=100), load_default=list, validate=validate.Length(max=50)
    )
    packages = fields.List(
        fields.Nested(PackageInSchema),
        load_default=list,
        validate=validate.Length(max=MAX_PACKAGES),
    )
    lines = fields.List(
        fields.Nested(NoticeLineInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )

    @post_load
    def carrier_name_and_code(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The notice as `issue_notice` takes it: the carrier as its name and code."""
        carrier = data.pop("carrier") or {}
        return {**data, "carrier_name": carrier.get("name"), "carrier_code": carrier.get("code")}


class ShipNoticeCancelSchema(BaseSchema):
    reason = Text(required=True, max_length=2000, multiline=True)


class ReceiptLineInSchema(BaseSchema):
    order_id = Id(required=True)
    line_no = LineNo(required=True)
    qty = Quantity(required=True)


class ShipNoticeReceiptSchema(BaseSchema):
    packages = fields.List(
        Text(max_length=100), load_default=list, validate=validate.Length(max=MAX_PACKAGES)
    )
    lines = fields.List(
        fields.Nested(ReceiptLineInSchema),
        load_default=list,
        validate=validate.Length(max=MAX_LINES),
    )
    received_at = UtcDateTime(load_default=None, allow_none=True)


class ScanInSchema(BaseSchema):
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "What a scanner read: (00)+SSCC, ]C1 or FNC1 prefixed, bare, or a package id"
        },
    )
    received_at = UtcDateTime(load_default=None, allow_none=True)


class PackageSchema(BaseSchema):
    id = Id()
    seq = fields.Integer()
    ref = fields.String()
    sscc = fields.String(allow_none=True)
    kind = fields.String()
    weight_kg = DecimalAmount(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    label_code = fields.Function(
        package_label_code,
        metadata={"type": "string", "description": "What the package's label barcode holds"},
    )


class NoticeLineSchema(BaseSchema):
    seq = fields.Integer(attribute="line.seq")
    order_id = Id(attribute="line.order_id")
    order_number = fields.String()
    line_no = fields.Integer(attribute="line.line_no")
    sku = fields.String()
    description = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    qty = DecimalAmount(attribute="line.qty")
    received_qty = DecimalAmount(attribute="line.received_qty")
    package = fields.String(attribute="package_ref", allow_none=True)


class OrgBriefSchema(BaseSchema):
    id = Id()
    name = fields.String()
    address = fields.String(allow_none=True)


class NoticeBaseSchema(BaseSchema):
    id = Id(attribute="notice.id")
    number = fields.String(attribute="notice.number")
    chain_id = Id(attribute="notice.chain_id")
    status = fields.String(attribute="notice.status", metadata={"enum": list(NOTICE_STATUSES)})
    seller_id = Id(attribute="notice.seller_id")
    buyer_id = Id(attribute="notice.buyer_id")
    shipped_at = fields.DateTime(attribute="notice.shipped_at")
    expected_at = fields.DateTime(attribute="notice.expected_at", allow_none=True)
    carrier = fields.Method("_carrier", allow_none=True)
    tracking_numbers = fields.List(fields.String(), attribute="notice.tracking_numbers")
    ref = fields.String(attribute="notice.ref", allow_none=True)
    cancel_reason = fields.String(attribute="notice.cancel_reason", allow_none=True)
    created_at = fields.DateTime(attribute="notice.created_at")
    updated_at = fields.DateTime(attribute="notice.updated_at")

    def _carrier(self, obj):
        notice = obj["notice"] if isinstance(obj, dict) else obj.notice
        if notice.carrier_name is None:
            return None
        return {"name": notice.carrier_name, "code": notice.carrier_code}


class ShipNoticeSchema(NoticeBaseSchema):
    seller = fields.Nested(OrgBriefSchema)
    buyer = fields.Nested(OrgBriefSchema)
    order_numbers = fields.List(fields.String())
    package_count = fields.Integer()
    packages = fields.List(fields.Nested(PackageSchema))
    lines = fields.List(fields.Nested(NoticeLineSchema))


class ShipNoticeSummarySchema(NoticeBaseSchema):
    seller_name = fields.String(allow_none=True)
    buyer_name = fields.String(allow_none=True)
    line_count = fields.Integer()


ShipNoticePageSchema = page_of(ShipNoticeSummarySchema, "ShipNoticeListSchema")


class ShipNoticeQuerySchema(FilterQuery):
    box = fields.String(validate=validate.OneOf(("incoming", "outgoing")))
    status = fields.String(validate=validate.OneOf(NOTICE_STATUSES))
    order_id = Id()


class ReceivedPackageSchema(BaseSchema):
    id = Id()
    ref = fields.String()
    sscc = fields.String(allow_none=True)


class ReceivedLineSchema(BaseSchema):
    seq = fields.Integer()
    order_id = Id()
    line_no = fields.Integer()
    qty = DecimalAmount()


class ReceivedSchema(BaseSchema):
    packages = fields.List(fields.Nested(ReceivedPackageSchema))
    lines = fields.List(fields.Nested(ReceivedLineSchema))


class ReceiptResultSchema(ShipNoticeSchema):
    """The notice after the receipt, and what this receipt took in."""

    received = fields.Nested(ReceivedSchema)


class DocumentQuerySchema(BaseSchema):
    lang = fields.String(validate=validate.OneOf(("zh", "en")))


class LabelsQuerySchema(BaseSchema):
    """Which labels to print: packages numbered `from` to `to` (n of N, both included)."""

    first = fields.Integer(
        data_key="from",
        validate=validate.Range(min=1, max=MAX_PACKAGES),
        metadata={
            "description": "First package number (1 to N) of the labels to print; default 1."
        },
    )
    last = fields.Integer(
        data_key="to",
        validate=validate.Range(min=1, max=MAX_PACKAGES),
        metadata={"description": "Last package number (1 to N) of the labels to print; default N."},
    )


class OrgShippingInSchema(BaseSchema):
    gs1_company_prefix = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[0-9]{7,10}\Z", error="7 to 10 digits."),
    )
    address = Text(allow_none=True, max_length=500, multiline=True)


class OrgShippingSchema(BaseSchema):
    id = Id()
    name = fields.String()
    gs1_company_prefix = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
