"""The demo network: a seed file loaded through the directory services, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess, chain_access
from supplychain.auth import Actor, hash_password
from supplychain.config import ROOT
from supplychain.demo import activity as demo_activity
from supplychain.errors import Conflict, Invalid
from supplychain.models import Chain, ReconciliationRun, User
from supplychain.models.base import utcnow
from supplychain.services import apps, chains, links, members, visibility
from supplychain.services.accounts import bootstrap_admin, find_user_by_email
from supplychain.services.audit import record_action

DEFAULT_SEED = str(ROOT / "seeds" / "demo.json")
# How links in a seed file name the chain's owner (members are named by their custom_id).
CORE = "core"


def read_seed(path: str | Path) -> dict[str, Any]:
    """Parse a seed file; 422 when it cannot be read or is not a JSON object."""
    try:
        seed = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Invalid(f"Cannot read the seed file {path}: {exc}", {"file": [str(exc)]})
    if not isinstance(seed, dict):
        raise Invalid("A seed file holds one JSON object.", {"file": ["Not a JSON object."]})
    return seed


def load_demo(session: Session, path: str | Path = DEFAULT_SEED) -> list[dict[str, str]]:
    """Build the seed's network unless its chain exists already; return its logins. Only flushes."""
    seed = read_seed(path)
    password = seed["password"]
    owner = seed["owner"]
    admin = find_user_by_email(session, owner["admin"]["email"])
    if admin is None:
        admin = _bootstrap_owner(session, owner, password)
    elif admin.role != "admin":
        raise Conflict(
            "The seed's owner admin exists but is not an admin.", {"owner": ["Not an admin."]}
        )
    actor = Actor(user=admin, token_id=0)
    if _find_chain(session, admin.org_id, seed["chain"]["name"]) is None:
        _build_network(session, actor, seed, password)
        chain = _find_chain(session, admin.org_id, seed["chain"]["name"])
        assert chain is not None
        demo_activity.play_activity(session, chain, seed.get("activity", {}))
    session.flush()
    return [
        {"role": login["role"], "email": login["email"], "password": password}
        for login in seed["logins"]
    ]


def produce_demo_runs(
    engine: Engine, reports_dir: str, path: str | Path = DEFAULT_SEED
) -> list[ReconciliationRun]:
    """The seed's reconciliation runs for its chain, made once; call after `load_demo` committed
    (a run commits in its own sessions). Later calls return the runs as they are."""
    seed = read_seed(path)
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        admin = find_user_by_email(session, seed["owner"]["admin"]["email"])
        chain = None if admin is None else _find_chain(session, admin.org_id, seed["chain"]["name"])
        if chain is None:
            return []
        chain_id = chain.id
        wanted = demo_activity.run_periods(chain, seed.get("activity", {}))
    return demo_activity.produce_runs(engine, reports_dir, chain_id, wanted)


def answer_demo_statements(session: Session, path: str | Path = DEFAULT_SEED) -> int:
    """The seed's answers to last month's statements (confirmed, disputed, resolved), given once;
    call after `produce_demo_runs` (the run made the statements ready). Returns the answers
    given (0 when given before). Only flushes."""
    seed = read_seed(path)
    admin = find_user_by_email(session, seed["owner"]["admin"]["email"])
    chain = None if admin is None else _find_chain(session, admin.org_id, seed["chain"]["name"])
    if chain is None:
        return 0
    return demo_activity.answer_statements(session, chain, seed.get("activity", {}))


def _bootstrap_owner(session: Session, owner: dict[str, Any], password: str) -> User:
    spec = owner["admin"]
    issued = bootstrap_admin(
        session, owner["org"]["name"], owner["org"]["kind"], spec["email"], spec["name"], password
    )
    issued.user.mobile = spec.get("mobile")
    issued.user.title = spec.get("title")
    return issued.user


def _find_chain(session: Session, owner_org_id: int, name: str) -> Chain | None:
    return session.scalar(
        select(Chain)
        .where(Chain.owner_org_id == owner_org_id, Chain.name == name)
        .order_by(Chain.id)
        .limit(1)
    )


def _contact(spec: dict[str, Any]) -> members.NewContact:
    return members.NewContact(
        name=spec["name"],
        email=spec["email"],
        mobile=spec.get("mobile"),
        title=spec.get("title"),
        role=spec.get("role", "staff"),
        send_invite=False,  # demo people are given passwords, not invitation mail
    )


def _build_network(session: Session, actor: Actor, seed: dict[str, Any], password: str) -> None:
    """Chain, owner staff, members with contacts, links and rules, each through its service."""
    spec = seed["chain"]
    chain = chains.create_chain(
        session,
        actor,
        spec["name"],
        spec.get("currency", "CNY"),
        spec.get("timezone", "Asia/Shanghai"),
    )
    access = chain_access(session, actor, chain.id)
    invited: list[members.AddedContact] = [
        members.add_contact(session, access, actor.org_id, _contact(staff))
        for staff in seed["owner"].get("staff", [])
    ]
    org_ids = {CORE: actor.org_id}
    for member in seed.get("members", []):
        if member["kind"] not in members.org_kinds():
            raise Invalid(
                f"Unknown org kind for {member['custom_id']}.", {"kind": [member["kind"]]}
            )
        view, added = members.add_member(
            session,
            access,
            org_id=None,
            new_org={"name": member["name"], "kind": member["kind"]},
            custom_id=member["custom_id"],
            group_path=member.get("group"),
            contacts=[_contact(c) for c in member.get("contacts", [])],
        )
        org_ids[member["custom_id"]] = view.member.org_id
        invited.extend(added)
    for supplier, customer in seed.get("links", []):
        links.create_link(session, access, _org_id(org_ids, supplier), _org_id(org_ids, customer))
    for rule in seed.get("rules", []):
        visibility.create_rule(
            session,
            access,
            _selector(org_ids, rule.get("viewers", {})),
            _selector(org_ids, rule.get("visible", {})),
        )
    for custom in seed.get("apps", []):
        # Custom apps; with redirect URIs an OpenID Connect client whose secret nobody saw:
        # the owner makes one on the sharing page ("New secret") when pointing the app here.
        from supplychain.identity.app_clients import register

        register(session, access, **custom, allow_private=True)
    for grant in seed.get("grants", []):
        scope = grant["scope"]
        apps.create_grant(session, access, grant["app"], scope["type"], scope.get("value"))
    _set_demo_password(session, access, invited, password)


def _org_id(org_ids: dict[str, int], custom_id: str) -> int:
    if custom_id not in org_ids:
        raise Invalid(
            f"The seed names an unknown member: {custom_id}.", {"links": [f"Unknown: {custom_id}"]}
        )
    return org_ids[custom_id]


def _selector(org_ids: dict[str, int], selector: dict[str, list]) -> dict[str, list]:
    """A rule selector with custom ids (or `core`) replaced by org ids."""
    return {
        "groups": list(selector.get("groups", [])),
        "orgs": [_org_id(org_ids, custom_id) for custom_id in selector.get("orgs", [])],
    }


def _set_demo_password(
    session: Session,
    access: ChainAccess,
    invited: list[members.AddedContact],
    password: str,
) -> None:
    """Activate the invited people with the demo password, so the printed logins work at once."""
    hashed: str | None = None
    for added in invited:
        user = added.contact.user
        if user.password_hash is not None:
            continue  # an existing person keeps the password they chose
        # One hash for all: the demo password is public anyway, and scrypt costs ~50 ms a time.
        hashed = hashed or hash_password(password)
        user.password_hash = hashed
        user.invite_code_hash = None
        user.activated_at = utcnow()
        record_action(
            session, access, "user.activate", "user", user.id, data={"source": "seed-demo"}
        )
