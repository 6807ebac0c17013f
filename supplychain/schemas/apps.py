"""Schemas of apps and grants."""

from marshmallow import fields, validate

from supplychain.models.apps import GRANT_SCOPES
from supplychain.schemas.common import BaseSchema, Id, Text, page_of


class AppSchema(BaseSchema):
    id = Id(allow_none=True)
    key = fields.String()
    name = fields.String()
    url = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    builtin = fields.Boolean()


AppPageSchema = page_of(AppSchema)


class AppCreateSchema(BaseSchema):
    key = fields.String(required=True, validate=validate.Length(min=2, max=40))
    name = Text(required=True, max_length=200)
    url = fields.Url(required=True, schemes={"http", "https"}, validate=validate.Length(max=500))
    description = Text(load_default=None, allow_none=True, max_length=2000, multiline=True)


class ScopeSchema(BaseSchema):
    type = fields.String(required=True, validate=validate.OneOf(GRANT_SCOPES))
    value = Text(
        load_default=None,
        allow_none=True,
        max_length=1100,
        metadata={"description": "tier label, group path or org id; empty for `all`"},
    )


class GrantCreateSchema(BaseSchema):
    app = fields.String(required=True, validate=validate.Length(min=1, max=40))
    scope = fields.Nested(ScopeSchema, required=True)


class GrantSchema(BaseSchema):
    id = Id()
    app = fields.String(attribute="app_key")
    scope = fields.Function(
        lambda g: {"type": g.scope_type, "value": g.scope_value},
        metadata={"type": "object", "description": "{type: all|tier|group|org, value}"},
    )
    created_at = fields.DateTime()


GrantPageSchema = page_of(GrantSchema)
