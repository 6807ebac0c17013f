"""Schemas of notices, their items, acknowledgments, responses and recipients."""

from typing import Any

from marshmallow import fields, post_load, validate

from supplychain.models.notices import NOTICE_KINDS
from supplychain.schemas.common import (
    BaseSchema,
    DecimalAmount,
    FilterQuery,
    Id,
    PageQuery,
    Price,
    Quantity,
    Text,
    UtcDateTime,
    page_of,
)
from supplychain.services.notice_tracking import RECIPIENT_STATES
from supplychain.services.notices import MAX_BODY, MAX_ITEMS, Audience, NewItem
from supplychain.services.reminders import REMIND_STATES


class NoticeItemInSchema(BaseSchema):
    sku = Text(required=True, max_length=64)
    description = Text(load_default=None, allow_none=True, max_length=500)
    qty = Quantity(required=True)
    unit = Text(load_default=None, allow_none=True, max_length=20)
    unit_price = Price(load_default=None, allow_none=True)
    available_from = fields.Date(load_default=None, allow_none=True)
    available_until = fields.Date(load_default=None, allow_none=True)

    @post_load
    def new_item(self, data: dict[str, Any], **kwargs: Any) -> NewItem:
        """The item as `broadcast_notice` takes it."""
        return NewItem(**data)


class NoticeItemSchema(BaseSchema):
    sku = fields.String()
    description = fields.String(allow_none=True)
    qty = DecimalAmount()
    unit = fields.String(allow_none=True)
    unit_price = DecimalAmount(allow_none=True, min_decimals=2)
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)


class AudienceSchema(BaseSchema):
    all = fields.Boolean(load_default=False)
    tiers = fields.List(
        fields.String(validate=validate.Length(max=20)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    groups = fields.List(
        Text(max_length=1100), load_default=list, validate=validate.Length(max=200)
    )
    orgs = fields.List(Id(), load_default=list, validate=validate.Length(max=20_000))

    @post_load
    def audience(self, data: dict[str, Any], **kwargs: Any) -> Audience:
        """The audience as `broadcast_notice` takes it."""
        return Audience(**data)


class NoticeCreateSchema(BaseSchema):
    kind = fields.String(required=True, validate=validate.OneOf(NOTICE_KINDS))
    title = Text(required=True, max_length=200)
    body = Text(load_default="", allow_blank=True, multiline=True, max_length=MAX_BODY)
    items = fields.List(
        fields.Nested(NoticeItemInSchema),
        load_default=list,
        validate=validate.Length(max=MAX_ITEMS),
    )
    audience = fields.Nested(AudienceSchema, required=True)
    requires_ack = fields.Boolean(load_default=False)
    ack_due = UtcDateTime(load_default=None, allow_none=True)


class MyStateSchema(BaseSchema):
    read_at = fields.DateTime(allow_none=True)
    acked_at = fields.DateTime(allow_none=True)
    ack_note = fields.String(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)
    response = fields.Raw(allow_none=True)


class CountsSchema(BaseSchema):
    recipients = fields.Integer()
    read = fields.Integer()
    acked = fields.Integer()
    responded = fields.Integer()


class NoticeSummarySchema(BaseSchema):
    id = Id()
    kind = fields.String()
    title = fields.String()
    sender_org_id = Id()
    created_at = fields.DateTime()
    requires_ack = fields.Boolean()
    ack_due = fields.DateTime(allow_none=True)
    withdrawn = fields.Boolean()
    recipients = fields.Integer()
    read = fields.Boolean()
    acked = fields.Boolean()
    read_at = fields.DateTime(allow_none=True)
    acked_at = fields.DateTime(allow_none=True)
    responded = fields.Boolean()
    counts = fields.Nested(CountsSchema)


NoticePageSchema = page_of(NoticeSummarySchema, "NoticeListSchema")


def dump_inbox_page(envelope: dict[str, Any]) -> dict[str, Any]:
    """`NoticePageSchema().dump(envelope)` for an inbox page, without marshmallow's per-field
    calls (a third of the inbox's CPU time); the API's hottest list. Same output, by test
    (`tests/unit/test_inbox_dump.py`): ids as strings, datetimes in ISO 8601."""
    items = [
        {
            "id": str(item["id"]),
            "kind": item["kind"],
            "title": item["title"],
            "sender_org_id": str(item["sender_org_id"]),
            "created_at": _iso(item["created_at"]),
            "requires_ack": bool(item["requires_ack"]),
            "ack_due": _iso(item["ack_due"]),
            "withdrawn": bool(item["withdrawn"]),
            "recipients": int(item["recipients"]),
            "read": bool(item["read"]),
            "acked": bool(item["acked"]),
            "read_at": _iso(item["read_at"]),
            "acked_at": _iso(item["acked_at"]),
            "responded": bool(item["responded"]),
        }
        for item in envelope["items"]
    ]
    return {
        "items": items,
        "total": envelope["total"],
        "page": envelope["page"],
        "page_size": envelope["page_size"],
    }


class ResponseLineSchema(BaseSchema):
    sku = Text(required=True, max_length=64)
    qty = Quantity(required=True)


class ResponseSchema(BaseSchema):
    id = Id()
    notice_id = Id()
    org_id = Id()
    user_id = Id()
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    items = fields.List(fields.Nested(ResponseLineSchema))


class NoticeSchema(BaseSchema):
    id = Id(attribute="notice.id")
    chain_id = Id(attribute="notice.chain_id")
    kind = fields.String(attribute="notice.kind")
    title = fields.String(attribute="notice.title")
    body = fields.String(attribute="notice.body")
    items = fields.List(fields.Nested(NoticeItemSchema))
    audience = fields.Dict(attribute="notice.audience")
    requires_ack = fields.Boolean(attribute="notice.requires_ack")
    ack_due = fields.DateTime(attribute="notice.ack_due", allow_none=True)
    sender_org_id = Id(attribute="notice.sender_org_id")
    sender_user_id = Id(attribute="notice.sender_user_id")
    created_at = fields.DateTime(attribute="notice.created_at")
    withdrawn = fields.Function(
        lambda v: v.notice.withdrawn_at is not None, metadata={"type": "boolean"}
    )
    withdrawn_at = fields.DateTime(attribute="notice.withdrawn_at", allow_none=True)
    recipients = fields.Integer(attribute="notice.recipients_count")
    my = fields.Method(
        "_my",
        allow_none=True,
        metadata={
            "type": "object",
            "description": "The caller org's read/ack/response state (recipients only)",
        },
    )
    totals = fields.Nested(CountsSchema, allow_none=True)

    def _my(self, view):
        row = view.recipient
        if row is None:
            return None
        response = view.my_response
        return {
            "read_at": _iso(row.read_at),
            "acked_at": _iso(row.acked_at),
            "ack_note": row.ack_note,
            "responded_at": _iso(row.responded_at),
            "response": ResponseSchema().dump(response) if response else None,
        }


def _iso(value):
    return value.isoformat() if value else None


class NoticeListQuerySchema(PageQuery):
    box = fields.String(load_default="inbox", validate=validate.OneOf(("inbox", "sent")))
    state = fields.String(validate=validate.OneOf(("unread", "unacked")))


class AckInSchema(BaseSchema):
    note = Text(load_default=None, allow_none=True, max_length=2000, multiline=True)


class AckSchema(BaseSchema):
    notice_id = Id()
    org_id = Id()
    acked_at = fields.DateTime()
    acked_by = Id()
    note = fields.String(attribute="ack_note", allow_none=True)
    read_at = fields.DateTime(allow_none=True)


class ResponseInSchema(BaseSchema):
    items = fields.List(
        fields.Nested(ResponseLineSchema), required=True, validate=validate.Length(min=1, max=500)
    )
    note = Text(load_default=None, allow_none=True, max_length=2000, multiline=True)


class RecipientSchema(BaseSchema):
    org_id = Id()
    name = fields.String()
    tier = fields.String()
    read_at = fields.DateTime(allow_none=True)
    acked_at = fields.DateTime(allow_none=True)
    ack_note = fields.String(allow_none=True)
    responded = fields.Boolean()
    responded_at = fields.DateTime(allow_none=True)


class SkuSumSchema(BaseSchema):
    sku = fields.String()
    qty = DecimalAmount()


class RecipientPageSchema(page_of(RecipientSchema, "RecipientPageBase")):
    totals = fields.Nested(CountsSchema)
    responses_by_sku = fields.List(fields.Nested(SkuSumSchema))


class RecipientQuerySchema(FilterQuery):
    status = fields.String(validate=validate.OneOf(RECIPIENT_STATES))


class RemindInSchema(BaseSchema):
    only = fields.String(
        validate=validate.OneOf(REMIND_STATES),
        metadata={
            "description": "Default: unacked when the notice asks for acknowledgment, else unread."
        },
    )


class RemindedSchema(BaseSchema):
    reminded = fields.Integer(metadata={"description": "Orgs reminded; 0 sends nothing."})
