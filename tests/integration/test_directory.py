"""The directory service: members, custom ids, removal, links and tiers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import AuditEvent, Link, Member
from supplychain.services import links, members
from supplychain.services.members import NewContact
from tests.integration.conftest import Net


def _add(net: Net, who: str = "owner", custom_id: str = "DLR-777", **kw):
    spec = {
        "org_id": None,
        "new_org": {"name": "Xi'an Motors", "kind": "dealer"},
        "custom_id": custom_id,
        "group_path": None,
        "contacts": [],
        **kw,
    }
    return members.add_member(net.session, net.as_(who), **spec)


def _tiers(net: Net) -> dict[str, str]:
    return {
        key: links.tier_of_member(net.session, net.chain, org.id)
        for key, org in net.orgs.items()
        if key != "outsider"
    }


def _links(net: Net) -> set[tuple[int, int]]:
    rows = net.session.execute(
        select(Link.supplier_id, Link.customer_id).where(Link.chain_id == net.chain.id)
    )
    return {(supplier, customer) for supplier, customer in rows}


def test_a_new_member_joins_unlinked_with_an_invitation_per_contact(net: Net):
    view, [added] = _add(
        net,
        group_path=" Dealers / West ",
        contacts=[NewContact("Li Wei", " LI.WEI@xa.example ", role="admin")],
    )
    assert view.tier == "unlinked"
    assert view.member.custom_id == "DLR-777" and view.member.group.path == "Dealers/West"
    user = added.contact.user
    assert user.email == "li.wei@xa.example" and user.org_id == view.member.org_id
    assert user.password_hash is None and added.invite_code
    assert links.tier_of_member(net.session, net.chain, view.member.org_id) == "unlinked"
    [event] = net.session.scalars(
        select(AuditEvent).where(
            AuditEvent.chain_id == net.chain.id, AuditEvent.action == "member.add"
        )
    )
    assert event.data["custom_id"] == "DLR-777" and event.user_id == net.users["owner"].id


def test_custom_ids_are_unique_among_current_members(net: Net):
    with pytest.raises(Conflict) as taken:
        _add(net, custom_id="DLR-001")
    assert taken.value.errors == {"custom_id": ["Already in use."]}
    with pytest.raises(Conflict):
        members.update_member(
            net.session, net.as_("owner"), net.org("D1b"), group_path=None, custom_id="DLR-001"
        )
    # A removed member frees its code for someone else.
    members.remove_member(net.session, net.as_("owner"), net.org("D1a"))
    view, _ = _add(net, custom_id="DLR-001")
    assert view.member.custom_id == "DLR-001"


def test_only_owner_admins_change_the_directory(net: Net):
    for who in ("staff", "D1a"):
        with pytest.raises(Forbidden):
            _add(net, who=who)
        with pytest.raises(Forbidden):
            members.remove_member(net.session, net.as_(who), net.org("D1b"))
        with pytest.raises(Forbidden):
            links.create_link(net.session, net.as_(who), net.org("D1b"), net.org("D2"))
    assert len(_links(net)) == 4


def test_removing_a_member_ends_its_access_and_takes_its_links(net: Net):
    d1a = net.org("D1a")
    members.remove_member(net.session, net.as_("owner"), d1a)
    with pytest.raises(NotFound):
        net.as_("D1a")
    assert not [pair for pair in _links(net) if d1a in pair]
    # D2 was supplied only through D1a: it is cut off from the core.
    assert links.tier_of_member(net.session, net.chain, net.org("D2")) == "unlinked"
    # History stays: the membership row is kept, marked removed.
    member = net.session.scalar(
        select(Member).where(Member.chain_id == net.chain.id, Member.org_id == d1a)
    )
    assert member is not None and member.removed_at is not None
    with pytest.raises(NotFound):
        members.remove_member(net.session, net.as_("owner"), d1a)


def test_the_owner_cannot_be_removed(net: Net):
    with pytest.raises(Conflict, match="owner cannot be removed"):
        members.remove_member(net.session, net.as_("owner"), net.org("owner"))


def test_links_that_close_a_cycle_or_repeat_are_refused(net: Net):
    owner = net.as_("owner")
    # owner -> D1a -> D2 already: D2 -> owner would close the loop.
    with pytest.raises(Conflict, match="cycle"):
        links.create_link(net.session, owner, net.org("D2"), net.org("owner"))
    with pytest.raises(Conflict, match="cycle"):
        links.create_link(net.session, owner, net.org("D1a"), net.org("S1"))
    with pytest.raises(Conflict, match="exists already"):
        links.create_link(net.session, owner, net.org("owner"), net.org("D1a"))
    with pytest.raises(Conflict, match="supply itself"):
        links.create_link(net.session, owner, net.org("D1b"), net.org("D1b"))
    with pytest.raises(Invalid) as outside:
        links.create_link(net.session, owner, net.org("outsider"), net.org("D1b"))
    assert set(outside.value.errors) == {"supplier_id"}
    assert len(_links(net)) == 4
    # Not a cycle: a second supplier for D2.
    links.create_link(net.session, owner, net.org("D1b"), net.org("D2"))
    assert len(_links(net)) == 5


def test_tiers_are_the_shortest_distance_from_the_core(net: Net):
    assert _tiers(net) == {"owner": "core", "S1": "U1", "D1a": "D1", "D1b": "D1", "D2": "D2"}
    shortcut = links.create_link(net.session, net.as_("owner"), net.org("owner"), net.org("D2"))
    assert _tiers(net)["D2"] == "D1"
    links.delete_link(net.session, net.as_("owner"), shortcut.id)
    assert _tiers(net)["D2"] == "D2"
    view, _ = _add(net)
    assert links.tier_of_member(net.session, net.chain, view.member.org_id) == "unlinked"
