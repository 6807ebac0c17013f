"""Schemas of webhook endpoints and their deliveries."""

from marshmallow import fields, validate

from supplychain.models.events import (
    DELIVERY_STATUSES,
    EVENT_TYPES,
    WEBHOOK_KINDS,
    WEBHOOK_LANGUAGES,
)
from supplychain.net.addresses import MAX_URL_LENGTH
from supplychain.schemas.common import BaseSchema, FilterQuery, Id, Text, page_of

EVENTS_DESCRIPTION = 'Event types to receive, or `["*"]` for all: ' + ", ".join(EVENT_TYPES)


def _url(**kw):
    return fields.String(
        validate=validate.Length(min=1, max=MAX_URL_LENGTH),
        metadata={
            "description": "http(s) URL on a public address (a WeCom robot's full webhook URL)"
        },
        **kw,
    )


def _events(**kw):
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        validate=validate.Length(max=len(EVENT_TYPES) + 1),
        metadata={"description": EVENTS_DESCRIPTION},
        **kw,
    )


class WebhookCreateSchema(BaseSchema):
    url = _url(required=True)
    events = _events(required=True)
    kind = fields.String(load_default="standard", validate=validate.OneOf(WEBHOOK_KINDS))
    language = fields.String(load_default="zh", validate=validate.OneOf(WEBHOOK_LANGUAGES))
    description = Text(load_default=None, allow_none=True, max_length=500)


class WebhookUpdateSchema(BaseSchema):
    url = _url()
    events = _events()
    enabled = fields.Boolean()
    language = fields.String(validate=validate.OneOf(WEBHOOK_LANGUAGES))
    description = Text(allow_none=True, max_length=500)


class WebhookSchema(BaseSchema):
    id = Id()
    url = fields.String()
    events = fields.List(fields.String())
    kind = fields.String()
    language = fields.String()
    enabled = fields.Boolean()
    description = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        allow_none=True,
        metadata={
            "description": "`whsec_...`: signs every delivery; shown only in this answer "
            "(null in an idempotent replay of it: the secret is never kept to be replayed)"
        },
    )


WebhookPageSchema = page_of(WebhookSchema)


class DeliveryQuerySchema(FilterQuery):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class DeliverySchema(BaseSchema):
    id = Id()
    event_id = fields.Function(
        lambda d: f"evt_{d.event_id}", metadata={"type": "string", "pattern": "^evt_[0-9]+$"}
    )
    event_type = fields.String(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


DeliveryPageSchema = page_of(DeliverySchema)
