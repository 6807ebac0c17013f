"""Schemas of scorecards: the query (period, tier, org, sort, page) and one org's figures."""

from marshmallow import fields, validate

from supplychain.schemas.common import BaseSchema, DecimalAmount, Id, PageQuery, page_of
from supplychain.services.scorecards import SORT_KEYS

SORT_CHOICES = [*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS)]


class ScorecardQuerySchema(PageQuery):
    period = fields.String(
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "YYYY-MM (month), YYYY-Www (ISO week) or YYYY (year)"},
    )
    tier = fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "only the partners of this tier: U1, D2, unlinked..."},
    )
    org_id = Id(metadata={"description": "only this org (a partner: its own)"})
    sort = fields.String(
        load_default="name",
        validate=validate.OneOf(SORT_CHOICES),
        metadata={"description": "a column; a leading '-' sorts descending; no data sorts last"},
    )


def Rate(**kw):  # noqa: N802 - reads as a field type
    """A rate in 0..1 as a decimal string with 4 places; null where there is no data."""
    return DecimalAmount(
        allow_none=True,
        min_decimals=4,
        metadata={"description": "0..1, 4 decimal places; null: denominator 0 (no data)"},
        **kw,
    )


class ScorecardSchema(BaseSchema):
    org_id = Id()
    name = fields.String()
    custom_id = fields.String(attribute="code", allow_none=True)
    tier = fields.String()
    orders = fields.Integer()
    lines = fields.Integer()
    ack_rate = Rate()
    median_ack_hours = DecimalAmount(
        allow_none=True,
        min_decimals=2,
        metadata={"description": "hours, 2 decimal places; null: no acknowledged order"},
    )
    on_time_rate = Rate()
    fill_rate = Rate()
    discrepancy_lines = fields.Integer()
    notice_ack_rate = Rate()
    notice_response_rate = Rate()
    invoice_match_rate = Rate()


class ScorecardPageSchema(page_of(ScorecardSchema, "ScorecardPageBase")):  # type: ignore[misc]
    period = fields.String(required=True)
    first_day = fields.Date(required=True)
    last_day = fields.Date(required=True)
