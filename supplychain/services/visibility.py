"""What a partner may see of the chain's members: the owner's visibility rules, as one SQL
clause the member, contact and notice queries share, and the rules themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid, NotFound
from supplychain.models import Group, Member, VisibilityRule
from supplychain.services.audit import record_action
from supplychain.services.groups import find_group, normalise_group_path, paths_within


def _rule_matches_viewer(rule: VisibilityRule, org_id: int, group_path: str | None) -> bool:
    viewers = rule.viewers
    if org_id in viewers.get("orgs", []):
        return True
    if group_path is None:
        return False
    return any(
        group_path == path or group_path.startswith(path + "/")
        for path in viewers.get("groups", [])
    )


def visible_members_clause(session: Session, access: ChainAccess) -> ColumnElement[bool] | None:
    """SQL over Member and Group: the members a partner may see (None: the owner sees all)."""
    if access.is_owner:
        return None
    own_group = access.member.group.path if access.member.group else None
    org_ids = {access.chain.owner_org_id, access.actor.org_id}
    paths: list[str] = []
    rules = session.scalars(
        select(VisibilityRule).where(VisibilityRule.chain_id == access.chain_id)
    )
    for rule in rules:
        if _rule_matches_viewer(rule, access.actor.org_id, own_group):
            org_ids.update(rule.visible.get("orgs", []))
            paths.extend(rule.visible.get("groups", []))
    return or_(Member.org_id.in_(sorted(org_ids)), paths_within(Group.path, paths))


def _resolve_selector(
    session: Session, chain_id: int, selector: dict[str, list], field_name: str
) -> dict[str, list]:
    errors: dict[str, Any] = {}
    paths = []
    for i, raw in enumerate(selector.get("groups", [])):
        try:
            path = normalise_group_path(raw, "path")
        except Invalid:
            errors.setdefault("groups", {})[str(i)] = ["Invalid group path."]
            continue
        if find_group(session, chain_id, path) is None:
            errors.setdefault("groups", {})[str(i)] = [f"Unknown group: {path}"]
        paths.append(path)
    orgs = sorted(set(selector.get("orgs", [])))
    known = (
        set(
            session.scalars(
                select(Member.org_id).where(
                    Member.chain_id == chain_id,
                    Member.org_id.in_(orgs),
                    Member.is_current,
                )
            )
        )
        if orgs
        else set()
    )
    unknown = [str(o) for o in orgs if o not in known]
    if unknown:
        errors["orgs"] = [f"Not members of this chain: {', '.join(unknown)}"]
    if errors:
        raise Invalid("Unknown groups or orgs in the rule.", {field_name: errors})
    if not paths and not orgs:
        raise Invalid("Empty selector.", {field_name: ["Name at least one group or org."]})
    return {"groups": sorted(set(paths)), "orgs": orgs}


def create_rule(
    session: Session,
    access: ChainAccess,
    viewers: dict[str, list],
    visible: dict[str, list],
    *,
    owner_range: dict[str, list] | None = None,
) -> VisibilityRule:
    """Let members matched by `viewers` see members and contacts matched by `visible`;
    `owner_range` is what a WeCom add_rule said of the owner's side, kept to be echoed."""
    access.require_owner_admin()
    rule = VisibilityRule(
        chain_id=access.chain_id,
        viewers=_resolve_selector(session, access.chain_id, viewers, "viewers"),
        visible=_resolve_selector(session, access.chain_id, visible, "visible"),
        owner_range=owner_range,
    )
    session.add(rule)
    session.flush()
    data: dict[str, Any] = {"viewers": _jsonable(rule.viewers), "visible": _jsonable(rule.visible)}
    if owner_range is not None:
        data["owner_range"] = owner_range
    record_action(session, access, "rule.create", "rule", rule.id, data=data)
    return rule


def _jsonable(selector: dict[str, list]) -> dict[str, list]:
    return {"groups": selector["groups"], "orgs": [str(o) for o in selector["orgs"]]}


def rules_query(access: ChainAccess) -> Select:
    """The chain's visibility rules; owner admins only."""
    access.require_owner_admin()
    return (
        select(VisibilityRule)
        .where(VisibilityRule.chain_id == access.chain_id)
        .order_by(VisibilityRule.id)
    )


def get_rule(session: Session, access: ChainAccess, rule_id: int | None) -> VisibilityRule:
    """One rule of the chain, or 404."""
    access.require_owner_admin()
    rule = session.get(VisibilityRule, rule_id) if rule_id else None
    if rule is None or rule.chain_id != access.chain_id:
        raise NotFound("No such rule.")
    return rule


def delete_rule(session: Session, access: ChainAccess, rule_id: int | None) -> None:
    """Remove a visibility rule; what it showed is hidden on the next request."""
    rule = get_rule(session, access, rule_id)
    session.delete(rule)
    record_action(session, access, "rule.delete", "rule", rule.id)
