"""Grants: which partners may use an app, by org, tier (as the graph says now) or group."""

from __future__ import annotations

import pytest

from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.services import apps, links
from tests.integration.conftest import Net

APP = "reconciliation"  # the fixture shares notices and orders with everyone, not this one


def _holders(net: Net) -> set[str]:
    return {
        key
        for key in ("S1", "D1a", "D1b", "D2")
        if APP in apps.usable_app_keys(net.session, net.as_(key))
    }


def _grant(net: Net, scope: str, value: str | None):
    return apps.create_grant(net.session, net.as_("owner"), APP, scope, value)


def test_a_tier_grant_follows_the_graph(net: Net):
    assert _holders(net) == set()
    _grant(net, "tier", "D1")
    assert _holders(net) == {"D1a", "D1b"}
    with pytest.raises(Forbidden):
        apps.require_app(net.session, net.as_("D2"), APP)
    # Linked straight to the owner, D2 moves to tier D1 and gains the app.
    links.create_link(net.session, net.as_("owner"), net.org("owner"), net.org("D2"))
    assert _holders(net) == {"D1a", "D1b", "D2"}
    apps.require_app(net.session, net.as_("D2"), APP)


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
