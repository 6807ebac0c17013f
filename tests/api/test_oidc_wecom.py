"""WeCom's list_app_share_info over the custom apps: the corps an app (by agentid) is shared
with, a page at a time, and its errcodes; app.shared / app.unshared events."""

from __future__ import annotations

from tests.api.oidc_helpers import grant, register
from tests.api.test_wecom import WeCom


def _share_info(wecom: WeCom, **body):
    return wecom.post("corpgroup/corp/list_app_share_info", body)


def test_the_corps_an_app_is_shared_with_page_by_page(world):
    wecom = WeCom(world)
    wecom.login(world.owner.token, world.owner.org_id)
    app = register(world)
    grant(world, "portal", "tier", "D1")
    grant(world, "portal", "org", world.parties["D2"].org_id)
    first = _share_info(wecom, agentid=app["agentid"], business_type=1, limit=2)
    assert first["errcode"] == 0, first
    expected = sorted(int(world.parties[k].org_id) for k in ("D1a", "D1b", "D2"))
    assert [int(c["corpid"]) for c in first["corp_list"]] == expected[:2]
    assert first["ending"] == 0 and first["next_cursor"]
    assert {c["agentid"] for c in first["corp_list"]} == {app["agentid"]}
    assert first["corp_list"][0]["corp_name"]
    rest = _share_info(wecom, agentid=app["agentid"], limit=2, cursor=first["next_cursor"])
    assert [int(c["corpid"]) for c in rest["corp_list"]] == expected[2:]
    assert rest["ending"] == 1 and rest["next_cursor"] == ""
    one = _share_info(wecom, agentid=app["agentid"], corpid=world.parties["D2"].org_id)
    assert [c["corpid"] for c in one["corp_list"]] == [world.parties["D2"].org_id]


def test_share_info_refusals(world):
    wecom = WeCom(world)
    wecom.login(world.owner.token, world.owner.org_id)
    app = register(world)
    assert _share_info(wecom, agentid=app["agentid"], limit=101)["errcode"] == 40058
    assert _share_info(wecom, agentid=app["agentid"], cursor="x")["errcode"] == 40058
    assert _share_info(wecom, agentid=999999)["errcode"] == 60011
    assert _share_info(wecom, limit=1)["errcode"] == 40058
    rival = WeCom(world)
    rival.login(world.outsider.token, world.outsider.org_id)
    assert _share_info(rival, agentid=app["agentid"])["errcode"] == 60011
    partner = WeCom(world)
    partner.login(world.parties["D1a"].token, world.parties["D1a"].org_id)
    assert _share_info(partner, agentid=app["agentid"])["errcode"] == 60011


def _events(world, party, type_):
    r = world.api.get(world.path("/events"), params={"type": type_}, token=party.token)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_sharing_and_unsharing_are_told_to_the_owner_and_the_orgs_concerned(world):
    register(world)
    g = grant(world, "portal", "tier", "D1")
    d1a, s1 = world.parties["D1a"], world.parties["S1"]
    [shared] = _events(world, d1a, "app.shared")
    assert shared["data"]["app"] == "portal"
    assert set(shared["data"]["org_ids"]) == {d1a.org_id, world.parties["D1b"].org_id}
    assert _events(world, world.owner, "app.shared")
    assert _events(world, s1, "app.shared") == []
    # A second grant covering D1a changes nothing for it: no event.
    grant(world, "portal", "org", d1a.org_id)
    assert len(_events(world, d1a, "app.shared")) == 1
    world.api.delete(world.path(f"/grants/{g['id']}"), token=world.owner.token)
    [unshared] = _events(world, world.parties["D1b"], "app.unshared")
    assert unshared["data"]["org_ids"] == [world.parties["D1b"].org_id]
    assert _events(world, d1a, "app.unshared") == []
    # Moving D2 into a group a grant covers shares the app with it.
    grant(world, "portal", "group", "Dealers/East China")
    r = world.api.patch(
        world.path(f"/members/{world.parties['D2'].org_id}"),
        {"group": "Dealers/East China"},
        token=world.owner.token,
    )
    assert r.status_code == 200, r.text
    assert len(_events(world, world.parties["D2"], "app.shared")) == 1


def test_a_member_added_into_a_covered_group_is_told_the_app_is_shared(world):
    from tests.conftest import add_member

    register(world)
    grant(world, "portal", "group", "Dealers/East China")
    owner = world.owner
    before = _events(world, owner, "app.shared")
    added = add_member(
        world.api,
        owner,
        world.chain_id,
        "Shanghai Motors",
        "dealer",
        "DLR-SH",
        "Dealers/East China/Shanghai",
        "sh@sh.example",
    )
    org_id = added["org_id"]
    shared = [e for e in _events(world, owner, "app.shared") if e not in before]
    assert [e["data"]["org_ids"] for e in shared] == [[org_id]]
    assert len(_events(world, owner, "app.shared")) == len(before) + 1
    # One outside every grant's scope is told nothing.
    add_member(
        world.api, owner, world.chain_id, "Xi'an Motors", "dealer", "DLR-XA", None, "xa@xa.example"
    )
    assert len(_events(world, owner, "app.shared")) == len(before) + 1
    # Removed (app.unshared) and added again (app.shared once more).
    assert world.api.delete(world.path(f"/members/{org_id}"), token=owner.token).status_code == 204
    [unshared] = _events(world, owner, "app.unshared")
    assert unshared["data"]["org_ids"] == [org_id]
    again = world.api.post(
        world.path("/members"),
        {"org_id": org_id, "custom_id": "DLR-SH", "group": "Dealers/East China"},
        token=owner.token,
    )
    assert again.status_code == 201, again.text
    assert len(_events(world, owner, "app.shared")) == len(before) + 2
