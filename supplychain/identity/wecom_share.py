"""WeCom's `corpgroup/corp/list_app_share_info`: the partner corps a shared app reaches, by the
app's `agentid` (its id here), a page at a time; the one rule (`apps.orgs_with_app`) decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.auth import Actor
from supplychain.errors import Invalid, NotFound
from supplychain.models import App, Member
from supplychain.schemas.common import parse_id
from supplychain.schemas.wecom import MAX_NUMBER, WeComReply, WeComRequest
from supplychain.services import wecom
from supplychain.services.app_access import orgs_with_app
from supplychain.services.bulk import among_ids
from supplychain.services.chains import chain_graph

MAX_LIMIT = 100


class ShareInfoRequest(WeComRequest):
    agentid = fields.Integer(
        required=True,
        validate=validate.Range(1, 2**63 - 1),
        metadata={"description": "The app's agentid (the `agentid` of POST /chains/{cid}/apps)."},
    )
    business_type = fields.Integer(metadata={"description": "1 (上下游); accepted, ignored."})
    corpid = fields.String(
        validate=validate.Length(max=100), metadata={"description": "Only this partner corp."}
    )
    limit = fields.Integer(
        validate=validate.Range(0, MAX_NUMBER),
        metadata={"description": "1 to 100 (0 or none: 100); more is refused (40058)."},
    )
    cursor = fields.String(validate=validate.Length(max=100))


class ShareCorp(ma.Schema):
    corpid = fields.String()
    corp_name = fields.String()
    agentid = fields.Integer()


class ShareInfoReply(WeComReply):
    ending = fields.Integer(metadata={"description": "1 on the last page."})
    next_cursor = fields.String()
    corp_list = fields.List(fields.Nested(ShareCorp))


@dataclass
class SharePage:
    corps: list[dict[str, Any]]
    ending: bool
    next_cursor: str


def share_info(session: Session, actor: Actor, body: dict[str, Any]) -> SharePage:
    """The corps the app is shared with now (never the owner itself), ordered by corp id."""
    app = session.get(App, body["agentid"])
    if app is None:
        raise NotFound("no such agentid")
    access = wecom.owned_chain(session, actor, app.chain_id)
    access.require_owner_admin()
    limit = body.get("limit") or MAX_LIMIT
    if limit > MAX_LIMIT:
        raise Invalid("limit", {"limit": [f"1 to {MAX_LIMIT}."]})
    cursor = body.get("cursor") or ""
    after = parse_id(cursor) if cursor else 0
    if after is None:
        raise Invalid("cursor", {"cursor": ["Not a next_cursor."]})
    members = set(chain_graph(session, access.chain).tiers) - {access.chain.owner_org_id}
    if body.get("corpid"):
        only = parse_id(body["corpid"])
        members &= {only} if only else set()
    holders = sorted(o for o in orgs_with_app(session, access.chain, app.key, members) if o > after)
    page = holders[:limit]
    rows = session.scalars(
        select(Member).where(
            Member.chain_id == access.chain_id, among_ids(session, Member.org_id, page)
        )
    ).all()
    names = {m.org_id: m.org.name for m in rows}
    more = len(holders) > limit
    return SharePage(
        corps=[{"corpid": str(o), "corp_name": names.get(o, ""), "agentid": app.id} for o in page],
        ending=not more,
        next_cursor=str(page[-1]) if more else "",
    )
