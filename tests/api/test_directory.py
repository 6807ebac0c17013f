"""The chain directory through the API: success paths, authorisation and visibility."""

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import add_member


def test_create_and_list_chains(world):
    api = world.api
    r = api.post(
        "/chains",
        {"name": "Parts suppliers", "currency": "USD", "timezone": "UTC"},
        token=world.owner.token,
    )
    assert r.status_code == 201, r.text
    assert r.json()["owner_org_id"] == world.owner.org_id and r.json()["currency"] == "USD"
    mine = api.get("/chains", token=world.owner.token).json()
    assert mine["total"] == 2 and mine["page"] == 1 and mine["page_size"] == 50
    assert api.get("/chains", token=world.parties["D1a"].token).json()["total"] == 1
    assert api.get("/chains", token=world.outsider.token).json()["total"] == 0


def test_only_admins_create_chains(world):
    r = world.api.post("/chains", {"name": "X"}, token=world.owner_staff.token)
    assert r.status_code == 403


def test_chain_is_404_for_outsiders(world):
    api = world.api
    assert api.get(world.path(), token=world.parties["D2"].token).status_code == 200
    for suffix in ("", "/members", "/contacts", "/groups", "/links", "/graph", "/audit", "/rules"):
        r = api.get(world.path(suffix), token=world.outsider.token)
        assert r.status_code == 404, suffix
    assert api.get(world.path()).status_code == 401
    assert api.get("/chains/999999", token=world.owner.token).status_code == 404
    assert api.get("/chains/abc", token=world.owner.token).status_code == 404


def test_groups_created_with_parents(world):
    api, t = world.api, world.owner.token
    r = api.post(world.path("/groups"), {"path": " Dealers / West China / Chengdu "}, token=t)
    assert r.status_code == 201, r.text
    assert r.json()["path"] == "Dealers/West China/Chengdu"
    groups = {g["path"]: g for g in api.get(world.path("/groups"), token=t).json()["items"]}
    assert groups["Dealers/West China/Chengdu"]["parent_id"] == groups["Dealers/West China"]["id"]
    assert groups["Dealers"]["parent_id"] is None
    assert (
        api.post(world.path("/groups"), {"path": "X"}, token=world.owner_staff.token).status_code
        == 403
    )
    assert (
        api.post(world.path("/groups"), {"path": "X"}, token=world.parties["D1a"].token).status_code
        == 403
    )
    assert api.get(world.path("/groups"), token=world.parties["D1a"].token).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "../etc",
        "a//b",
        "/a",
        "a/",
        "a/./b",
        "",
        "   ",
        "a\\b",
        "x\x00y",
        "a/" * 11 + "a",
        "x" * 101,
    ],
)
def test_group_paths_are_names_not_file_paths(world, path):
    r = world.api.post(world.path("/groups"), {"path": path}, token=world.owner.token)
    assert r.status_code == 422, r.text
    assert "path" in str(r.json()["errors"])


def test_add_member_with_contacts(world):
    api, t = world.api, world.owner.token
    r = api.post(
        world.path("/members"),
        {
            "org": {"name": "Guangzhou Auto Mall", "kind": "dealer"},
            "custom_id": "DLR-003",
            "group": "Dealers/South China",
            "contacts": [
                {
                    "name": "Chen Jing",
                    "email": "chen@gz.example",
                    "mobile": "+86 138 0000 0000",
                    "title": "Sales manager",
                    "role": "admin",
                },
                {"name": "Zhao Min", "email": "zhao@gz.example"},
            ],
        },
        token=t,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["custom_id"] == "DLR-003" and body["group"] == "Dealers/South China"
    assert body["tier"] == "unlinked" and body["kind"] == "dealer"
    assert [c["role"] for c in body["contacts"]] == ["admin", "staff"]
    assert all(c["invite_code"] for c in body["contacts"])
    got = api.get(world.path(f"/members/{body['org_id']}"), token=t).json()
    assert got["name"] == "Guangzhou Auto Mall" and len(got["contacts"]) == 2
    assert all(c["invite_code"] is None for c in got["contacts"])


def test_add_existing_org_to_second_chain(world):
    api, t = world.api, world.owner.token
    other = api.post("/chains", {"name": "Parts suppliers"}, token=t).json()["id"]
    s1 = world.parties["S1"]
    r = api.post(f"/chains/{other}/members", {"org_id": s1.org_id, "custom_id": "P-1"}, token=t)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Steel Works"
    # The supplier now sees both chains.
    assert api.get("/chains", token=s1.token).json()["total"] == 2


def test_member_conflicts(world):
    api, t = world.api, world.owner.token
    dup_custom = api.post(
        world.path("/members"),
        {"org": {"name": "Another", "kind": "dealer"}, "custom_id": "DLR-001"},
        token=t,
    )
    assert dup_custom.status_code == 409
    assert "custom_id" in dup_custom.json()["errors"]
    again = api.post(
        world.path("/members"),
        {"org_id": world.parties["D1a"].org_id, "custom_id": "NEW-1"},
        token=t,
    )
    assert again.status_code == 409
    taken_email = api.post(
        world.path("/members"),
        {
            "org": {"name": "Another", "kind": "dealer"},
            "custom_id": "NEW-2",
            "contacts": [{"name": "X", "email": "d1a@bj.example"}],
        },
        token=t,
    )
    assert taken_email.status_code == 409
    # Nothing of the failed requests was saved.
    names = [m["name"] for m in api.get(world.path("/members"), token=t).json()["items"]]
    assert "Another" not in names


def test_member_bad_input(world):
    api, t = world.api, world.owner.token
    cases = [
        ({"custom_id": "X"}, "org"),
        ({"org": {"name": "A", "kind": "bank"}, "custom_id": "X"}, "kind"),
        ({"org": {"name": "", "kind": "dealer"}, "custom_id": "X"}, "name"),
        ({"org": {"name": "A" * 100_000, "kind": "dealer"}, "custom_id": "X"}, "name"),
        ({"org": {"name": "A\x00B", "kind": "dealer"}, "custom_id": "X"}, "name"),
        ({"org": {"name": "A", "kind": "dealer"}}, "custom_id"),
        ({"org": {"name": "A", "kind": "dealer"}, "custom_id": 12}, "custom_id"),
        ({"org": {"name": "A", "kind": "dealer"}, "custom_id": "X", "group": "../x"}, "group"),
        (
            {
                "org": {"name": "A", "kind": "dealer"},
                "custom_id": "X",
                "contacts": [{"name": "A", "email": "not-an-email"}],
            },
            "email",
        ),
        (
            {
                "org": {"name": "A", "kind": "dealer"},
                "custom_id": "X",
                "contacts": [{"name": "A", "email": "a@x.example", "role": "root"}],
            },
            "role",
        ),
        (
            {
                "org": {"name": "A", "kind": "dealer"},
                "custom_id": "X",
                "contacts": [
                    {"name": "A", "email": "a@x.example"},
                    {"name": "B", "email": "A@x.example"},
                ],
            },
            "email",
        ),
        ({"org": {"name": "A", "kind": "dealer"}, "org_id": "1", "custom_id": "X"}, "org"),
        ({"org_id": "99999", "custom_id": "X"}, "org_id"),
        ({"org_id": "1e400", "custom_id": "X"}, "org_id"),
        ({"org": {"name": "A", "kind": "dealer"}, "custom_id": "X", "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        r = api.post(world.path("/members"), body, token=t)
        assert r.status_code == 422, (body, r.text)
        assert field in str(r.json()["errors"]), (body, r.json())
    assert api.get(world.path("/members"), token=t).json()["total"] == 5


def test_member_writes_need_owner_admin(world):
    api = world.api
    body = {"org": {"name": "A", "kind": "dealer"}, "custom_id": "X"}
    assert api.post(world.path("/members"), body, token=world.owner_staff.token).status_code == 403
    assert (
        api.post(world.path("/members"), body, token=world.parties["D1a"].token).status_code == 403
    )
    assert api.post(world.path("/members"), body, token=world.outsider.token).status_code == 404
    assert api.post(world.path("/members"), body).status_code == 401
    target = world.path(f"/members/{world.parties['D2'].org_id}")
    assert (
        api.patch(target, {"custom_id": "Y"}, token=world.parties["D1a"].token).status_code == 403
    )
    assert api.delete(target, token=world.owner_staff.token).status_code == 403


def test_filter_members(world):
    api, t = world.api, world.owner.token

    def ids(query):
        r = api.get(world.path(f"/members?{query}"), token=t)
        assert r.status_code == 200, r.text
        return sorted(m["custom_id"] or "core" for m in r.json()["items"])

    assert ids("tier=D1") == ["DLR-001", "DLR-002"]
    assert ids("tier=D2") == ["DLR-101"]
    assert ids("tier=U1") == ["SUP-001"]
    assert ids("tier=core") == ["core"]
    assert ids("tier=U7") == []
    assert ids("group=Dealers/North China") == ["DLR-001", "DLR-101"]
    assert ids("group=Dealers") == ["DLR-001", "DLR-002", "DLR-101"]
    assert ids("kind=supplier") == ["SUP-001"]
    assert ids("q=shanghai") == ["DLR-002"]
    assert ids("q=dlr-10") == ["DLR-101"]
    assert ids("q=100%25") == []
    assert ids("tier=D1&group=Dealers/East China") == ["DLR-002"]
    page = api.get(world.path("/members?tier=D1&page_size=1&page=2"), token=t).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["page"] == 2
    for bad in (
        "tier=X9",
        "tier=D0",
        "kind=bank",
        "page=0",
        "page_size=501",
        "page=abc",
        "group=../x",
    ):
        r = api.get(world.path(f"/members?{bad}"), token=t)
        assert r.status_code == 422, bad


def test_patch_member_moves_group_and_custom_id(world):
    api, t = world.api, world.owner.token
    target = world.path(f"/members/{world.parties['D1b'].org_id}")
    r = api.patch(target, {"group": "Dealers/North China/Tianjin", "custom_id": "DLR-900"}, token=t)
    assert r.status_code == 200, r.text
    assert r.json()["group"] == "Dealers/North China/Tianjin" and r.json()["custom_id"] == "DLR-900"
    assert api.patch(target, {"custom_id": "DLR-001"}, token=t).status_code == 409
    cleared = api.patch(target, {"group": None}, token=t)
    assert cleared.status_code == 200 and cleared.json()["group"] is None
    assert api.patch(target, {"group": "a//b"}, token=t).status_code == 422
    assert api.patch(world.path("/members/424242"), {"custom_id": "Z"}, token=t).status_code == 404


def test_removing_a_member_revokes_access_and_links_at_once(world):
    api, t = world.api, world.owner.token
    d1a = world.parties["D1a"]
    assert api.get(world.path(), token=d1a.token).status_code == 200
    r = api.delete(world.path(f"/members/{d1a.org_id}"), token=t)
    assert r.status_code == 204
    assert api.get(world.path(), token=d1a.token).status_code == 404
    assert api.get(world.path("/members"), token=d1a.token).status_code == 404
    # Its links went, so its sub-dealer is now unlinked.
    d2 = api.get(world.path(f"/members/{world.parties['D2'].org_id}"), token=t).json()
    assert d2["tier"] == "unlinked"
    links = api.get(world.path("/links"), token=t).json()["items"]
    assert all(d1a.org_id not in (lk["supplier_id"], lk["customer_id"]) for lk in links)
    assert api.get(world.path(f"/members/{d1a.org_id}"), token=t).status_code == 404
    # The audit keeps the history.
    actions = [
        e["action"]
        for e in api.get(world.path("/audit?action=member.remove"), token=t).json()["items"]
    ]
    assert actions == ["member.remove"]
    # The owner cannot remove itself; a removed member can be added again with its old code.
    assert api.delete(world.path(f"/members/{world.owner.org_id}"), token=t).status_code == 409
    back = api.post(world.path("/members"), {"org_id": d1a.org_id, "custom_id": "DLR-001"}, token=t)
    assert back.status_code == 201, back.text
    assert api.get(world.path(), token=d1a.token).status_code == 200


def test_links_dag_rules(world):
    api, t = world.api, world.owner.token
    p = world.parties
    cycle = api.post(
        world.path("/links"),
        {"supplier_id": p["D2"].org_id, "customer_id": p["S1"].org_id},
        token=t,
    )
    assert cycle.status_code == 409 and "cycle" in cycle.json()["message"]
    dup = api.post(
        world.path("/links"),
        {"supplier_id": world.owner.org_id, "customer_id": p["D1a"].org_id},
        token=t,
    )
    assert dup.status_code == 409
    self_loop = api.post(
        world.path("/links"),
        {"supplier_id": p["D2"].org_id, "customer_id": p["D2"].org_id},
        token=t,
    )
    assert self_loop.status_code == 409
    stranger = api.post(
        world.path("/links"),
        {"supplier_id": world.outsider.org_id, "customer_id": p["D2"].org_id},
        token=t,
    )
    assert stranger.status_code == 422 and "supplier_id" in stranger.json()["errors"]
    missing = api.post(world.path("/links"), {"supplier_id": p["D2"].org_id}, token=t)
    assert missing.status_code == 422 and "customer_id" in missing.json()["errors"]["json"]
    diamond = api.post(
        world.path("/links"),
        {"supplier_id": p["D1b"].org_id, "customer_id": p["D2"].org_id},
        token=t,
    )
    assert diamond.status_code == 201
    assert (
        api.post(
            world.path("/links"),
            {"supplier_id": p["D1b"].org_id, "customer_id": p["D2"].org_id},
            token=p["D1b"].token,
        ).status_code
        == 403
    )
    r = api.delete(world.path(f"/links/{diamond.json()['id']}"), token=t)
    assert r.status_code == 204
    assert api.delete(world.path(f"/links/{diamond.json()['id']}"), token=t).status_code == 404


def test_partner_sees_only_its_own_links(world):
    d2 = world.parties["D2"]
    links = world.api.get(world.path("/links"), token=d2.token).json()["items"]
    assert len(links) == 1 and links[0]["customer_id"] == d2.org_id


def test_tier_changes_follow_links(world):
    api, t, p = world.api, world.owner.token, world.parties
    d2 = world.path(f"/members/{p['D2'].org_id}")
    assert api.get(d2, token=t).json()["tier"] == "D2"
    api.post(
        world.path("/links"),
        {"supplier_id": world.owner.org_id, "customer_id": p["D2"].org_id},
        token=t,
    )
    assert api.get(d2, token=t).json()["tier"] == "D1"


def test_graph_json_and_svg(world):
    api, t = world.api, world.owner.token
    g = api.get(world.path("/graph"), token=t)
    assert g.status_code == 200
    body = g.json()
    assert len(body["nodes"]) == 5 and len(body["links"]) == 4
    assert {n["tier"] for n in body["nodes"]} == {"U1", "core", "D1", "D2"}
    svg = api.get(world.path("/graph"), token=t, headers={"Accept": "image/svg+xml"})
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)
    assert root.tag.endswith("svg")
    assert "Tianjin Sub-dealer" in svg.text
    assert api.get(world.path("/graph"), token=world.parties["D1a"].token).status_code == 403


def test_impact_affected_and_cut_off(world):
    api, t, p = world.api, world.owner.token, world.parties
    api.post(
        world.path("/links"),
        {"supplier_id": p["D1b"].org_id, "customer_id": p["D2"].org_id},
        token=t,
    )
    impact = api.get(world.path(f"/members/{p['S1'].org_id}/impact"), token=t).json()
    affected = {x["org_id"]: x["tier"] for x in impact["affected"]}
    assert affected == {
        world.owner.org_id: "core",
        p["D1a"].org_id: "D1",
        p["D1b"].org_id: "D1",
        p["D2"].org_id: "D2",
    }
    assert {x["org_id"] for x in impact["cut_off"]} == set(affected)
    d1a = api.get(world.path(f"/members/{p['D1a'].org_id}/impact"), token=t).json()
    # D2 also buys from D1b, so losing D1a affects it but does not cut it off.
    assert [x["org_id"] for x in d1a["affected"]] == [p["D2"].org_id]
    assert d1a["cut_off"] == []
    assert (
        api.get(world.path(f"/members/{p['S1'].org_id}/impact"), token=p["D1a"].token).status_code
        == 403
    )
    assert api.get(world.path("/members/424242/impact"), token=t).status_code == 404


def test_visibility_defaults_and_rules(world):
    api, t, p = world.api, world.owner.token, world.parties

    def visible(party):
        items = api.get(world.path("/members"), token=party.token).json()["items"]
        return {m["org_id"] for m in items}

    assert visible(p["D1a"]) == {world.owner.org_id, p["D1a"].org_id}
    assert (
        api.get(world.path(f"/members/{p['D1b'].org_id}"), token=p["D1a"].token).status_code == 404
    )
    contacts = api.get(world.path("/contacts"), token=p["D1a"].token).json()["items"]
    assert {c["org_id"] for c in contacts} == {world.owner.org_id, p["D1a"].org_id}
    rule = api.post(
        world.path("/rules"),
        {
            "viewers": {"groups": ["Dealers/North China"]},
            "visible": {"groups": ["Dealers"], "orgs": [p["S1"].org_id]},
        },
        token=t,
    )
    assert rule.status_code == 201, rule.text
    # D1a (Beijing) and D2 (Tianjin) are under Dealers/North China; D1b (East China) is not.
    assert visible(p["D1a"]) == {
        world.owner.org_id,
        p["D1a"].org_id,
        p["D1b"].org_id,
        p["D2"].org_id,
        p["S1"].org_id,
    }
    assert visible(p["D1b"]) == {world.owner.org_id, p["D1b"].org_id}
    contacts = api.get(world.path(f"/contacts?org_id={p['D1b'].org_id}"), token=p["D2"].token)
    assert [c["email"] for c in contacts.json()["items"]] == ["d1b@sh.example"]
    assert api.get(world.path("/rules"), token=t).json()["total"] == 1
    assert api.get(world.path("/rules"), token=p["D1a"].token).status_code == 403
    rid = rule.json()["id"]
    assert api.get(world.path(f"/rules/{rid}"), token=t).status_code == 200
    assert api.delete(world.path(f"/rules/{rid}"), token=t).status_code == 204
    assert visible(p["D1a"]) == {world.owner.org_id, p["D1a"].org_id}


def test_rule_bad_input(world):
    api, t = world.api, world.owner.token
    bad = [
        {"viewers": {"groups": ["Nowhere"]}, "visible": {"orgs": [world.parties["D1a"].org_id]}},
        {"viewers": {"orgs": [world.outsider.org_id]}, "visible": {"groups": ["Dealers"]}},
        {"viewers": {}, "visible": {"groups": ["Dealers"]}},
        {"viewers": {"groups": ["Dealers"]}},
    ]
    for body in bad:
        r = api.post(world.path("/rules"), body, token=t)
        assert r.status_code == 422, (body, r.text)
    assert api.get(world.path("/rules"), token=t).json()["total"] == 0


def test_contacts_listing_and_adding(world):
    api, t, p = world.api, world.owner.token, world.parties
    everyone = api.get(world.path("/contacts?page_size=500"), token=t).json()
    assert everyone["total"] == 6
    found = api.get(world.path("/contacts?q=SH.EXAMPLE"), token=t).json()["items"]
    assert [c["email"] for c in found] == ["d1b@sh.example"]
    # A partner's own admin can add its people; it cannot add to another org.
    own = api.post(
        world.path(f"/members/{p['D1a'].org_id}/contacts"),
        {"name": "Wang Fang", "email": "wang@bj.example"},
        token=p["D1a"].token,
    )
    assert own.status_code == 201, own.text
    other = api.post(
        world.path(f"/members/{p['D2'].org_id}/contacts"),
        {"name": "X", "email": "x@tj.example"},
        token=p["D1a"].token,
    )
    assert other.status_code == 404  # D2 is not even visible to D1a
    staff = api.post(
        world.path(f"/members/{p['D1a'].org_id}/contacts"),
        {"name": "X", "email": "x@bj.example"},
        token=world.owner_staff.token,
    )
    assert staff.status_code == 403
    twice = api.post(
        world.path(f"/members/{p['D1a'].org_id}/contacts"),
        {"name": "Wang Fang", "email": "wang@bj.example"},
        token=t,
    )
    assert twice.status_code == 409
    bad = api.post(
        world.path(f"/members/{p['D1a'].org_id}/contacts"),
        {"name": "X", "email": "x@bj.example", "mobile": "call me"},
        token=t,
    )
    assert bad.status_code == 422 and "mobile" in bad.json()["errors"]["json"]


def test_audit_records_every_change(world):
    api, t = world.api, world.owner.token
    events = api.get(world.path("/audit?page_size=500"), token=t).json()
    actions = [e["action"] for e in events["items"]]
    assert actions.count("member.add") == 4 and actions.count("link.create") == 4
    assert actions[0] == "chain.create"
    first = events["items"][0]
    assert first["user_id"] == world.owner.user_id and first["org_id"] == world.owner.org_id
    later = api.get(
        world.path(f"/audit?since={events['items'][-1]['at'].replace('+', '%2B')}"), token=t
    ).json()
    assert later["total"] >= 1
    assert api.get(world.path("/audit"), token=world.owner_staff.token).status_code == 403
    assert api.get(world.path("/audit?since=yesterday"), token=t).status_code == 422


def test_second_chain_owner_cannot_touch_first(world, app):
    rival = world.outsider
    api = world.api
    add = api.post(
        world.path("/members"),
        {"org": {"name": "Spy", "kind": "other"}, "custom_id": "SPY"},
        token=rival.token,
    )
    assert add.status_code == 404
    own_chain = api.post("/chains", {"name": "Rival chain"}, token=rival.token).json()["id"]
    member = add_member(
        api, rival, own_chain, "Rival dealer", "dealer", "R-1", None, "r@rival.example"
    )
    # The Acme owner cannot read the rival chain's member by guessing ids.
    r = api.get(f"/chains/{own_chain}/members/{member['org_id']}", token=world.owner.token)
    assert r.status_code == 404


def test_group_path_longer_than_the_column_is_refused(world):
    """Ten levels of 99 characters pass the per-level rules but not the 500-character column."""
    path = "/".join(["x" * 99] * 6)
    r = world.api.post(world.path("/groups"), {"path": path}, token=world.owner.token)
    assert r.status_code == 422 and "path" in r.json()["errors"]
    member = world.api.post(
        world.path("/members"),
        {"org": {"name": "Long", "kind": "dealer"}, "custom_id": "L-1", "group": path},
        token=world.owner.token,
    )
    assert member.status_code == 422 and "group" in member.json()["errors"]
