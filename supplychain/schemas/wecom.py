"""The WeCom-compatible API's requests and answers, with WeCom's field names and types (as the
SKIT models under Models/CgibinCorpGroup/ list them). Requests ignore fields we do not use
(SDKs send WeCom's whole request models); every answer carries `errcode` and `errmsg`, and the
rest only when `errcode` is 0.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, pre_load, validate

from supplychain.excel.importer import MAX_DATA_ROWS
from supplychain.ids import MAX_ID

MAX_TEXT = 500  # any text a request carries; the services hold the real limits
MAX_NUMBER = 2**31 - 1  # group numbers and limits


class WeComRequest(ma.Schema):
    """A request body or query: WeCom's fields, others ignored."""

    class Meta:
        unknown = ma.EXCLUDE


def _text(required: bool = False, **kwargs: Any) -> fields.String:
    return fields.String(required=required, validate=validate.Length(max=MAX_TEXT), **kwargs)


class AccessTokenQuery(WeComRequest):
    access_token = fields.String(
        metadata={"description": "From /cgi-bin/gettoken; lives 7 200 s."},
        validate=validate.Length(max=200),
    )


class GetTokenQuery(WeComRequest):
    corpid = fields.String(
        metadata={"description": "An org id."}, validate=validate.Length(max=100)
    )
    corpsecret = fields.String(
        metadata={"description": "An API token (POST /api/v1/me/tokens) of an admin of the org."},
        validate=validate.Length(max=200),
    )


class GetResultQuery(AccessTokenQuery):
    jobid = fields.String(validate=validate.Length(max=100))


class ChainRequest(WeComRequest):
    chain_id = _text(required=True)


class ChainGroupRequest(ChainRequest):
    groupid = fields.Integer(
        validate=validate.Range(1, MAX_NUMBER),
        metadata={"description": "Only the groups below this one (1, the root: all)."},
    )


class CorpInfoListRequest(ChainRequest):
    groupid = fields.Integer(
        validate=validate.Range(1, MAX_NUMBER),
        metadata={"description": "The group (default 1, the root)."},
    )
    fetch_child = fields.Boolean(
        metadata={"description": "1: also the corps of every group below it."}
    )
    cursor = _text(metadata={"description": "next_cursor of the previous page."})
    limit = fields.Integer(
        validate=validate.Range(0, MAX_NUMBER),
        metadata={"description": "1 to 1000 (0 or none: 1000); more is refused (40058)."},
    )


class CorpRequest(ChainRequest):
    corpid = _text(required=True)


class ImportContact(WeComRequest):
    name = _text()
    identity_type = fields.Integer(
        validate=validate.OneOf([1, 2]),
        metadata={"description": "1 a contact (staff), 2 the person in charge (admin)."},
    )
    mobile = _text(metadata={"description": "Keys the person when there is no email."})
    user_custom_id = _text(metadata={"description": "Accepted, not stored."})
    email = _text(metadata={"description": "Extension: keys the person when given."})


class ImportCorp(WeComRequest):
    corp_name = _text()
    custom_id = _text(metadata={"description": "Keys the company in the chain (required here)."})
    group_path = _text(metadata={"description": "Group path, parts separated by '/'."})
    kind = _text(metadata={"description": "Extension: the org's kind (new orgs: other)."})
    contact_info_list = fields.List(fields.Nested(ImportContact))


class ImportRequest(ChainRequest):
    contact_list = fields.List(
        fields.Nested(ImportCorp),
        required=True,
        metadata={"description": f"At most {MAX_DATA_ROWS} contacts in all, as an Excel import."},
    )

    @pre_load
    def refuse_oversized(self, data: Any, **kwargs: Any) -> Any:
        """Count before reading: a list past the Excel import's row limit is refused whole."""
        corps = data.get("contact_list") if isinstance(data, dict) else None
        if isinstance(corps, list):
            rows = len(corps) if len(corps) > MAX_DATA_ROWS else 0
            if not rows:
                for corp in corps:
                    contacts = corp.get("contact_info_list") if isinstance(corp, dict) else None
                    rows += max(len(contacts), 1) if isinstance(contacts, list) else 1
            if rows > MAX_DATA_ROWS:
                raise ma.ValidationError(
                    f"At most {MAX_DATA_ROWS} contacts per import; split the list.",
                    "contact_list",
                )
        return data


class RuleIdRequest(ChainRequest):
    rule_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))


class MemberCorpRange(WeComRequest):
    groupids = fields.List(
        fields.Integer(validate=validate.Range(1, MAX_NUMBER)), validate=validate.Length(max=1000)
    )
    corpids = fields.List(_text(), validate=validate.Length(max=1000))


class OwnerCorpRange(WeComRequest):
    departmentids = fields.List(
        fields.Integer(),
        validate=validate.Length(max=1000),
        metadata={
            "description": "Only 1, WeCom's root department: the whole owner org (it has no "
            "other departments here)."
        },
    )
    userids = fields.List(
        _text(),
        validate=validate.Length(max=1000),
        metadata={"description": "User ids of the owner org's contacts in the chain."},
    )


class RuleInfo(WeComRequest):
    owner_corp_range = fields.Nested(
        OwnerCorpRange,
        metadata={
            "description": "The owner's people the members may see and contact (departmentids "
            "or userids, as WeCom's). Checked and kept as given, for get_rule_info; it narrows "
            "nothing: every member sees all of the owner's contacts already."
        },
    )
    member_corp_range = fields.Nested(
        MemberCorpRange,
        required=True,
        metadata={"description": "The members the rule lets see (the rule's viewers)."},
    )
    visible_corp_range = fields.Nested(
        MemberCorpRange,
        metadata={
            "description": "Extension, not WeCom's: other members they may see (groupids, "
            "corpids). A rule names owner_corp_range, or this, or both."
        },
    )


class AddRuleRequest(ChainRequest):
    rule_info = fields.Nested(RuleInfo, required=True)


# --- answers -----------------------------------------------------------------------------------


class WeComReply(ma.Schema):
    errcode = fields.Integer(required=True, metadata={"description": "0 when the call worked."})
    errmsg = fields.String(required=True)


class TokenReply(WeComReply):
    access_token = fields.String()
    expires_in = fields.Integer()


class ChainItem(ma.Schema):
    chain_id = fields.String()
    chain_name = fields.String()


class ChainListReply(WeComReply):
    chains = fields.List(fields.Nested(ChainItem))


class GroupItem(ma.Schema):
    groupid = fields.Integer()
    group_name = fields.String()
    parentid = fields.Integer()
    order = fields.Integer()


class GroupsReply(WeComReply):
    groups = fields.List(fields.Nested(GroupItem))


class MemberCorp(ma.Schema):
    """A member corp as both get_chain_corpinfo_list and get_chain_corpinfo describe it."""

    groupid = fields.Integer()
    corp_name = fields.String()
    custom_id = fields.String()
    is_joined = fields.Boolean()


class GroupCorp(MemberCorp):
    corpid = fields.String()


class CorpListReply(WeComReply):
    group_corps = fields.List(fields.Nested(GroupCorp))
    has_more = fields.Boolean()
    next_cursor = fields.String()


class CorpInfoReply(WeComReply, MemberCorp):
    qualification_status = fields.Integer(
        metadata={"description": "0: we do not verify companies."}
    )


class JobReply(WeComReply):
    jobid = fields.String()


class FailedContact(ma.Schema):
    mobile = fields.String()
    errcode = fields.Integer()
    errmsg = fields.String()


class FailedCorp(ma.Schema):
    corp_name = fields.String()
    custom_id = fields.String()
    errcode = fields.Integer()
    errmsg = fields.String()
    contact_info_list = fields.List(fields.Nested(FailedContact))


class ImportInvite(ma.Schema):
    custom_id = fields.String(metadata={"description": "The member's custom_id."})
    mobile = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    invite_code = fields.String(
        allow_none=True,
        metadata={
            "description": "While this invitation lives (not activated, expired or replaced); "
            "else null. People with an email get it by mail as well."
        },
    )


class ImportOutcome(ma.Schema):
    chain_id = fields.String()
    import_status = fields.Integer(
        metadata={"description": "1 all imported; 3 none (all or nothing: see fail_list)."}
    )
    fail_list = fields.List(fields.Nested(FailedCorp))
    invite_list = fields.List(
        fields.Nested(ImportInvite),
        metadata={
            "description": "Extension (not in WeCom): the single-use invitation code of each "
            "person the import created or listed anew, to hand to them (POST /auth/activate); "
            "WeCom sends its own SMS instead."
        },
    )


class ResultReply(WeComReply):
    status = fields.Integer(metadata={"description": "1 started, 2 running, 3 done."})
    result = fields.Nested(ImportOutcome)


class RuleIdsReply(WeComReply):
    rule_ids = fields.List(fields.Integer())


class RuleInfoOut(ma.Schema):
    owner_corp_range = fields.Nested(OwnerCorpRange)
    member_corp_range = fields.Nested(MemberCorpRange)
    visible_corp_range = fields.Nested(MemberCorpRange)


class RuleInfoReply(WeComReply):
    rule_info = fields.Nested(RuleInfoOut)


class AddRuleReply(WeComReply):
    rule_id = fields.Integer()
