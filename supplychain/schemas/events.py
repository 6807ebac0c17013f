"""Schemas of the event feed and people's email preferences."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate

from supplychain.ids import MAX_ID
from supplychain.models.events import EMAIL_MODES, EVENT_TYPES
from supplychain.schemas.common import BaseSchema, FilterQuery, page_of
from supplychain.services.event_body import event_body

_EVENT_ID = re.compile(r"^(?:evt_)?([1-9][0-9]{0,18})\Z")
# What a person may be mailed about (a `ping` is for one webhook endpoint only).
MAILABLE_TYPES = tuple(t for t in EVENT_TYPES if t != "ping")


class EventId(fields.Field):
    """An event id as the feed gives it (`evt_12`; the bare number is accepted too)."""

    default_error_messages = {"invalid": "Not a valid event id (evt_...)."}

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("pattern", r"^(evt_)?[1-9][0-9]{0,18}$")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        match = _EVENT_ID.match(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) > MAX_ID:
            raise self.make_error("invalid")
        return int(match.group(1))


class EventFeedQuerySchema(FilterQuery):
    after = EventId(
        load_default=None, metadata={"description": "only events after this one (a cursor)"}
    )
    type = fields.String(load_default=None, validate=validate.OneOf(EVENT_TYPES))


class EventSchema(BaseSchema):
    """The event body of API.md, as webhooks receive it."""

    id = fields.String()
    type = fields.String()
    chain_id = fields.String()
    occurred_at = fields.String(metadata={"format": "date-time"})
    data = fields.Dict()


def dump_event(event: Any) -> dict[str, Any]:
    """An Event row as its body."""
    return event_body(event.id, event.type, event.chain_id, event.occurred_at, event.data)


EventPageSchema = page_of(EventSchema)


class NotificationSettingSchema(BaseSchema):
    email = fields.String(required=True, validate=validate.OneOf(EMAIL_MODES))
    events = fields.List(
        fields.String(validate=validate.Length(max=50)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=len(EVENT_TYPES)),
        metadata={
            "description": "event types to mail; omitted or null: notice, order and statement "
            f"events. One of: {', '.join(MAILABLE_TYPES)}"
        },
    )
