"""Schemas of supplier invoices, their lines, their match, decisions and the chain's settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import fields, validate

from supplychain.models.invoices import EXCEPTION_KINDS, INVOICE_KINDS, INVOICE_STATUSES
from supplychain.schemas.common import (
    BaseSchema,
    DecimalAmount,
    FilterQuery,
    Id,
    LineNo,
    Price,
    Quantity,
    Text,
    page_of,
)
from supplychain.services.invoice_drafts import MAX_LINES
from supplychain.services.invoices import BOXES

PERIOD = validate.Regexp(r"^[0-9]{4}-(?:[0-9]{2}|W[0-9]{2})\Z", error="Use YYYY-MM or YYYY-Www.")
CURRENCY = validate.Regexp(r"^[A-Z]{3}\Z", error="ISO 4217 code, e.g. CNY.")


def Rate(**kw: Any) -> DecimalAmount:  # noqa: N802 - reads as a field type
    """A tax rate between 0 and 1 (0.13 for 13 %), at most 4 decimals."""
    return DecimalAmount(
        minimum=Decimal(0), validate=validate.Range(max=Decimal(1), error="At most 1."), **kw
    )


class InvoiceLineInSchema(BaseSchema):
    order_id = Id(required=True)
    line_no = LineNo(required=True)
    qty = Quantity(required=True)
    unit_price = Price(required=True, metadata={"description": "tax-exclusive"})
    tax_rate = Rate(
        load_default=None, allow_none=True, metadata={"description": "default: the chain's"}
    )
    tax = Price(
        load_default=None,
        allow_none=True,
        metadata={"description": "the line's tax as printed; default round(net x rate, 2)"},
    )


class InvoiceHeadSchema(BaseSchema):
    number = Text(
        required=True,
        max_length=64,
        metadata={"description": "a 数电票's 20 digits or a 专票's code+number"},
    )
    kind = fields.String(required=True, validate=validate.OneOf(INVOICE_KINDS))
    issue_date = fields.Date(required=True)


class InvoiceCreateSchema(InvoiceHeadSchema):
    buyer_id = Id(required=True)
    currency = fields.String(load_default=None, allow_none=True, validate=CURRENCY)
    statement_period = fields.String(load_default=None, allow_none=True, validate=PERIOD)
    lines = fields.List(
        fields.Nested(InvoiceLineInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )


class FromStatementSchema(InvoiceHeadSchema):
    period = fields.String(required=True, validate=PERIOD)
    tax_rate = Rate(load_default=None, allow_none=True)
    buyer_id = Id(
        load_default=None,
        allow_none=True,
        metadata={"description": "needed only when you sold to several buyers in the period"},
    )


class DryRunQuerySchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "check and match without recording (200, id null)"},
    )


class InvoiceQuerySchema(FilterQuery):
    box = fields.String(validate=validate.OneOf(BOXES))
    status = fields.String(validate=validate.OneOf(INVOICE_STATUSES))
    period = fields.String(validate=PERIOD)


class ApproveSchema(BaseSchema):
    note = Text(load_default=None, allow_none=True, max_length=2000, multiline=True)
    accept_exceptions = fields.Boolean(load_default=False)


class RejectSchema(BaseSchema):
    note = Text(required=True, max_length=2000, multiline=True)


class SettingsSchema(BaseSchema):
    price_tolerance_pct = DecimalAmount(
        required=True, minimum=Decimal(0), metadata={"description": "percent, 0-100"}
    )
    amount_tolerance = Price(required=True, metadata={"description": "money per line"})
    default_tax_rate = Rate(required=True)


class ExceptionSchema(BaseSchema):
    line = fields.Integer(allow_none=True, metadata={"description": "0-based place in lines"})
    kind = fields.String(metadata={"enum": list(EXCEPTION_KINDS)})
    expected = fields.String(allow_none=True)
    actual = fields.String(allow_none=True)


class MatchSchema(BaseSchema):
    status = fields.String(metadata={"enum": ["matched", "exceptions"]})
    exceptions = fields.List(fields.Nested(ExceptionSchema))


class InvoiceLineSchema(BaseSchema):
    order_id = Id()
    order_number = fields.String(allow_none=True)
    line_no = fields.Integer()
    sku = fields.String(allow_none=True)
    qty = DecimalAmount()
    unit_price = DecimalAmount(min_decimals=2)
    tax_rate = DecimalAmount()
    net = DecimalAmount(min_decimals=2)
    tax = DecimalAmount(min_decimals=2)


class InvoiceSchema(BaseSchema):
    id = Id(allow_none=True, metadata={"description": "null in a dry run"})
    number = fields.String()
    kind = fields.String(metadata={"enum": list(INVOICE_KINDS)})
    seller_id = Id()
    seller_name = fields.String(allow_none=True)
    buyer_id = Id()
    buyer_name = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": [*INVOICE_STATUSES, "draft"]})
    issue_date = fields.Date()
    currency = fields.String()
    net = DecimalAmount(min_decimals=2)
    tax = DecimalAmount(min_decimals=2)
    gross = DecimalAmount(min_decimals=2)
    line_count = fields.Integer()
    statement_org_id = Id(allow_none=True)
    statement_period = fields.String(allow_none=True)
    statement_version = fields.String(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    accepted_exceptions = fields.List(fields.Nested(ExceptionSchema), allow_none=True)
    match = fields.Nested(MatchSchema)
    lines = fields.List(fields.Nested(InvoiceLineSchema))


InvoicePageSchema = page_of(InvoiceSchema, "InvoicePageSchema")


class SettingsOutSchema(SettingsSchema):
    pass
