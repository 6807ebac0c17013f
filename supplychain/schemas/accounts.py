"""Schemas of sign-in, activation, tokens and /me."""

from marshmallow import fields, validate

from supplychain.auth import MAX_TOKEN_DAYS
from supplychain.schemas.common import BaseSchema, Id, Text


class OrgSchema(BaseSchema):
    id = Id(dump_only=True)
    name = fields.String()
    kind = fields.String()


class UserSchema(BaseSchema):
    id = Id(dump_only=True)
    org_id = Id()
    email = fields.String(allow_none=True)  # none: a contact known by mobile only
    name = fields.String()
    mobile = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    role = fields.String()
    activated = fields.Function(
        lambda user: user.password_hash is not None, metadata={"type": "boolean"}
    )


class LoginSchema(BaseSchema):
    email = Text(required=True, max_length=200)
    password = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ActivateSchema(BaseSchema):
    invite_code = Text(required=True, max_length=64)
    password = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PasswordChangeSchema(BaseSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=500))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PasswordResetRequestSchema(BaseSchema):
    email = Text(required=True, max_length=200)


class PasswordResetConfirmSchema(BaseSchema):
    token = Text(required=True, max_length=200)
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=500))


class SessionSchema(BaseSchema):
    token = fields.String(required=True)
    user = fields.Nested(UserSchema, required=True)


class TokenCreateSchema(BaseSchema):
    name = Text(required=True, max_length=100)
    expires_in_days = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_TOKEN_DAYS),
        metadata={"description": "Days the token lives; without it, until revoked"},
    )


class TokenSchema(BaseSchema):
    id = Id(dump_only=True)
    name = fields.String()
    kind = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "null: until revoked. A sign-in token's moves on with use"},
    )
    token = fields.String(
        allow_none=True,
        metadata={
            "description": "The secret, shown only in the create response (null in an "
            "idempotent replay of it: the secret is never kept to be replayed)"
        },
    )


class TokenListSchema(BaseSchema):
    items = fields.List(fields.Nested(TokenSchema))


class MyChainSchema(BaseSchema):
    id = Id()
    name = fields.String()
    owner_org_id = Id()
    role = fields.String(metadata={"enum": ["owner", "partner"]})
    tier = fields.String()
    apps = fields.List(fields.String())


class MeSchema(BaseSchema):
    user = fields.Nested(UserSchema)
    org = fields.Nested(OrgSchema)
    chains = fields.List(fields.Nested(MyChainSchema))
