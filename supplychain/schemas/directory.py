"""Schemas of chains, groups, members, contacts, links, graph, rules and audit."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from supplychain.graph import valid_tier
from supplychain.models.directory import (
    MAX_CUSTOM_ID,
    MAX_MOBILE,
    MOBILE_PATTERN,
    ORG_KINDS,
    USER_ROLES,
)
from supplychain.models.invitations import INVITATION_STATUSES
from supplychain.schemas.common import (
    BaseSchema,
    FilterQuery,
    Id,
    PageQuery,
    Text,
    UtcDateTime,
    page_of,
)
from supplychain.services.notification_settings import MAIL_LANGUAGES

# What `valid_tier` accepts, for the OpenAPI document (it also caps the depth at 1000).
TIER_PATTERN = r"^(core|unlinked|[UD][1-9][0-9]{0,3})$"


def _tier(value: str) -> bool:
    if not valid_tier(value):
        raise ma.ValidationError("Not a tier: use core, unlinked, U1, U2..., D1, D2...")
    return True


class ChainCreateSchema(BaseSchema):
    name = Text(required=True, max_length=200)
    currency = fields.String(
        load_default="CNY",
        validate=validate.Regexp(r"^[A-Z]{3}\Z", error="ISO 4217 code, e.g. CNY."),
    )
    timezone = Text(load_default="Asia/Shanghai", max_length=64)


class ChainSchema(BaseSchema):
    id = Id()
    name = fields.String()
    owner_org_id = Id()
    currency = fields.String()
    timezone = fields.String()
    created_at = fields.DateTime()


ChainPageSchema = page_of(ChainSchema)


class GroupCreateSchema(BaseSchema):
    path = Text(required=True, max_length=1100)


class GroupSchema(BaseSchema):
    id = Id()
    path = fields.String()
    name = fields.String()
    parent_id = Id(allow_none=True)


GroupPageSchema = page_of(GroupSchema)


class NewOrgSchema(BaseSchema):
    name = Text(required=True, max_length=200)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))


class ContactCreateSchema(BaseSchema):
    name = Text(required=True, max_length=200)
    email = fields.Email(required=True, validate=validate.Length(max=200))
    mobile = Text(
        load_default=None,
        allow_none=True,
        max_length=MAX_MOBILE,
        validate=validate.Regexp(MOBILE_PATTERN, error="Digits, spaces, + ( ) -."),
    )
    title = Text(load_default=None, allow_none=True, max_length=200)
    role = fields.String(load_default="staff", validate=validate.OneOf(USER_ROLES))
    language = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(MAIL_LANGUAGES),
        metadata={"description": "Language of the person's mail until they choose (null: zh)"},
    )
    send_invite = fields.Boolean(
        load_default=True,
        metadata={"description": "false: no invitation mail (the code is still answered)"},
    )


class MemberCreateSchema(BaseSchema):
    org = fields.Nested(NewOrgSchema)
    org_id = Id()
    custom_id = Text(required=True, max_length=MAX_CUSTOM_ID)
    group = Text(load_default=None, allow_none=True, max_length=1100)
    contacts = fields.List(
        fields.Nested(ContactCreateSchema), load_default=list, validate=validate.Length(max=200)
    )

    @ma.validates_schema
    def _one_org(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("org" in data) == ("org_id" in data):
            raise ma.ValidationError("Give exactly one of org and org_id.", "org")


class MemberPatchSchema(BaseSchema):
    group = Text(allow_none=True, max_length=1100, metadata={"description": "null: no group"})
    custom_id = Text(max_length=MAX_CUSTOM_ID)


class InvitationStatusSchema(BaseSchema):
    status = fields.String(
        validate=validate.OneOf(INVITATION_STATUSES),
        metadata={"description": "pending, activated or expired"},
    )
    sent_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the invitation mail was queued; null: not"}
    )
    expires_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the code stops working"}
    )


class InvitationResendSummarySchema(BaseSchema):
    resent = fields.Integer(metadata={"description": "People sent a new code"})
    too_soon = fields.Integer(metadata={"description": "Skipped: sent one less than an hour ago"})
    shared = fields.Integer(
        metadata={"description": "Skipped: of orgs shared with another owner (their admins invite)"}
    )


class ContactSchema(BaseSchema):
    id = Id(attribute="contact.id")
    org_id = Id(attribute="contact.org_id")
    user_id = Id(attribute="contact.user_id")
    name = fields.String(attribute="contact.user.name")
    email = fields.String(attribute="contact.user.email", allow_none=True)  # none: mobile only
    mobile = fields.String(attribute="contact.user.mobile", allow_none=True)
    title = fields.String(attribute="contact.user.title", allow_none=True)
    role = fields.String(attribute="contact.user.role")
    activated = fields.Function(
        lambda c: c.contact.user.password_hash is not None, metadata={"type": "boolean"}
    )
    invite_code = fields.String(
        allow_none=True,
        metadata={
            "description": "Single-use invitation code, only in the response that made it "
            "(null in an Idempotency-Key replay); also mailed to the person"
        },
    )
    invitation = fields.Nested(
        InvitationStatusSchema,
        allow_none=True,
        metadata={"description": "null: never invited (nothing to show)"},
    )


class ContactRow:
    """Adapts a plain Contact to the shape ContactSchema reads (no invite code after creation)."""

    def __init__(
        self, contact: Any, invite_code: str | None = None, invitation: Any = None
    ) -> None:
        self.contact = contact
        self.invite_code = invite_code
        self.invitation = invitation


ContactPageSchema = page_of(ContactSchema)


class MemberSchema(BaseSchema):
    org_id = Id(attribute="member.org_id")
    name = fields.String(attribute="member.org.name")
    kind = fields.String(attribute="member.org.kind")
    custom_id = fields.String(attribute="member.custom_id", allow_none=True)
    group = fields.Function(
        lambda v: v.member.group.path if v.member.group else None,
        allow_none=True,
        metadata={"type": "string"},
    )
    tier = fields.String()
    joined = fields.DateTime(attribute="member.joined_at")


class MemberDetailSchema(MemberSchema):
    contacts = fields.List(fields.Nested(ContactSchema))


MemberPageSchema = page_of(MemberSchema)


class MemberQuerySchema(FilterQuery):
    tier = fields.String(validate=_tier, metadata={"pattern": TIER_PATTERN})
    group = Text(max_length=1100)
    kind = fields.String(validate=validate.OneOf(ORG_KINDS))
    q = Text(max_length=100)
    not_activated = fields.Boolean(
        load_default=False,
        metadata={"description": "Only members with a contact invited and not yet activated"},
    )


class ContactQuerySchema(PageQuery):
    org_id = Id()
    q = Text(max_length=100)


class LinkCreateSchema(BaseSchema):
    supplier_id = Id(required=True)
    customer_id = Id(required=True)


class LinkSchema(BaseSchema):
    id = Id()
    supplier_id = Id()
    customer_id = Id()
    created_at = fields.DateTime()


LinkPageSchema = page_of(LinkSchema)


class GraphNodeSchema(BaseSchema):
    org_id = Id()
    name = fields.String()
    kind = fields.String()
    tier = fields.String()
    group = fields.String(allow_none=True)


class GraphLinkSchema(BaseSchema):
    id = Id()
    supplier_id = Id()
    customer_id = Id()


class GraphSchema(BaseSchema):
    nodes = fields.List(fields.Nested(GraphNodeSchema))
    links = fields.List(fields.Nested(GraphLinkSchema))


class TieredOrgSchema(BaseSchema):
    org_id = Id()
    tier = fields.String()


class ImpactSchema(BaseSchema):
    org_id = Id()
    affected = fields.List(fields.Nested(TieredOrgSchema))
    cut_off = fields.List(fields.Nested(TieredOrgSchema))


class SelectorSchema(BaseSchema):
    groups = fields.List(
        Text(max_length=1100), load_default=list, validate=validate.Length(max=100)
    )
    orgs = fields.List(Id(), load_default=list, validate=validate.Length(max=1000))


class RuleCreateSchema(BaseSchema):
    viewers = fields.Nested(SelectorSchema, required=True)
    visible = fields.Nested(SelectorSchema, required=True)


class RuleSchema(BaseSchema):
    id = Id()
    viewers = fields.Nested(SelectorSchema)
    visible = fields.Nested(SelectorSchema)
    created_at = fields.DateTime()


RulePageSchema = page_of(RuleSchema)


class AuditQuerySchema(PageQuery):
    since = UtcDateTime()
    action = Text(max_length=50)


class AuditEventSchema(BaseSchema):
    id = Id()
    at = fields.DateTime()
    user_id = Id(allow_none=True)
    org_id = Id(allow_none=True)
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String(allow_none=True)
    data = fields.Dict()


AuditPageSchema = page_of(AuditEventSchema)
