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


class AppClientSchema(AppSchema):
    """A custom app; with redirect URIs it is an OpenID Connect client."""

    agentid = fields.Integer(
        allow_none=True, metadata={"description": "the app's number for the WeCom calls"}
    )
    client_id = fields.String(allow_none=True)
    client_secret = fields.String(
        allow_none=True,
        metadata={"description": "shown only when made (registration, rotation); else null"},
    )
    redirect_uris = fields.List(fields.String())
    backchannel_logout_uri = fields.String(allow_none=True)


AppPageSchema = page_of(AppSchema)


class AppCreateSchema(BaseSchema):
    key = fields.String(required=True, validate=validate.Length(min=2, max=40))
    name = Text(required=True, max_length=200)
    url = fields.Url(required=True, schemes={"http", "https"}, validate=validate.Length(max=500))
    description = Text(load_default=None, allow_none=True, max_length=2000, multiline=True)
    redirect_uris = fields.List(
        fields.Raw(),
        load_default=None,
        metadata={
            "description": "exact redirect URIs: https, or http to a loopback host (RFC 8252);"
            " no fragment; makes the app an OpenID Connect client"
        },
    )
    backchannel_logout_uri = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000)
    )


class AppUpdateSchema(BaseSchema):
    name = Text(max_length=200)
    url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=500))
    description = Text(allow_none=True, max_length=2000, multiline=True)
    redirect_uris = fields.List(fields.Raw())
    backchannel_logout_uri = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ShareSchema(BaseSchema):
    org_id = Id()
    name = fields.String()
    tier = fields.String()


class SharesSchema(BaseSchema):
    items = fields.List(fields.Nested(ShareSchema))


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
