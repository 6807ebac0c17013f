"""Schemas of the partner import: the upload, the dry-run switch and the result."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import fields

from supplychain.excel.importer import MAX_DATA_ROWS, MAX_UPLOAD_BYTES
from supplychain.schemas.common import BaseSchema


class ImportQuerySchema(BaseSchema):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Validate and count what would happen; save nothing (200)."},
    )
    send_invites = fields.Boolean(
        load_default=True,
        metadata={
            "description": "false: mail no invitations (the codes are still in `invites`; "
            "they can be sent later with POST .../contacts/{user_id}/invite)."
        },
    )


class ImportUploadSchema(BaseSchema):
    file = Upload(
        required=True,
        metadata={
            "description": f"The filled-in template (.xlsx, at most {MAX_UPLOAD_BYTES} bytes, "
            f"{MAX_DATA_ROWS} data rows); one row per contact."
        },
    )


class InviteSchema(BaseSchema):
    email = fields.String()
    invite_code = fields.String(
        allow_none=True,
        metadata={
            "description": "Single-use; shown only here (null in an Idempotency-Key replay), "
            "and mailed to the person when they have an email"
        },
    )
    custom_id = fields.String()


class InviteList(fields.List):
    """The invites as InviteSchema dumps each (text fields, None kept as null), without a nested
    schema run per item: an import answers with up to 20 000 of them."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return [{name: _text(getattr(invite, name)) for name in _INVITE_FIELDS} for invite in value]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


_INVITE_FIELDS = tuple(InviteSchema._declared_fields)
# InviteList writes fields.String's output; another kind of field would need its own.
assert all(isinstance(f, fields.String) for f in InviteSchema._declared_fields.values())


class ImportResultSchema(BaseSchema):
    dry_run = fields.Boolean()
    rows = fields.Integer(metadata={"description": "Data rows read (blank rows skipped)"})
    created = fields.Integer(metadata={"description": "New member companies"})
    updated = fields.Integer(metadata={"description": "Members whose name or group changed"})
    unchanged = fields.Integer(metadata={"description": "Members already as in the sheet"})
    contacts_created = fields.Integer(metadata={"description": "People newly listed as contacts"})
    groups_created = fields.Integer()
    invites = InviteList(
        fields.Nested(InviteSchema),
        metadata={
            "description": "Invitation codes of the new contacts not yet activated (empty in a "
            "dry run); give each to its person, who activates with POST /auth/activate."
        },
    )
