"""The /cgi-bin calls: parse WeCom's request, call one directory service, answer in WeCom's
shape. Every answer is HTTP 200 with `errcode` (0 when it worked), as WeCom's are; a failed
call changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, request
from werkzeug.exceptions import HTTPException

from supplychain.access import ChainAccess
from supplychain.api.common import Blueprint, JsonParser
from supplychain.db import Transaction, transaction
from supplychain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from supplychain.extensions import db
from supplychain.identity import wecom_share as share
from supplychain.ids import parse_id
from supplychain.models.directory import ROOT_GROUP_NUMBER
from supplychain.schemas import wecom as s
from supplychain.services import members, visibility, wecom, wecom_imports, wecom_rules
from supplychain.services.invitations import shown_invite_list


class WeComParser(JsonParser):
    """Bodies are JSON whatever their Content-Type, as WeCom reads them."""

    any_content_type = True


class _WithoutDefaultError:
    """The Api as documentation sees it, minus its default error response."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, api: Any) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class WeComBlueprint(Blueprint):
    """Documents each call's one answer, HTTP 200: no 422 for bad arguments and no default
    error response, since every failure is a 200 with an errcode here."""

    ARGUMENTS_PARSER = WeComParser()

    def _prepare_arguments_doc(self, doc, doc_info, **kwargs):  # type: ignore[no-untyped-def]
        (doc_info.get("arguments") or {}).pop("responses", None)
        return super()._prepare_arguments_doc(doc, doc_info, **kwargs)

    @staticmethod
    def _prepare_response_doc(doc, doc_info, *, api, **kwargs):  # type: ignore[no-untyped-def]
        return Blueprint._prepare_response_doc(
            doc, doc_info, api=_WithoutDefaultError(api), **kwargs
        )


blp = WeComBlueprint(
    "wecom",
    __name__,
    url_prefix="/cgi-bin",
    description="WeCom-compatible 上下游 (corpgroup) calls for existing WeCom SDKs: HTTP 200 "
    "with `errcode` and `errmsg` on every answer. Authenticated by the `access_token` query "
    "parameter from `gettoken`, not by a bearer token.",
)
NO_BEARER: dict[str, Any] = {"security": []}

# WeCom's error codes (API.md, "WeCom-compatible API").
OK = 0
INVALID_CREDENTIAL = 40001
INVALID_CORPID = 40013
INVALID_ACCESS_TOKEN = 40014
EXPIRED_ACCESS_TOKEN = 42001
EMPTY = 44004
DATA_FORMAT_ERROR = 47001  # a body that is not JSON
BAD_PARAMETER = 40058
NO_PRIVILEGE = 60011
NOT_ALLOWED = 60020


class WeComError(Exception):
    """An answer with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _reply(errcode: int, errmsg: str):  # type: ignore[no-untyped-def]
    # The request commits any answer below 400: a failed call must roll back first.
    db.session.rollback()
    return jsonify({"errcode": errcode, "errmsg": errmsg})


@blp.errorhandler(WeComError)
def _wecom_error(error: WeComError):  # type: ignore[no-untyped-def]
    return _reply(error.errcode, error.errmsg)


def _fields(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        names = []
        for key, value in errors.items():
            name = f"{prefix}{key}"
            if key in ("json", "query"):
                name = prefix.rstrip(".")
            names.extend(_fields(value, f"{name}." if name else ""))
        return names
    messages = errors if isinstance(errors, list) else [errors]
    text = " ".join(str(m) for m in messages if not isinstance(m, dict | list))
    return [f"{prefix.rstrip('.')}: {text}".strip(": ")]


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):  # type: ignore[no-untyped-def]
    if isinstance(error, wecom.AccessTokenExpired):
        return _reply(EXPIRED_ACCESS_TOKEN, error.message)
    if isinstance(error, wecom.UnknownCorp):
        return _reply(INVALID_CORPID, error.message)
    if isinstance(error, wecom.BadSecret):
        return _reply(INVALID_CREDENTIAL, error.message)
    if isinstance(error, Unauthorized):
        return _reply(INVALID_ACCESS_TOKEN, "invalid access_token")
    if isinstance(error, NotFound | Forbidden):
        return _reply(NO_PRIVILEGE, f"no privilege: {error.message}")
    if isinstance(error, Conflict):
        return _reply(NOT_ALLOWED, f"not allowed: {error.message}")
    if isinstance(error, Invalid) and error.errors:
        return _reply(BAD_PARAMETER, "invalid parameter: " + "; ".join(_fields(error.errors)))
    return _reply(BAD_PARAMETER, f"invalid parameter: {error.message}")


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    data = getattr(error, "data", None) or {}
    if data.get("message") == "Malformed JSON body.":
        return _reply(DATA_FORMAT_ERROR, "data format error: the body is not JSON")
    errors = data.get("messages") or data.get("errors")
    if errors:
        return _reply(BAD_PARAMETER, "invalid parameter: " + "; ".join(_fields(errors)))
    if error.code == 413:
        return _reply(BAD_PARAMETER, "invalid parameter: the request is too large")
    return _reply(BAD_PARAMETER, f"invalid parameter: {error.description}")


@blp.before_request
def _authenticate() -> None:
    """Every call but gettoken carries an access token in the query string."""
    if request.endpoint == "wecom.gettoken":
        return
    g.actor = wecom.actor_from_access_token(db.session, request.args.get("access_token"))


def _owned(chain_id: str) -> Any:
    return wecom.owned_chain(db.session, g.actor, parse_id(chain_id))


def _ok(**answer: Any) -> dict[str, Any]:
    return {"errcode": OK, "errmsg": "ok", **answer}


def cgi(
    path: str,
    reply: type,
    *,
    body: type | None = None,
    query: type = s.AccessTokenQuery,
    method: str = "POST",
    transaction_policy: Transaction | None = None,
    endpoint: str | None = None,
) -> Callable[[Callable], Callable]:
    """One /cgi-bin view: its route, WeCom's query (the access token) and body, its reply schema,
    no bearer scheme in the OpenAPI document, and its transaction policy when it declares one."""

    def register(view: Callable) -> Callable:
        view = blp.response(200, reply)(blp.doc(**NO_BEARER)(view))
        if body is not None:
            view = blp.arguments(body)(view)
        view = blp.arguments(query, location="query")(view)
        if transaction_policy is not None:
            view = transaction(transaction_policy)(view)
        options = {"endpoint": endpoint} if endpoint else {}
        return blp.route(path, methods=[method], **options)(view)

    return register


def chain_cgi(
    path: str, reply: type, body: type[s.ChainRequest], *, reads: bool = False
) -> Callable[[Callable], Callable]:
    """A /cgi-bin POST on one of the chains the caller's org owns, named by the body's
    `chain_id`: the view is called with that chain's access and the body. `reads` declares a
    call that only reads (WeCom's reading calls are POSTs too)."""

    def register(view: Callable[[ChainAccess, dict[str, Any]], dict[str, Any]]) -> Callable:
        @wraps(view)
        def in_owned_chain(_query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
            return view(_owned(body["chain_id"]), body)

        policy = Transaction.READS if reads else None
        return cgi(path, reply, body=body, transaction_policy=policy)(in_owned_chain)

    return register


# --- gettoken and chains ---------------------------------------------------------------------------


@cgi(
    "/gettoken",
    s.TokenReply,
    query=s.GetTokenQuery,
    method="GET",
    transaction_policy=Transaction.WRITES,
    endpoint="gettoken",
)
def gettoken(query: dict[str, Any]) -> dict[str, Any]:
    """An access token for org `corpid`; `corpsecret` is an API token of one of its admins."""
    issued = wecom.issue_access_token(
        db.session, parse_id(query.get("corpid")), query.get("corpsecret") or ""
    )
    return _ok(access_token=issued.secret, expires_in=issued.expires_in)


@cgi("/corpgroup/corp/get_chain_list", s.ChainListReply, method="GET")
def get_chain_list(_query: dict[str, Any]) -> dict[str, Any]:
    """The chains the org owns."""
    chains = wecom.owned_chains(db.session, g.actor)
    return _ok(chains=[{"chain_id": str(c.id), "chain_name": c.name} for c in chains])


@chain_cgi("/corpgroup/corp/get_chain_group", s.GroupsReply, s.ChainGroupRequest, reads=True)
def get_chain_group(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """The chain's groups; the root is group 1, every group keeps its number for good."""
    groups = wecom.chain_groups(db.session, access)
    top = wecom.group_numbered(db.session, access, body.get("groupid", ROOT_GROUP_NUMBER))
    number_of = {group.id: group.number for group in groups}
    if top is not None:
        groups = [group for group in groups if group.path.startswith(top.path + "/")]
    return _ok(
        groups=[
            {
                "groupid": group.number,
                "group_name": group.name,
                "parentid": number_of.get(group.parent_id or 0, ROOT_GROUP_NUMBER),
                "order": group.number,
            }
            for group in groups
        ]
    )


@chain_cgi(
    "/corpgroup/corp/get_chain_corpinfo_list", s.CorpListReply, s.CorpInfoListRequest, reads=True
)
def get_chain_corpinfo_list(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """The chain's member corps in a group (and below it with fetch_child), a page at a time."""
    group = wecom.group_numbered(db.session, access, body.get("groupid", ROOT_GROUP_NUMBER))
    cursor = body.get("cursor") or ""
    after = parse_id(cursor) if cursor else 0
    if after is None:
        raise WeComError(BAD_PARAMETER, "invalid parameter: cursor")
    limit = body.get("limit") or wecom.MAX_PAGE
    if not 1 <= limit <= wecom.MAX_PAGE:
        raise WeComError(BAD_PARAMETER, f"invalid parameter: limit must be 1 to {wecom.MAX_PAGE}")
    page, has_more = wecom.members_after(
        db.session,
        access,
        group=group,
        with_subgroups=bool(body.get("fetch_child")),
        after=after,
        limit=limit,
    )
    return _ok(
        group_corps=[_corp(member) for member in page],
        has_more=has_more,
        next_cursor=str(page[-1].id) if has_more else "",
    )


def _corp(member: Any) -> dict[str, Any]:
    return {
        "groupid": member.group.number if member.group else ROOT_GROUP_NUMBER,
        "corpid": str(member.org_id),
        "corp_name": member.org.name,
        "custom_id": member.custom_id or "",
        # Only current members are listed: each one has joined.
        "is_joined": member.is_current,
    }


@chain_cgi("/corpgroup/corp/get_chain_corpinfo", s.CorpInfoReply, s.CorpRequest, reads=True)
def get_chain_corpinfo(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """One member corp of the chain."""
    member = wecom.partner(db.session, access, parse_id(body["corpid"]))
    corp = _corp(member)
    del corp["corpid"]
    return _ok(**corp, qualification_status=0)


@chain_cgi("/corpgroup/corp/remove_corp", s.WeComReply, s.CorpRequest)
def remove_corp(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """Remove a member corp, as DELETE /chains/{cid}/members/{org_id} does."""
    member = wecom.partner(db.session, access, parse_id(body["corpid"]))
    members.remove_member(db.session, access, member.org_id)
    return _ok()


# --- contact import --------------------------------------------------------------------------------


@chain_cgi("/corpgroup/import_chain_contact", s.JobReply, s.ImportRequest)
def import_chain_contact(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """Import member corps and their contacts as the Excel import does (all or nothing); the
    job is done when this answers, and getresult reports it."""
    if not body["contact_list"]:
        raise WeComError(EMPTY, "empty contact_list")
    job = wecom_imports.run_import_job(db.session, access, body["contact_list"])
    return _ok(jobid=job.jobid)


@cgi("/corpgroup/getresult", s.ResultReply, query=s.GetResultQuery, method="GET")
def getresult(query: dict[str, Any]) -> dict[str, Any]:
    """An import job's state and, once done, its outcome."""
    job = wecom_imports.import_job(db.session, g.actor, query.get("jobid"))
    outcome = job.result or {}
    result = {
        "chain_id": str(job.chain_id),
        "import_status": outcome.get("import_status"),
        "fail_list": outcome.get("fail_list", []),
        "invite_list": shown_invite_list(db.session, outcome.get("invite_list", [])),
    }
    return _ok(status=job.status, result=result)


# --- visibility rules ------------------------------------------------------------------------------


@chain_cgi("/corpgroup/rule/list_ids", s.RuleIdsReply, s.ChainRequest, reads=True)
def rule_list_ids(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """The ids of the chain's visibility rules."""
    rules = db.session.scalars(visibility.rules_query(access))
    return _ok(rule_ids=[rule.id for rule in rules])


@chain_cgi("/corpgroup/rule/get_rule_info", s.RuleInfoReply, s.RuleIdRequest, reads=True)
def rule_get_rule_info(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """One visibility rule in WeCom's shape: owner_corp_range as add_rule was given it,
    member_corp_range the members it lets see, and the extension visible_corp_range the other
    members they see by it."""
    rule = visibility.get_rule(db.session, access, body["rule_id"])
    return _ok(rule_info=wecom_rules.rule_info(db.session, access, rule))


def _selector(access: Any, corp_range: dict[str, Any], name: str) -> dict[str, list]:
    corpids = corp_range.get("corpids", [])
    orgs = [parse_id(corpid) for corpid in corpids]
    if None in orgs:
        raise WeComError(BAD_PARAMETER, f"invalid parameter: rule_info.{name}.corpids")
    try:
        groups = wecom.groups_numbered(db.session, access, corp_range.get("groupids", []))
    except Invalid:
        raise WeComError(BAD_PARAMETER, f"invalid parameter: rule_info.{name}.groupids")
    return {"groups": groups, "orgs": orgs}


@chain_cgi("/corpgroup/rule/add_rule", s.AddRuleReply, s.AddRuleRequest)
def rule_add_rule(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """A rule as WeCom's: the corps of member_corp_range may see (and contact) the owner's
    people of owner_corp_range, and, by the extension visible_corp_range, those member corps.
    Partners see every owner contact already: the owner's side is checked and kept (get_rule_info
    answers with it) and the rule shows them the owner org, nothing narrower."""
    info = body["rule_info"]
    owner = info.get("owner_corp_range") or {}
    visible = info.get("visible_corp_range")
    rule = wecom_rules.add_rule(
        db.session,
        access,
        _selector(access, info["member_corp_range"], "member_corp_range"),
        _selector(access, visible, "visible_corp_range") if visible is not None else None,
        wecom_rules.owner_range(
            db.session, access, owner.get("departmentids", []), owner.get("userids", [])
        ),
    )
    return _ok(rule_id=rule.id)


@chain_cgi("/corpgroup/rule/delete_rule", s.WeComReply, s.RuleIdRequest)
def rule_delete_rule(access: ChainAccess, body: dict[str, Any]) -> dict[str, Any]:
    """Delete a visibility rule."""
    visibility.delete_rule(db.session, access, body["rule_id"])
    return _ok()


@cgi(
    "/corpgroup/corp/list_app_share_info",
    share.ShareInfoReply,
    body=share.ShareInfoRequest,
    transaction_policy=Transaction.READS,
)
def list_app_share_info(_query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The partner corps a custom app (by its `agentid`) is shared with now (limit <= 100)."""
    page = share.share_info(db.session, g.actor, body)
    return _ok(ending=int(page.ending), next_cursor=page.next_cursor, corp_list=page.corps)


BLUEPRINTS = [blp]
