"""Grants: which partners may use an app, by org, tier (as the graph says now) or group."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.models import Group, Member
from supplychain.services import app_access, apps, links, members
from supplychain.services.chains import bump_graph_version
from tests.factories import LinkFactory, MemberFactory
from tests.integration.conftest import Net

APP = "reconciliation"  # the fixture shares notices and orders with everyone, not this one


def _holders(net: Net) -> set[str]:
    return {
        key
        for key in ("S1", "D1a", "D1b", "D2")
        if APP in app_access.usable_app_keys(net.session, net.as_(key))
    }


def _grant(net: Net, scope: str, value: str | None):
    return apps.create_grant(net.session, net.as_("owner"), APP, scope, value)


def test_a_tier_grant_follows_the_graph(net: Net):
    assert _holders(net) == set()
    _grant(net, "tier", "D1")
    assert _holders(net) == {"D1a", "D1b"}
    with pytest.raises(Forbidden):
        app_access.require_app(net.session, net.as_("D2"), APP)
    # Linked straight to the owner, D2 moves to tier D1 and gains the app.
    links.create_link(net.session, net.as_("owner"), net.org("owner"), net.org("D2"))
    assert _holders(net) == {"D1a", "D1b", "D2"}
    app_access.require_app(net.session, net.as_("D2"), APP)


def test_group_and_org_grants_and_revocation(net: Net):
    north = _grant(net, "group", "Dealers/North China")  # with its subgroups
    assert _holders(net) == {"D1a", "D2"}
    _grant(net, "org", str(net.org("S1")))
    assert _holders(net) == {"D1a", "D2", "S1"}
    apps.revoke_grant(net.session, net.as_("owner"), north.id)
    assert _holders(net) == {"S1"}


def test_grants_name_what_the_chain_has_once_and_owner_admins_give_them(net: Net):
    _grant(net, "tier", "D1")
    with pytest.raises(Conflict):
        _grant(net, "tier", "D1")
    for scope, value in [
        ("tier", "X9"),
        ("group", "Nowhere"),
        ("org", str(net.org("outsider"))),
        ("all", "D1"),
        ("org", None),
    ]:
        with pytest.raises(Invalid):
            _grant(net, scope, value)
    with pytest.raises(Invalid):
        apps.create_grant(net.session, net.as_("owner"), "payroll", "all", None)
    for who in ("staff", "D1a"):
        with pytest.raises(Forbidden):
            apps.create_grant(net.session, net.as_(who), APP, "all", None)


# --- who may use an app: one rule for one caller (require_app) and for many orgs at once -------

SCOPES = [
    [],
    [("all", None)],
    [("tier", "D1")],
    [("tier", "D2")],
    [("tier", "U1")],
    [("group", "Dealers/North China")],
    [("group", "Dealers/North China/Beijing")],
    [("group", "Suppliers")],
    [("org", "S1")],
    [("org", "D2"), ("tier", "U1")],
    [("group", "Dealers/East China"), ("org", "D1a")],
]


def _holders_one_by_one(net: Net, keys: list[str]) -> set[int]:
    held = set()
    for key in keys:
        try:
            app_access.require_app(net.session, net.as_(key), APP)
        except Forbidden:
            continue
        held.add(net.org(key))
    return held


@pytest.mark.parametrize(
    "scopes", SCOPES, ids=lambda s: "+".join(f"{t}:{v}" for t, v in s) or "none"
)
def test_orgs_with_app_and_require_app_agree_for_every_scope(net: Net, scopes):
    gone = MemberFactory(chain=net.chain, org__name="Gone Dealer", group=_east(net))
    LinkFactory(chain=net.chain, supplier_id=net.org("owner"), customer_id=gone.org_id)
    bump_graph_version(net.session, net.chain)
    members.remove_member(net.session, net.as_("owner"), gone.org_id)
    # A revoked grant that would cover everyone counts for nothing.
    apps.revoke_grant(net.session, net.as_("owner"), _grant(net, "all", None).id)
    for scope, value in scopes:
        _grant(net, scope, str(net.org(value)) if scope == "org" else value)
    keys = ["owner", "S1", "D1a", "D1b", "D2"]
    everyone = [net.org(k) for k in keys] + [gone.org_id, net.org("outsider")]
    bulk = app_access.orgs_with_app(net.session, net.chain, APP, everyone)
    assert bulk == _holders_one_by_one(net, keys)
    assert net.org("owner") in bulk
    # Neither a removed member nor an org outside the chain, whatever the grant.
    assert gone.org_id not in bulk and net.org("outsider") not in bulk
    assert app_access.orgs_with_app(net.session, net.chain, APP, []) == set()


def _east(net: Net):
    return net.session.scalar(
        select(Group).where(Group.chain_id == net.chain.id, Group.path == "Dealers/East China")
    )


@pytest.mark.parametrize("scope", ["tier", "group"])
def test_orgs_with_app_costs_a_fixed_number_of_statements(net: Net, count_queries, scope):
    if scope == "tier":
        _grant(net, "tier", "D1")
    else:
        _grant(net, "group", "Dealers/East China")
    counts = []
    for n in (2, 30):
        for _ in range(n):
            extra = MemberFactory(chain=net.chain, group=_east(net))
            LinkFactory(chain=net.chain, supplier_id=net.org("owner"), customer_id=extra.org_id)
        bump_graph_version(net.session, net.chain)
        orgs = list(
            net.session.scalars(select(Member.org_id).where(Member.chain_id == net.chain.id))
        )
        with count_queries() as counter:
            held = app_access.orgs_with_app(net.session, net.chain, APP, orgs)
        counts.append(counter.count)
        assert net.org("D1b") in held and net.org("D2") not in held and len(held) > n
    # The grants, the members' groups (a group grant only) and the graph (rebuilt here: the
    # membership changed in this transaction).
    assert counts[0] == counts[1] <= 4, counts
