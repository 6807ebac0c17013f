"""The WeCom-compatible /cgi-bin API: WeCom's shapes and errcodes (HTTP 200 always), over the
directory of the `world` chain. Raw HTTP here (in-process); tests/api/test_wecom_sdk.py drives
a live server with wechatpy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from supplychain.extensions import db
from supplychain.models import Contact, Group, Member, User, VisibilityRule, WeComAccessToken
from supplychain.models.base import utcnow
from tests.conftest import World


class WeCom:
    """Raw /cgi-bin calls through the world's transport; every answer must be HTTP 200 JSON."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.access_token: str | None = None

    def send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.world.api.transport.send(method, "/cgi-bin/" + path, **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()

    def login(self, party_token: str, org_id: str) -> str:
        secret = self.world.api.post("/me/tokens", {"name": "wecom"}, token=party_token)
        assert secret.status_code == 201, secret.text
        answer = self.send(
            "GET", "gettoken", params={"corpid": org_id, "corpsecret": secret.json()["token"]}
        )
        assert answer["errcode"] == 0, answer
        assert answer["expires_in"] == 7200
        self.access_token = answer["access_token"]
        return self.access_token

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        params.setdefault("access_token", self.access_token)
        return self.send("GET", path, params=params)

    def post(self, path: str, body: Any, token: str | None = None, **kwargs: Any) -> dict:
        params = {"access_token": token if token is not None else self.access_token}
        if "data" in kwargs:
            return self.send("POST", path, params=params, **kwargs)
        return self.send("POST", path, params=params, json=body)


@pytest.fixture
def wecom(world: World) -> WeCom:
    client = WeCom(world)
    client.login(world.owner.token, world.owner.org_id)
    return client


@pytest.fixture(autouse=True)
def _database(app) -> Iterator[None]:
    """The test's own reads and writes, in an app context of their own beside the requests'."""
    global _APP
    _APP = app
    yield
    _APP = None


_APP: Any = None


@contextmanager
def database() -> Iterator[Any]:
    with _APP.app_context():
        try:
            yield db.session
            db.session.commit()
        finally:
            db.session.remove()


def _count(model: Any, *where: Any) -> int:
    with database() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_gettoken_needs_an_admin_api_token_of_the_org(world: World):
    client = WeCom(world)
    secret = world.api.post("/me/tokens", {"name": "w"}, token=world.owner.token).json()["token"]
    staff_secret = world.api.post("/me/tokens", {"name": "w"}, token=world.owner_staff.token)
    other_org = world.parties["S1"].org_id
    cases = [
        ({"corpid": world.owner.org_id, "corpsecret": "nope"}, 40001),
        ({"corpid": other_org, "corpsecret": secret}, 40001),  # not that org's admin
        ({"corpid": "999999", "corpsecret": secret}, 40013),
        ({"corpsecret": secret}, 40013),
        # A sign-in token (from the invitation's activation) is no API token.
        ({"corpid": other_org, "corpsecret": world.parties["S1"].token}, 40001),
        ({"corpid": world.owner.org_id, "corpsecret": staff_secret.json()["token"]}, 40001),
    ]
    for params, errcode in cases:
        answer = client.send("GET", "gettoken", params=params)
        assert answer["errcode"] == errcode, (params, answer)
        assert "access_token" not in answer
    assert _count(WeComAccessToken) == 0


def test_chain_list_and_groups_with_stable_numbers(world: World, wecom: WeCom):
    rival_chain = world.api.post("/chains", {"name": "Rival chain"}, token=world.outsider.token)
    assert rival_chain.status_code == 201
    answer = wecom.get("corpgroup/corp/get_chain_list")
    assert answer == {
        "errcode": 0,
        "errmsg": "ok",
        "chains": [{"chain_id": world.chain_id, "chain_name": "Acme dealers"}],
    }
    # A partner's admin lists no chain: its org owns none.
    partner = WeCom(world)
    partner.login(world.parties["S1"].token, world.parties["S1"].org_id)
    assert partner.get("corpgroup/corp/get_chain_list")["chains"] == []

    groups = wecom.post("corpgroup/corp/get_chain_group", {"chain_id": world.chain_id})
    assert groups["errcode"] == 0
    by_name = {g["group_name"]: g for g in groups["groups"]}
    assert set(by_name) == {"Suppliers", "Steel", "Dealers", "North China", "Beijing",
                            "East China", "Tianjin"}  # fmt: skip
    numbers = [g["groupid"] for g in groups["groups"]]
    assert len(set(numbers)) == len(numbers) and 1 not in numbers
    assert by_name["Suppliers"]["parentid"] == 1
    assert by_name["Steel"]["parentid"] == by_name["Suppliers"]["groupid"]
    assert by_name["Beijing"]["parentid"] == by_name["North China"]["groupid"]

    # New groups, even ones that sort first, leave every number as it was.
    for path in ("Aaa", "Dealers/Aaa/Zzz"):
        assert world.api.post(world.path("/groups"), {"path": path}, token=world.owner.token).ok
    again = wecom.post("corpgroup/corp/get_chain_group", {"chain_id": world.chain_id})
    after = {g["group_name"]: g for g in again["groups"]}
    for name, group in by_name.items():
        assert after[name] == group
    assert after["Zzz"]["parentid"] == after["Aaa"]["groupid"] != by_name["Dealers"]["groupid"]

    below = wecom.post(
        "corpgroup/corp/get_chain_group",
        {"chain_id": world.chain_id, "groupid": by_name["Dealers"]["groupid"]},
    )
    assert {g["group_name"] for g in below["groups"]} == {
        "North China", "Beijing", "Tianjin", "East China", "Aaa", "Zzz"
    }  # fmt: skip


def test_corp_list_pages_by_cursor_and_groups(world: World, wecom: WeCom):
    groups = wecom.post("corpgroup/corp/get_chain_group", {"chain_id": world.chain_id})["groups"]
    number = {g["group_name"]: g["groupid"] for g in groups}
    everyone = []
    cursor = ""
    while True:
        page = wecom.post(
            "corpgroup/corp/get_chain_corpinfo_list",
            {"chain_id": world.chain_id, "fetch_child": 1, "cursor": cursor, "limit": 3},
        )
        assert page["errcode"] == 0, page
        everyone += page["group_corps"]
        if not page["has_more"]:
            assert page["next_cursor"] == ""
            break
        cursor = page["next_cursor"]
    assert sorted(c["corpid"] for c in everyone) == sorted(
        p.org_id for p in world.parties.values()
    )  # the owner is no member corp of its own chain
    beijing = next(c for c in everyone if c["custom_id"] == "DLR-001")
    assert beijing == {
        "groupid": number["Beijing"],
        "corpid": world.parties["D1a"].org_id,
        "corp_name": "Beijing Motors Sales",
        "custom_id": "DLR-001",
        "is_joined": True,
    }
    north = wecom.post(
        "corpgroup/corp/get_chain_corpinfo_list",
        {"chain_id": world.chain_id, "groupid": number["North China"], "fetch_child": True},
    )
    assert {c["custom_id"] for c in north["group_corps"]} == {"DLR-001", "DLR-101"}
    only_north = wecom.post(
        "corpgroup/corp/get_chain_corpinfo_list",
        {"chain_id": world.chain_id, "groupid": number["North China"]},
    )
    assert only_north["group_corps"] == []
    root_only = wecom.post("corpgroup/corp/get_chain_corpinfo_list", {"chain_id": world.chain_id})
    assert root_only["group_corps"] == []  # every partner sits in a group

    one = wecom.post(
        "corpgroup/corp/get_chain_corpinfo",
        {"chain_id": world.chain_id, "corpid": world.parties["S1"].org_id},
    )
    assert one == {
        "errcode": 0,
        "errmsg": "ok",
        "corp_name": "Steel Works",
        "custom_id": "SUP-001",
        "groupid": number["Steel"],
        "is_joined": True,
        "qualification_status": 0,
    }


@pytest.mark.parametrize("limit", [-1, 1001, 5000])
def test_limit_out_of_range_is_40058(world: World, wecom: WeCom, limit: int):
    answer = wecom.post(
        "corpgroup/corp/get_chain_corpinfo_list", {"chain_id": world.chain_id, "limit": limit}
    )
    assert answer["errcode"] == 40058 and "limit" in answer["errmsg"]
    assert "group_corps" not in answer


def test_bad_tokens_and_foreign_chains(world: World, wecom: WeCom):
    body = {"chain_id": world.chain_id}
    for token in ("", "wc_nope"):
        assert wecom.post("corpgroup/corp/get_chain_group", body, token=token)["errcode"] == 40014
    missing = wecom.send("POST", "corpgroup/corp/get_chain_group", json=body)
    assert missing["errcode"] == 40014
    assert wecom.send("GET", "corpgroup/corp/get_chain_list")["errcode"] == 40014

    # Expired: 7 200 s after it was issued.
    with database() as session:
        session.execute(update(WeComAccessToken).values(expires_at=utcnow() - timedelta(1)))
    expired = wecom.post("corpgroup/corp/get_chain_group", body)
    assert expired == {"errcode": 42001, "errmsg": "access_token expired"}

    # Another owner's chain, a chain where the org is only a partner, no chain at all: 60011
    # and nothing about it.
    rival = WeCom(world)
    rival.login(world.outsider.token, world.outsider.org_id)
    partner = WeCom(world)
    partner.login(world.parties["D1a"].token, world.parties["D1a"].org_id)
    for client, chain_id in ((rival, world.chain_id), (partner, world.chain_id),
                             (rival, "99999"), (rival, "x")):  # fmt: skip
        for path, extra in (
            ("corpgroup/corp/get_chain_group", {}),
            ("corpgroup/corp/get_chain_corpinfo_list", {}),
            ("corpgroup/corp/get_chain_corpinfo", {"corpid": world.parties["S1"].org_id}),
            ("corpgroup/corp/remove_corp", {"corpid": world.parties["S1"].org_id}),
            ("corpgroup/rule/list_ids", {}),
        ):
            answer = client.post(path, {"chain_id": chain_id, **extra})
            assert answer["errcode"] == 60011, (path, answer)
            assert set(answer) == {"errcode", "errmsg"}
            assert "Steel" not in answer["errmsg"] and "Acme" not in answer["errmsg"]
    assert (
        _count(Member, Member.chain_id == int(world.chain_id), Member.removed_at.is_not(None)) == 0
    )


def test_malformed_json_and_bad_fields_are_errcodes(world: World, wecom: WeCom):
    too_long = b'{"chain_id": "1", "groupid": ' + b"1" * 5000 + b"}"  # int() refuses it
    for raw in (b"{not json", b"[1, 2", b'"\\ud800"', too_long):
        for content_type in ("application/json", "text/plain"):
            answer = wecom.post(
                "corpgroup/corp/get_chain_group",
                None,
                data=raw,
                headers={"Content-Type": content_type},
            )
            assert answer["errcode"] == 47001, answer
    missing = wecom.post("corpgroup/corp/get_chain_group", {})
    assert missing["errcode"] == 40058 and "chain_id" in missing["errmsg"]
    wrong = wecom.post("corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": "x"})
    assert wrong["errcode"] == 40058 and "rule_id" in wrong["errmsg"]


def test_remove_corp_removes_the_member(world: World, wecom: WeCom):
    s1 = world.parties["S1"].org_id
    answer = wecom.post("corpgroup/corp/remove_corp", {"chain_id": world.chain_id, "corpid": s1})
    assert answer == {"errcode": 0, "errmsg": "ok"}
    assert world.api.get(world.path("/members/" + s1), token=world.owner.token).status_code == 404
    again = wecom.post("corpgroup/corp/remove_corp", {"chain_id": world.chain_id, "corpid": s1})
    assert again["errcode"] == 60011
    # The owner is no corp of its own chain's list: not removable either.
    own = wecom.post(
        "corpgroup/corp/remove_corp", {"chain_id": world.chain_id, "corpid": world.owner.org_id}
    )
    assert own["errcode"] == 60011


def test_rules_map_onto_visibility_rules(world: World, wecom: WeCom):
    groups = wecom.post("corpgroup/corp/get_chain_group", {"chain_id": world.chain_id})["groups"]
    number = {g["group_name"]: g["groupid"] for g in groups}
    body = {
        "chain_id": world.chain_id,
        "rule_info": {
            "member_corp_range": {"groupids": [number["Dealers"]]},
            "visible_corp_range": {"corpids": [world.parties["S1"].org_id]},
        },
    }
    added = wecom.post("corpgroup/rule/add_rule", body)
    assert added["errcode"] == 0, added
    rule_id = added["rule_id"]
    with database() as session:
        rule = session.get(VisibilityRule, rule_id)
        assert rule.viewers == {"groups": ["Dealers"], "orgs": []}
        assert rule.visible == {"groups": [], "orgs": [int(world.parties["S1"].org_id)]}
    # The rule works as one made by POST /rules: a dealer now sees the supplier's contacts.
    seen = world.api.get(world.path("/contacts"), token=world.parties["D1b"].token).json()
    assert world.parties["S1"].email in {c["email"] for c in seen["items"]}

    ids = wecom.post("corpgroup/rule/list_ids", {"chain_id": world.chain_id})
    assert ids == {"errcode": 0, "errmsg": "ok", "rule_ids": [rule_id]}
    info = wecom.post(
        "corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert info["rule_info"] == {
        "owner_corp_range": {"departmentids": [], "userids": []},
        "member_corp_range": {"groupids": [number["Dealers"]], "corpids": []},
        "visible_corp_range": {"groupids": [], "corpids": [world.parties["S1"].org_id]},
    }
    bad = dict(body, rule_info={**body["rule_info"], "owner_corp_range": {"userids": ["x"]}})
    assert wecom.post("corpgroup/rule/add_rule", bad)["errcode"] == 40058
    unknown = dict(body, rule_info={**body["rule_info"], "member_corp_range": {"groupids": [999]}})
    assert wecom.post("corpgroup/rule/add_rule", unknown)["errcode"] == 40058
    assert _count(VisibilityRule) == 1

    deleted = wecom.post(
        "corpgroup/rule/delete_rule", {"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert deleted == {"errcode": 0, "errmsg": "ok"}
    gone = wecom.post(
        "corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert gone["errcode"] == 60011
    assert _count(VisibilityRule) == 0


def _rules(world: World) -> list[dict[str, Any]]:
    response = world.api.get(world.path("/rules"), token=world.owner.token)
    assert response.status_code == 200, response.text
    return [{"viewers": r["viewers"], "visible": r["visible"]} for r in response.json()["items"]]


def _seen_orgs(world: World, party: str) -> set[str]:
    response = world.api.get(world.path("/members"), token=world.parties[party].token)
    assert response.status_code == 200, response.text
    return {m["org_id"] for m in response.json()["items"]}


def test_a_wecom_rule_shows_the_owner_people_and_reads_back_as_given(world: World, wecom: WeCom):
    """add_rule in WeCom's own shape (owner_corp_range, member_corp_range, nothing else): the
    members named see the owner org, which partners see anyway, and get_rule_info echoes it."""
    groups = wecom.post("corpgroup/corp/get_chain_group", {"chain_id": world.chain_id})["groups"]
    dealers = {g["group_name"]: g["groupid"] for g in groups}["Dealers"]
    owner, s1 = world.owner, world.parties["S1"]
    before = _seen_orgs(world, "D1b")
    assert before == {owner.org_id, world.parties["D1b"].org_id}
    rule_info = {
        "owner_corp_range": {"departmentids": [1], "userids": [owner.user_id, owner.user_id]},
        "member_corp_range": {"groupids": [dealers], "corpids": [s1.org_id]},
    }
    added = wecom.post(
        "corpgroup/rule/add_rule", {"chain_id": world.chain_id, "rule_info": rule_info}
    )
    assert added["errcode"] == 0, added
    rule_id = added["rule_id"]

    # Our own API: the dealers and S1 see the owner org, nothing more.
    assert _rules(world) == [
        {
            "viewers": {"groups": ["Dealers"], "orgs": [s1.org_id]},
            "visible": {"groups": [], "orgs": [owner.org_id]},
        }
    ]
    assert _seen_orgs(world, "D1b") == before
    assert _seen_orgs(world, "S1") == {owner.org_id, s1.org_id}
    seen = world.api.get(world.path("/contacts"), token=world.parties["D1b"].token).json()
    assert owner.email in {c["email"] for c in seen["items"]}

    ids = wecom.post("corpgroup/rule/list_ids", {"chain_id": world.chain_id})
    assert ids == {"errcode": 0, "errmsg": "ok", "rule_ids": [rule_id]}
    info = wecom.post(
        "corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert info == {
        "errcode": 0,
        "errmsg": "ok",
        "rule_info": {
            "owner_corp_range": {"departmentids": [1], "userids": [owner.user_id]},
            "member_corp_range": {"groupids": [dealers], "corpids": [s1.org_id]},
            "visible_corp_range": {"groupids": [], "corpids": []},
        },
    }

    deleted = wecom.post(
        "corpgroup/rule/delete_rule", {"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert deleted == {"errcode": 0, "errmsg": "ok"}
    assert _rules(world) == []
    assert wecom.post("corpgroup/rule/list_ids", {"chain_id": world.chain_id})["rule_ids"] == []


def test_a_wecom_rule_with_the_extension_shows_both(world: World, wecom: WeCom):
    """owner_corp_range and the extension visible_corp_range together: the dealer sees the
    owner org and S1; get_rule_info keeps the two sides apart."""
    owner, s1, d1b = world.owner, world.parties["S1"], world.parties["D1b"]
    added = wecom.post(
        "corpgroup/rule/add_rule",
        {
            "chain_id": world.chain_id,
            "rule_info": {
                "owner_corp_range": {"userids": [owner.user_id]},
                "member_corp_range": {"corpids": [d1b.org_id]},
                "visible_corp_range": {"corpids": [s1.org_id]},
            },
        },
    )
    assert added["errcode"] == 0, added
    assert _rules(world) == [
        {
            "viewers": {"groups": [], "orgs": [d1b.org_id]},
            "visible": {"groups": [], "orgs": sorted([owner.org_id, s1.org_id], key=int)},
        }
    ]
    assert _seen_orgs(world, "D1b") == {owner.org_id, d1b.org_id, s1.org_id}
    assert _seen_orgs(world, "D1a") == {owner.org_id, world.parties["D1a"].org_id}
    info = wecom.post(
        "corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": added["rule_id"]}
    )
    assert info["rule_info"] == {
        "owner_corp_range": {"departmentids": [], "userids": [owner.user_id]},
        "member_corp_range": {"groupids": [], "corpids": [d1b.org_id]},
        "visible_corp_range": {"groupids": [], "corpids": [s1.org_id]},
    }


def test_a_rule_made_by_our_api_reads_with_an_empty_owner_side(world: World, wecom: WeCom):
    s1, d1b = world.parties["S1"], world.parties["D1b"]
    made = world.api.post(
        world.path("/rules"),
        {"viewers": {"orgs": [d1b.org_id]}, "visible": {"orgs": [world.owner.org_id, s1.org_id]}},
        token=world.owner.token,
    )
    assert made.status_code == 201, made.text
    info = wecom.post(
        "corpgroup/rule/get_rule_info", {"chain_id": world.chain_id, "rule_id": made.json()["id"]}
    )
    # Nothing was said of the owner's people: nothing is invented; the owner org it names is
    # one of the members it shows.
    assert info["rule_info"] == {
        "owner_corp_range": {"departmentids": [], "userids": []},
        "member_corp_range": {"groupids": [], "corpids": [d1b.org_id]},
        "visible_corp_range": {
            "groupids": [],
            "corpids": sorted([world.owner.org_id, s1.org_id], key=int),
        },
    }


@pytest.mark.parametrize(
    ("owner_range", "member_range", "named"),
    [
        ({"departmentids": [123]}, None, "owner_corp_range.departmentids"),
        ({"departmentids": ["x"]}, None, "owner_corp_range.departmentids"),
        ({"userids": ["zhangsan"]}, None, "owner_corp_range.userids"),
        ({"userids": ["S1"]}, None, "owner_corp_range.userids"),  # a partner's person
        ({"userids": "owner"}, None, "owner_corp_range.userids"),
        ({}, None, "owner_corp_range"),
        ({"departmentids": [], "userids": []}, None, "owner_corp_range"),
        ({"departmentids": [1]}, {}, "member_corp_range"),
        ({"departmentids": [1]}, {"corpids": ["999999"]}, "member_corp_range.corpids"),
        ({"departmentids": [1]}, {"corpids": ["abc"]}, "member_corp_range.corpids"),
        ({"departmentids": [1]}, {"groupids": [999]}, "member_corp_range.groupids"),
    ],
)
def test_a_bad_wecom_rule_is_refused_by_field(
    world: World, wecom: WeCom, owner_range: dict, member_range: dict | None, named: str
):
    people = {"S1": world.parties["S1"].user_id, "owner": world.owner.user_id}
    if isinstance(owner_range.get("userids"), list):
        owner_range = {"userids": [people.get(u, u) for u in owner_range["userids"]]}
    elif owner_range.get("userids") == "owner":
        owner_range = {"userids": world.owner.user_id}  # not a list
    body = {
        "chain_id": world.chain_id,
        "rule_info": {
            "owner_corp_range": owner_range,
            "member_corp_range": (
                member_range
                if member_range is not None
                else {"corpids": [world.parties["S1"].org_id]}
            ),
        },
    }
    refused = wecom.post("corpgroup/rule/add_rule", body)
    assert refused["errcode"] == 40058, refused
    assert f"rule_info.{named}" in refused["errmsg"]
    assert _count(VisibilityRule) == 0


def _import(wecom: WeCom, world: World, contact_list: list) -> dict:
    started = wecom.post(
        "corpgroup/import_chain_contact", {"chain_id": world.chain_id, "contact_list": contact_list}
    )
    assert started["errcode"] == 0, started
    result = wecom.get("corpgroup/getresult", jobid=started["jobid"])
    assert result["errcode"] == 0 and result["status"] == 3, result
    assert result["result"]["chain_id"] == world.chain_id
    return result["result"]


def test_import_keys_contacts_by_mobile_without_email(world: World, wecom: WeCom):
    contact_list = [
        {
            "corp_name": "Harbin Trading",
            "custom_id": "DLR-900",
            "group_path": "Dealers/North East/Harbin",
            "contact_info_list": [
                {
                    "name": "张三",
                    "identity_type": 2,
                    "mobile": "13000000001",
                    "user_custom_id": "100",
                },
                {"name": "李四", "identity_type": 1, "mobile": "13000000002"},
                {"name": "Wang", "mobile": "13000000003", "email": "Wang@Harbin.example"},
            ],
        },
        {"corp_name": "Steel Works", "custom_id": "SUP-001", "contact_info_list": []},
    ]
    result = _import(wecom, world, contact_list)
    assert result["import_status"] == 1 and result["fail_list"] == []
    invites = {invite["mobile"]: invite for invite in result["invite_list"]}
    assert set(invites) == {"13000000001", "13000000002", "13000000003"}
    assert invites["13000000003"]["email"] == "wang@harbin.example"
    assert {invite["custom_id"] for invite in invites.values()} == {"DLR-900"}
    # A person known only by mobile activates with the code getresult handed out.
    code = invites["13000000001"]["invite_code"]
    activated = world.api.post("/auth/activate", {"invite_code": code, "password": "x" * 12})
    assert activated.status_code == 200, activated.text
    with database() as session:
        harbin = session.scalar(select(Member).where(Member.custom_id == "DLR-900"))
        assert harbin.org.kind == "other" and harbin.group.path == "Dealers/North East/Harbin"
        people = {
            u.mobile: u
            for u in session.scalars(
                select(User)
                .join(Contact, Contact.user_id == User.id)
                .where(Contact.org_id == harbin.org_id)
            )
        }
        assert people["13000000001"].email is None and people["13000000001"].role == "admin"
        assert people["13000000002"].role == "staff"
        assert people["13000000003"].email == "wang@harbin.example"
        # The new groups got the next numbers; the Steel Works row changed nothing.
        numbers = session.scalars(
            select(Group.number).where(Group.chain_id == int(world.chain_id))
        ).all()
        assert sorted(numbers) == list(range(2, len(numbers) + 2))
        steel = session.scalar(select(Member).where(Member.custom_id == "SUP-001"))
        assert steel.org.kind == "supplier"

    # Imported again: the same people are found by mobile, nobody new.
    users_before = _count(User)
    again = _import(wecom, world, contact_list)
    assert again["import_status"] == 1
    assert _count(User) == users_before


def test_import_is_all_or_nothing_with_a_fail_list(world: World, wecom: WeCom):
    users, members = _count(User), _count(Member)
    result = _import(
        wecom,
        world,
        [
            {
                "corp_name": "Good Co",
                "custom_id": "DLR-777",
                "contact_info_list": [{"name": "Fine", "mobile": "13100000000"}],
            },
            {
                "corp_name": '=HYPERLINK("http://x")',
                "custom_id": "DLR-778",
                "contact_info_list": [
                    {"name": "Ok", "mobile": "13100000001"},
                    {"name": "Bad", "mobile": "not a phone"},
                    {"mobile": "13100000001"},
                ],
            },
        ],
    )
    assert result["import_status"] == 3
    [failed] = result["fail_list"]
    assert failed["custom_id"] == "DLR-778" and failed["errcode"] == 40058
    assert "corp_name" in failed["errmsg"]
    assert [c.get("mobile") for c in failed["contact_info_list"]] == ["not a phone", "13100000001"]
    assert all(c["errcode"] == 40058 for c in failed["contact_info_list"])
    assert (_count(User), _count(Member)) == (users, members)


def test_import_refuses_oversized_and_empty_lists(world: World, wecom: WeCom):
    users, members = _count(User), _count(Member)
    huge = [
        {
            "corp_name": f"Corp {n}",
            "custom_id": f"C-{n}",
            "contact_info_list": [{"name": "P", "mobile": f"1{n:010d}"}],
        }
        for n in range(100_000)
    ]
    answer = wecom.post(
        "corpgroup/import_chain_contact", {"chain_id": world.chain_id, "contact_list": huge}
    )
    assert answer["errcode"] == 40058 and "contact_list" in answer["errmsg"]
    assert "jobid" not in answer
    empty = wecom.post(
        "corpgroup/import_chain_contact", {"chain_id": world.chain_id, "contact_list": []}
    )
    assert empty["errcode"] == 44004
    assert (_count(User), _count(Member)) == (users, members)


def test_getresult_only_for_the_org_that_started_it(world: World, wecom: WeCom):
    started = wecom.post(
        "corpgroup/import_chain_contact",
        {
            "chain_id": world.chain_id,
            "contact_list": [{"corp_name": "Solo", "custom_id": "S-9", "contact_info_list": []}],
        },
    )
    rival = WeCom(world)
    rival.login(world.outsider.token, world.outsider.org_id)
    answer = rival.get("corpgroup/getresult", jobid=started["jobid"])
    assert answer["errcode"] == 60011 and set(answer) == {"errcode", "errmsg"}
    assert wecom.get("corpgroup/getresult", jobid="nope")["errcode"] == 60011


def test_import_reports_what_only_the_database_shows(world: World, wecom: WeCom):
    # The email of a person of another org, and a kind an existing member does not have.
    result = _import(
        wecom,
        world,
        [
            {
                "corp_name": "Beijing Motors Sales",
                "custom_id": "DLR-001",
                "kind": "supplier",
                "contact_info_list": [
                    {"name": "Taken", "mobile": "13200000000", "email": world.owner.email}
                ],
            }
        ],
    )
    assert result["import_status"] == 3
    [failed] = result["fail_list"]
    assert failed["custom_id"] == "DLR-001" and "kind" in failed["errmsg"]
    [contact] = failed["contact_info_list"]
    assert contact["mobile"] == "13200000000" and "another org" in contact["errmsg"]
    bad_identity = wecom.post(
        "corpgroup/import_chain_contact",
        {
            "chain_id": world.chain_id,
            "contact_list": [
                {"corp_name": "X", "custom_id": "X-1", "contact_info_list": [{"identity_type": 3}]}
            ],
        },
    )
    assert bad_identity["errcode"] == 40058 and "identity_type" in bad_identity["errmsg"]


def test_fail_list_names_the_first_200_corps(world: World, wecom: WeCom):
    bad = [
        {"corp_name": f"Corp {n}", "custom_id": f"C-{n}", "group_path": "a//b"} for n in range(250)
    ]
    result = _import(wecom, world, bad)
    assert result["import_status"] == 3
    assert [f["custom_id"] for f in result["fail_list"]] == [f"C-{n}" for n in range(200)]
    assert all("group_path" in f["errmsg"] for f in result["fail_list"])


def test_tokens_expired_for_a_day_are_dropped_at_the_next_gettoken(world: World):
    client = WeCom(world)
    secret = world.api.post("/me/tokens", {"name": "w"}, token=world.owner.token).json()["token"]
    params = {"corpid": world.owner.org_id, "corpsecret": secret}
    first = client.send("GET", "gettoken", params=params)["access_token"]
    second = client.send("GET", "gettoken", params=params)["access_token"]
    with database() as session:
        session.execute(update(WeComAccessToken).values(expires_at=utcnow() - timedelta(days=2)))
    client.access_token = second
    assert client.get("corpgroup/corp/get_chain_list")["errcode"] == 42001
    third = client.send("GET", "gettoken", params=params)["access_token"]
    assert _count(WeComAccessToken) == 1
    for gone in (first, second):
        assert client.get("corpgroup/corp/get_chain_list", access_token=gone)["errcode"] == 40014
    assert client.get("corpgroup/corp/get_chain_list", access_token=third)["errcode"] == 0
    # Revoking the API token ends its access tokens at once.
    [token_id] = [
        t["id"]
        for t in world.api.get("/me/tokens", token=world.owner.token).json()["items"]
        if t["name"] == "w"
    ]
    assert world.api.delete(f"/me/tokens/{token_id}", token=world.owner.token).status_code == 204
    assert client.get("corpgroup/corp/get_chain_list", access_token=third)["errcode"] == 40014


def test_a_concurrent_conflict_fails_the_whole_list(world: World, wecom: WeCom, monkeypatch):
    from supplychain.errors import Conflict
    from supplychain.services import wecom_imports as service

    def taken(*args: Any, **kwargs: Any) -> None:
        raise Conflict("A concurrent change took some of the same people; nothing was saved.")

    monkeypatch.setattr(service, "import_directory", taken)
    result = _import(
        wecom, world, [{"corp_name": "Solo", "custom_id": "S-1", "contact_info_list": []}]
    )
    assert result["import_status"] == 3
    assert result["fail_list"] == [
        {
            "corp_name": "",
            "custom_id": "",
            "errcode": 60020,
            "errmsg": "A concurrent change took some of the same people; nothing was saved.",
            "contact_info_list": [],
        }
    ]


def test_the_openapi_document_describes_the_calls(api):
    document = api.get("/api/openapi.json").json()
    calls = {path: ops for path, ops in document["paths"].items() if path.startswith("/cgi-bin/")}
    assert set(calls) == {
        "/cgi-bin/gettoken",
        "/cgi-bin/corpgroup/corp/get_chain_list",
        "/cgi-bin/corpgroup/corp/get_chain_group",
        "/cgi-bin/corpgroup/corp/get_chain_corpinfo_list",
        "/cgi-bin/corpgroup/corp/get_chain_corpinfo",
        "/cgi-bin/corpgroup/corp/remove_corp",
        "/cgi-bin/corpgroup/import_chain_contact",
        "/cgi-bin/corpgroup/getresult",
        "/cgi-bin/corpgroup/rule/list_ids",
        "/cgi-bin/corpgroup/rule/get_rule_info",
        "/cgi-bin/corpgroup/rule/add_rule",
        "/cgi-bin/corpgroup/rule/delete_rule",
        "/cgi-bin/corpgroup/corp/list_app_share_info",
    }
    for path, operations in calls.items():
        for operation in operations.values():
            assert operation["security"] == [] and set(operation["responses"]) == {"200"}
            names = {p["name"] for p in operation.get("parameters", [])}
            assert ("access_token" in names) == (path != "/cgi-bin/gettoken")
    reply = document["components"]["schemas"]["CorpListReply"]
    assert set(reply["required"]) == {"errcode", "errmsg"}
    assert {"group_corps", "has_more", "next_cursor"} <= set(reply["properties"])
