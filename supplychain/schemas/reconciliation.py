"""Schemas of reconciliation schedules and runs."""

from marshmallow import fields, validate

from supplychain.models.reconciliation import FREQUENCIES, RUN_STATUSES
from supplychain.schemas.common import BaseSchema, Id, PageQuery, page_of

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
