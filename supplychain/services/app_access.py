"""Who may use an app now: the grants' one rule (`grant_covers`, `may_use`), the check every app
view makes (`require_app`) and its bulk form (`orgs_with_app`). Below the app management
(services/apps.py) and the identity provider's access service, which both ask it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Forbidden
from supplychain.models import App, Chain, Grant, Group, Member
from supplychain.services.bulk import among_ids
from supplychain.services.chains import chain_graph

BUILTIN_APPS = {
    "notices": ("Notices", "Supply and demand notices with read, acknowledgment and quantities"),
    "orders": ("Orders", "Orders acknowledged line by line, shipped and received"),
    "reconciliation": ("Reconciliation", "Monthly or weekly reconciliation workbooks"),
}


def grant_covers(grant: Grant, org_id: int, tier: str, group_path: str | None) -> bool:
    """Whether a live grant covers an org that is a current member of its chain, in tier `tier`
    (as the graph says now) and group `group_path`: scope `all` every partner, `org` that org,
    `tier` the orgs of that tier, `group` the orgs of that group or a subgroup of it."""
    value = grant.scope_value
    if grant.scope_type == "all":
        return True
    if grant.scope_type == "org":
        return value == str(org_id)
    if grant.scope_type == "tier":
        return value == tier
    if grant.scope_type == "group":
        return (
            group_path is not None
            and value is not None
            and (group_path == value or group_path.startswith(value + "/"))
        )
    return False


def may_use(
    grants: list[Grant], owner_org_id: int, org_id: int, tier: str, group_path: str | None
) -> bool:
    """The one rule of app access: the chain's owner org always; a partner (a current member)
    while one of the app's live `grants` covers it. `require_app` and `orgs_with_app` both ask
    it."""
    return org_id == owner_org_id or any(grant_covers(g, org_id, tier, group_path) for g in grants)


def _group_path(access: ChainAccess) -> str | None:
    return access.member.group.path if access.member.group else None


# Every app request checks grants: the statements are built once, with bound parameters.
_LIVE_GRANTS = select(Grant).where(
    Grant.chain_id == bindparam("chain_id"), Grant.revoked_at.is_(None)
)
_LIVE_APP_GRANTS = _LIVE_GRANTS.where(Grant.app_key == bindparam("app_key"))


def _live_grants(session: Session, chain_id: int, app_key: str | None = None) -> list[Grant]:
    if app_key is None:
        return list(session.scalars(_LIVE_GRANTS, {"chain_id": chain_id}))
    return list(session.scalars(_LIVE_APP_GRANTS, {"chain_id": chain_id, "app_key": app_key}))


def usable_app_keys(session: Session, access: ChainAccess) -> list[str]:
    """App keys the caller's org may use in the chain: every app for the owner, granted ones else."""
    custom = list(session.scalars(select(App.key).where(App.chain_id == access.chain_id)))
    if access.is_owner:
        return [*BUILTIN_APPS, *sorted(custom)]
    org_id = access.actor.org_id
    tier = chain_graph(session, access.chain).tier_of(org_id)
    group = _group_path(access)
    granted = {
        g.app_key
        for g in _live_grants(session, access.chain_id)
        if may_use([g], access.chain.owner_org_id, org_id, tier, group)
    }
    return [key for key in [*BUILTIN_APPS, *sorted(custom)] if key in granted]


def require_app(session: Session, access: ChainAccess, app_key: str) -> None:
    """403 unless the caller's org may use `app_key` here now (owner always; partners by grant:
    `may_use`)."""
    if access.is_owner:
        return
    grants = _live_grants(session, access.chain_id, app_key)
    if grants:
        org_id = access.actor.org_id
        tier = chain_graph(session, access.chain).tier_of(org_id)
        if may_use(grants, access.chain.owner_org_id, org_id, tier, _group_path(access)):
            return
    raise Forbidden(f"The app '{app_key}' is not shared with your org in this chain.")


def orgs_with_app(
    session: Session,
    chain: Chain,
    app_key: str,
    org_ids: Iterable[int],
    tiers: Mapping[int, str] | None = None,
) -> set[int]:
    """Those of `org_ids` that may use `app_key` in the chain now, by the rule `require_app`
    applies (`may_use`): the owner; current members covered by a live grant (orgs that are no
    current member never). At most two statements (the app's live grants; the members' groups,
    when a grant is by group) and the chain graph, whatever the number of orgs. `tiers` is the
    chain graph's tiers when the caller has them already (one graph for several apps)."""
    ids = set(org_ids)
    holders = ids & {chain.owner_org_id}
    if not ids - holders:
        return holders
    grants = _live_grants(session, chain.id, app_key)
    if not grants:
        return holders
    if tiers is None:
        tiers = chain_graph(session, chain).tiers
    members = ids & tiers.keys()
    groups: dict[int, str | None] = {}
    if any(g.scope_type == "group" for g in grants):
        groups = dict(
            session.execute(
                select(Member.org_id, Group.path)
                .join(Group, Group.id == Member.group_id)
                .where(
                    Member.chain_id == chain.id,
                    Member.is_current,
                    among_ids(session, Member.org_id, sorted(members)),
                )
            ).all()
        )
    return holders | {
        o for o in members if may_use(grants, chain.owner_org_id, o, tiers[o], groups.get(o))
    }
