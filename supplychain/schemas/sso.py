"""Schemas of company sign-in (SSO): an org's connection to its IdP, and starting a sign-in."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from supplychain.models.sso import MAX_DOMAINS
from supplychain.schemas.common import BaseSchema, Id

# A DNS name of at least two labels, each 1-63 letters, digits or hyphens (not at either end).
_DOMAIN = re.compile(r"^(?=.{1,253}\Z)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+\Z")
# What an IdP issues as client ids and secrets: printable ASCII without spaces.
_TOKEN_CHARS = r"^[!-~]+\Z"


class EmailDomain(fields.String):
    """An email domain such as `acme.example` (lower-cased; an IDN as punycode): no scheme, no
    `@`, no path, no wildcard, no port."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.metadata.setdefault("example", "acme.example")
        self.metadata.setdefault("maxLength", 253)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower().rstrip(".")
        if "://" in text or text.startswith(("http:", "https:")):
            raise ValidationError("A domain without a scheme, such as acme.example.")
        if "*" in text:
            raise ValidationError("No wildcards: list each domain.")
        if "@" in text or "/" in text or ":" in text:
            raise ValidationError("Only the domain, such as acme.example.")
        try:
            ascii_name = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationError("Not a valid domain.") from None
        if not _DOMAIN.match(ascii_name):
            raise ValidationError("Not a valid domain.")
        return ascii_name


def _unique(domains: list[str]) -> None:
    if len(set(domains)) != len(domains):
        raise ValidationError("Each domain once.")


class SsoSettingsSchema(BaseSchema):
    issuer = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "The IdP's issuer URL; its discovery document is fetched from "
            "`{issuer}/.well-known/openid-configuration` and checked before anything is saved "
            "(https; http and private addresses only with SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE=1)",
            "example": "https://login.acme.example/realms/acme",
        },
    )
    client_id = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), validate.Regexp(_TOKEN_CHARS)],
        metadata={"description": "The client id registered at the IdP (printable ASCII)"},
    )
    client_secret = fields.String(
        validate=[validate.Length(min=1, max=500), validate.Regexp(_TOKEN_CHARS)],
        metadata={
            "description": "The client secret registered at the IdP: stored encrypted and never "
            "shown again. Required when the connection is made; left out when changing it, the "
            "stored one is kept"
        },
    )
    email_domains = fields.List(
        EmailDomain(),
        required=True,
        validate=[validate.Length(min=1, max=MAX_DOMAINS), _unique],
        metadata={"description": "The email domains whose people sign in through this IdP"},
    )
    create_users = fields.Boolean(
        load_default=False,
        metadata={"description": "An unknown person of these domains becomes a staff user"},
    )
    required = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The org's people can no longer sign in or activate with a password "
            "(API tokens keep working)"
        },
    )


class SsoConnectionSchema(BaseSchema):
    org_id = Id()
    issuer = fields.String()
    client_id = fields.String()
    email_domains = fields.List(fields.String())
    create_users = fields.Boolean()
    required = fields.Boolean()
    redirect_uri = fields.String(
        metadata={"description": "Register this redirect URI at the IdP for the client"}
    )
    backchannel_logout_uri = fields.String(
        metadata={"description": "Register this back-channel logout URI at the IdP"}
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SsoCheckSchema(BaseSchema):
    issuer = fields.String()
    authorization_endpoint = fields.String()
    token_endpoint = fields.String()
    userinfo_endpoint = fields.String(allow_none=True)
    jwks_uri = fields.String()


class SsoStartQuery(BaseSchema):
    email = fields.Email(
        required=True,
        validate=validate.Length(max=200),
        metadata={"description": "The person's work email: its domain picks the IdP"},
    )
