"""Schemas of reconciliation schedules and runs, partners' statements and their disputes."""

from marshmallow import fields, validate

from supplychain.models.reconciliation import FREQUENCIES, RUN_STATUSES
from supplychain.models.statements import (
    DISPUTE_FIELDS,
    DISPUTE_STATUSES,
    RESOLUTIONS,
    STATEMENT_STATUSES,
)
from supplychain.schemas.common import (
    BaseSchema,
    DecimalAmount,
    FilterQuery,
    Id,
    PageQuery,
    Text,
    page_of,
)

TIER = validate.Regexp(r"^[UD][1-9][0-9]{0,3}\Z", error="A tier such as U1 or D2.")
PERIOD = validate.Length(min=1, max=10)


class ScheduleInSchema(BaseSchema):
    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    day = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "monthly: day of month 1-31; weekly: ISO weekday 1-7"},
    )
    hour = fields.Integer(required=True, strict=True, metadata={"description": "0-23, local"})
    tiers = fields.List(
        fields.String(validate=TIER),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "null: every upstream and downstream tier"},
    )
    enabled = fields.Boolean(load_default=True)


class ScheduleSchema(BaseSchema):
    frequency = fields.String()
    day = fields.Integer()
    hour = fields.Integer()
    tiers = fields.List(fields.String(), allow_none=True)
    enabled = fields.Boolean()
    timezone = fields.String()
    updated_at = fields.DateTime()


class RunCreateSchema(BaseSchema):
    tier = fields.String(required=True, validate=validate.Length(min=1, max=20))
    period = fields.String(required=True, validate=PERIOD)
    force = fields.Boolean(load_default=False)


class RunSchema(BaseSchema):
    id = Id()
    tier = fields.String()
    period = fields.String()
    revision = fields.Integer()
    status = fields.String(metadata={"enum": list(RUN_STATUSES)})
    trigger = fields.String()
    rows = fields.Integer(allow_none=True)
    orgs = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


RunPageSchema = page_of(RunSchema)


class RunQuerySchema(PageQuery):
    tier = fields.String(validate=validate.Length(max=20))
    period = fields.String(validate=PERIOD)


class StatementQuerySchema(BaseSchema):
    org_id = Id()


# --- statements: confirmation and disputes -------------------------------------------------------

VERSION = validate.Length(min=1, max=64)
NOTE_MAX = 2000
MAX_DISPUTE_LINES = 500


class ConfirmInSchema(BaseSchema):
    version = fields.String(
        required=True,
        validate=VERSION,
        metadata={"description": "the `version` of the statement as the partner saw it"},
    )
    org_id = Id(
        load_default=None,
        allow_none=True,
        metadata={"description": "the caller's own org (another org: 403)"},
    )


class DisputeLineInSchema(BaseSchema):
    order_number = Text(required=True, max_length=64)
    line_no = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )
    field = fields.String(required=True, validate=validate.OneOf(DISPUTE_FIELDS))
    expected = Text(load_default=None, allow_none=True, max_length=100)
    note = Text(required=True, max_length=NOTE_MAX, multiline=True)


class DisputeInSchema(ConfirmInSchema):
    lines = fields.List(
        fields.Nested(DisputeLineInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_DISPUTE_LINES),
    )
    note = Text(load_default=None, allow_none=True, max_length=NOTE_MAX, multiline=True)


class ResolveInSchema(BaseSchema):
    resolution = fields.String(required=True, validate=validate.OneOf(RESOLUTIONS))
    note = Text(required=True, max_length=NOTE_MAX, multiline=True)


class DisputeLineSchema(BaseSchema):
    order_id = Id()
    order_number = fields.String()
    line_no = fields.Integer()
    field = fields.String(metadata={"enum": list(DISPUTE_FIELDS)})
    expected = fields.String(allow_none=True)
    note = fields.String()


class DisputeSchema(BaseSchema):
    id = Id()
    org_id = Id()
    period = fields.String()
    status = fields.String(metadata={"enum": list(DISPUTE_STATUSES)})
    version = fields.String()
    note = fields.String(allow_none=True)
    opened_by = Id()
    opened_at = fields.DateTime()
    resolved_by = Id(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolution_note = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(DisputeLineSchema))


class TotalsSchema(BaseSchema):
    ordered = DecimalAmount(min_decimals=2)
    confirmed = DecimalAmount(min_decimals=2)
    shipped = DecimalAmount(min_decimals=2)
    received = DecimalAmount(min_decimals=2)


class StatementLineSchema(BaseSchema):
    order_id = Id()
    order_number = fields.String()
    order_status = fields.String()
    role = fields.String(metadata={"enum": ["buyer", "seller"]})
    counterparty_name = fields.String()
    currency = fields.String()
    line_no = fields.Integer()
    sku = fields.String()
    qty = DecimalAmount()
    unit_price = DecimalAmount(min_decimals=2)
    ack_status = fields.String()
    confirmed_qty = DecimalAmount(allow_none=True)
    confirmed_price = DecimalAmount(allow_none=True, min_decimals=2)
    shipped_qty = DecimalAmount()
    received_qty = DecimalAmount()
    invoiced_qty = DecimalAmount(
        load_default=None, metadata={"description": "on invoices not rejected"}
    )
    flags = fields.List(fields.String())


class StatementChangeSchema(BaseSchema):
    order_number = fields.String()
    line_no = fields.Integer()
    field = fields.String(
        metadata={"description": "a figure's name, or `line` for a line no longer there"}
    )
    confirmed = fields.String(allow_none=True, metadata={"description": "as confirmed"})
    current = fields.String(allow_none=True, metadata={"description": "as it is now"})


class StatementInvoiceSchema(BaseSchema):
    id = Id()
    number = fields.String()
    status = fields.String()
    issue_date = fields.Date()
    currency = fields.String()
    net = DecimalAmount(min_decimals=2)
    tax = DecimalAmount(min_decimals=2)
    gross = DecimalAmount(min_decimals=2)


class StatementSchema(BaseSchema):
    org_id = Id()
    code = fields.String(allow_none=True)
    name = fields.String()
    tier = fields.String()
    counterparty_tier = fields.String(
        allow_none=True,
        metadata={
            "description": "the tier of the org's statement counterparties, one nearer the core "
            "(D1 for a D2 org, core for a D1 or U1 org): the statement holds the org's orders of "
            "the period with orgs of that tier only, as the tier workbook lists them. null for an "
            "org in no upstream or downstream tier (the core, an unlinked org): it has no "
            "counterparty nearer the core and its statement holds no lines"
        },
    )
    scope = fields.String(metadata={"description": "what the statement covers, in words"})
    period = fields.String()
    status = fields.String(metadata={"enum": list(STATEMENT_STATUSES)})
    version = fields.String(metadata={"description": "send it back to confirm or dispute"})
    totals = fields.Nested(TotalsSchema)
    currencies = fields.List(fields.String())
    lines = fields.List(fields.Nested(StatementLineSchema))
    disputes = fields.List(fields.Nested(DisputeSchema))
    invoices = fields.List(
        fields.Nested(StatementInvoiceSchema),
        metadata={"description": "invoices made from this statement"},
    )
    ready_at = fields.DateTime(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by = Id(allow_none=True)
    confirmed_version = fields.String(allow_none=True)
    confirmed_totals = fields.Nested(
        TotalsSchema, allow_none=True, metadata={"description": "the totals as last confirmed"}
    )
    changes = fields.List(
        fields.Nested(StatementChangeSchema),
        metadata={"description": "status `changed`: what moved since the confirmation"},
    )


class BoardQuerySchema(FilterQuery):
    period = fields.String(required=True, validate=PERIOD)
    tier = fields.String(validate=validate.Length(min=1, max=20))
    status = fields.String(validate=validate.OneOf(STATEMENT_STATUSES))


class BoardItemSchema(BaseSchema):
    org_id = Id()
    code = fields.String(allow_none=True)
    name = fields.String()
    group = fields.String(allow_none=True)
    tier = fields.String()
    period = fields.String()
    status = fields.String(metadata={"enum": list(STATEMENT_STATUSES)})
    version = fields.String()
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by = Id(allow_none=True)
    ready_at = fields.DateTime(allow_none=True)
    open_disputes = fields.Integer()
    invoices = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "the org's invoices of the period by status (开票)"},
    )


class BoardPageSchema(page_of(BoardItemSchema)):  # type: ignore[misc]
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "orgs per status in the period (and tier), whatever the status filter"
        },
    )
