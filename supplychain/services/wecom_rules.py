"""WeCom's visibility rules on the chain's: how a WeCom rule (`owner_corp_range`,
`member_corp_range`) becomes a visibility rule (`services.visibility`) and reads back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.ids import parse_id
from supplychain.models import Contact, VisibilityRule
from supplychain.services.visibility import create_rule
from supplychain.services.wecom import group_numbers

# WeCom's root department: the whole corp. The owner org has no other departments here.
ROOT_DEPARTMENT = 1
_RANGES = {"viewers": "member_corp_range", "visible": "visible_corp_range"}
_SELECTOR_KEYS = {"groups": "groupids", "orgs": "corpids"}


def owner_range(
    session: Session, access: ChainAccess, departmentids: list[int], userids: list[str]
) -> dict[str, list] | None:
    """WeCom's `owner_corp_range` (the owner's people the members may see and contact) checked
    against the chain, duplicates dropped, order kept; None when it names nothing.
    `departmentids`: only 1, WeCom's root department (the whole owner org: it has no other
    departments here). `userids`: user ids of the owner's contacts in this chain."""
    departments = list(dict.fromkeys(departmentids))
    unknown = [str(d) for d in departments if d != ROOT_DEPARTMENT]
    if unknown:
        raise Invalid(
            "Bad rule.",
            {
                "rule_info": {
                    "owner_corp_range": {
                        "departmentids": [
                            f"No department {', '.join(unknown)}: the owner corp has only "
                            f"department {ROOT_DEPARTMENT}, all its people."
                        ]
                    }
                }
            },
        )
    given = list(dict.fromkeys(userids))
    ids = {userid: parse_id(userid) for userid in given}
    contacts = set(
        session.scalars(
            select(Contact.user_id).where(
                Contact.chain_id == access.chain_id,
                Contact.org_id == access.chain.owner_org_id,
                Contact.user_id.in_([i for i in ids.values() if i is not None]),
            )
        )
    )
    strangers = [userid for userid, i in ids.items() if i not in contacts]
    if strangers:
        raise Invalid(
            "Bad rule.",
            {
                "rule_info": {
                    "owner_corp_range": {
                        "userids": [
                            f"Not contacts of the owner corp in this chain: {', '.join(strangers)}"
                        ]
                    }
                }
            },
        )
    if not departments and not given:
        return None
    return {"departmentids": departments, "userids": [str(ids[u]) for u in given]}


def add_rule(
    session: Session,
    access: ChainAccess,
    viewers: dict[str, list],
    visible: dict[str, list] | None,
    owner: dict[str, list] | None,
) -> VisibilityRule:
    """A WeCom rule as a visibility rule: the members of `viewers` (member_corp_range) see the
    owner's people of `owner` (owner_corp_range) and the members of `visible` (our extension
    visible_corp_range). The owner's side is the owner org in `visible`: partners see every
    owner contact already, so it grants nothing more; it is kept to be echoed."""
    access.require_owner_admin()
    visible = visible or {"groups": [], "orgs": []}
    if owner is None and not visible["groups"] and not visible["orgs"]:
        raise Invalid(
            "Empty rule.",
            {
                "rule_info": {
                    "owner_corp_range": [
                        "Name departmentids or userids (or members in visible_corp_range)."
                    ]
                }
            },
        )
    if owner is not None:
        visible = {**visible, "orgs": [*visible["orgs"], access.chain.owner_org_id]}
    try:
        return create_rule(session, access, viewers, visible, owner_range=owner)
    except Invalid as exc:
        # The visibility service names its own fields (viewers.orgs): say WeCom's.
        errors = {
            _RANGES.get(side, side): {_SELECTOR_KEYS.get(k, k): v for k, v in problems.items()}
            if isinstance(problems, dict)
            else problems
            for side, problems in (exc.errors or {}).items()
        }
        raise Invalid(exc.message, {"rule_info": errors}) from exc


def rule_info(session: Session, access: ChainAccess, rule: VisibilityRule) -> dict[str, Any]:
    """A visibility rule in get_rule_info's shape: `owner_corp_range` as add_rule was given it
    (empty for a rule made by POST /rules), `member_corp_range` its viewers, and the extension
    `visible_corp_range` the members it shows (without the owner org a WeCom rule put there)."""
    visible_orgs = list(rule.visible.get("orgs", []))
    if rule.owner_range is not None:
        visible_orgs = [o for o in visible_orgs if o != access.chain.owner_org_id]

    def corp_range(groups: list[str], orgs: list[int]) -> dict[str, list]:
        return {
            "groupids": group_numbers(session, access, groups),
            "corpids": [str(org_id) for org_id in orgs],
        }

    owner = rule.owner_range or {}
    return {
        "owner_corp_range": {
            "departmentids": list(owner.get("departmentids", [])),
            "userids": list(owner.get("userids", [])),
        },
        "member_corp_range": corp_range(
            rule.viewers.get("groups", []), rule.viewers.get("orgs", [])
        ),
        "visible_corp_range": corp_range(rule.visible.get("groups", []), visible_orgs),
    }
