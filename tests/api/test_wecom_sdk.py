"""A WeCom SDK (wechatpy's `wechatpy.work.WeChatClient`) against the live server: it fetches an
access token, lists our chain, its groups and corps, imports contacts and reads the job's
result, as it would against qyapi.weixin.qq.com.

wechatpy sends every call to `API_BASE_URL` + path, except `gettoken`, whose URL it spells out
in `fetch_access_token`: the test client points both at the server."""

from __future__ import annotations

import httpx
import pytest
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from tests.conftest import World


class ServerWeChatClient(WeChatClient):
    """wechatpy's WeCom client with its base URL (and the gettoken URL) at our server."""

    def __init__(self, base_url: str, corp_id: str, secret: str) -> None:
        super().__init__(corp_id, secret)
        self.API_BASE_URL = base_url + "/cgi-bin/"

    def fetch_access_token(self):  # type: ignore[no-untyped-def]
        return self._fetch_access_token(
            url=self.API_BASE_URL + "gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )


def _api_token(world: World) -> str:
    response = world.api.post("/me/tokens", {"name": "wechatpy"}, token=world.owner.token)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_wechatpy_lists_the_chain_and_imports_contacts(live_world: World, server: str):
    world = live_world
    client = ServerWeChatClient(server, world.owner.org_id, _api_token(world))
    chains = client.get("corpgroup/corp/get_chain_list")
    assert chains["chains"] == [{"chain_id": world.chain_id, "chain_name": "Acme dealers"}]
    assert client.expires_at is not None  # wechatpy took the token and its 7 200 s

    groups = client.post("corpgroup/corp/get_chain_group", data={"chain_id": world.chain_id})
    number = {g["group_name"]: g["groupid"] for g in groups["groups"]}
    assert {"Suppliers", "Dealers", "Beijing"} <= set(number)

    corps = client.post(
        "corpgroup/corp/get_chain_corpinfo_list",
        data={"chain_id": world.chain_id, "groupid": number["Dealers"], "fetch_child": 1},
    )
    assert {c["custom_id"] for c in corps["group_corps"]} == {"DLR-001", "DLR-002", "DLR-101"}

    job = client.post(
        "corpgroup/import_chain_contact",
        data={
            "chain_id": world.chain_id,
            "contact_list": [
                {
                    "corp_name": "飞飞培训学校",
                    "group_path": "华北区/北京市/海淀区",
                    "custom_id": "wof3du51quo5sl1is",
                    "contact_info_list": [
                        {"name": "张三", "identity_type": 1, "mobile": "13000000001"},
                        {"name": "李四", "identity_type": 2, "mobile": "13000000002"},
                    ],
                }
            ],
        },
    )
    result = client.get("corpgroup/getresult", params={"jobid": job["jobid"]})
    assert result["status"] == 3
    invites = result["result"].pop("invite_list")  # our extension: the people's codes
    assert result["result"] == {
        "chain_id": world.chain_id,
        "import_status": 1,
        "fail_list": [],
    }
    assert invites and all(invite["invite_code"] for invite in invites)
    member = world.api.get(
        world.path("/members?q=wof3du51quo5sl1is"), token=world.owner.token
    ).json()
    [imported] = member["items"]
    assert imported["group"] == "华北区/北京市/海淀区"
    detail = world.api.get(world.path(f"/members/{imported['org_id']}"), token=world.owner.token)
    contacts = {c["mobile"]: c for c in detail.json()["contacts"]}
    assert contacts["13000000001"]["email"] is None
    assert contacts["13000000002"]["role"] == "admin"

    # The new groups are listed under their own numbers, below the root.
    after = client.post("corpgroup/corp/get_chain_group", data={"chain_id": world.chain_id})
    by_name = {g["group_name"]: g for g in after["groups"]}
    assert by_name["华北区"]["parentid"] == 1
    assert by_name["海淀区"]["parentid"] == by_name["北京市"]["groupid"]
    assert {name: by_name[name]["groupid"] for name in number} == number


def test_wechatpy_sees_errcodes(live_world: World, server: str):
    world = live_world
    wrong = ServerWeChatClient(server, world.owner.org_id, "not-a-token")
    with pytest.raises(WeChatClientException) as refused:
        wrong.get("corpgroup/corp/get_chain_list")
    assert refused.value.errcode == 40001

    client = ServerWeChatClient(server, world.owner.org_id, _api_token(world))
    with pytest.raises(WeChatClientException) as foreign:
        client.post("corpgroup/corp/get_chain_group", data={"chain_id": "424242"})
    assert foreign.value.errcode == 60011
    with pytest.raises(WeChatClientException) as limit:
        client.post(
            "corpgroup/corp/get_chain_corpinfo_list",
            data={"chain_id": world.chain_id, "limit": 1001},
        )
    assert limit.value.errcode == 40058

    # Malformed JSON and a missing token over raw HTTP (httpx): still 200 with an errcode.
    raw = httpx.post(
        server + "/cgi-bin/corpgroup/corp/get_chain_group",
        params={"access_token": client.access_token},
        content=b"{oops",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert raw.status_code == 200 and raw.json()["errcode"] == 47001
    missing = httpx.get(server + "/cgi-bin/corpgroup/corp/get_chain_list", timeout=30)
    assert missing.status_code == 200 and missing.json()["errcode"] == 40014


def test_wechatpy_adds_reads_and_deletes_a_rule_in_wecoms_shape(live_world: World, server: str):
    """The rule calls as a WeCom integration makes them (owner_corp_range and member_corp_range,
    no extension), checked through our own API: the rule lets the dealers see the owner org,
    which partners see anyway, and is gone after delete_rule."""
    world = live_world
    owner = world.owner
    client = ServerWeChatClient(server, owner.org_id, _api_token(world))
    groups = client.post("corpgroup/corp/get_chain_group", data={"chain_id": world.chain_id})
    dealers = {g["group_name"]: g["groupid"] for g in groups["groups"]}["Dealers"]
    rule_info = {
        "owner_corp_range": {"departmentids": [1], "userids": [owner.user_id]},
        "member_corp_range": {"groupids": [dealers], "corpids": [world.parties["S1"].org_id]},
    }
    added = client.post(
        "corpgroup/rule/add_rule", data={"chain_id": world.chain_id, "rule_info": rule_info}
    )
    rule_id = added["rule_id"]
    listed = client.post("corpgroup/rule/list_ids", data={"chain_id": world.chain_id})
    assert listed["rule_ids"] == [rule_id]
    info = client.post(
        "corpgroup/rule/get_rule_info", data={"chain_id": world.chain_id, "rule_id": rule_id}
    )
    assert info["rule_info"]["owner_corp_range"] == rule_info["owner_corp_range"]
    assert info["rule_info"]["member_corp_range"] == rule_info["member_corp_range"]

    rules = world.api.get(world.path("/rules"), token=owner.token).json()["items"]
    assert [(r["id"], r["viewers"], r["visible"]) for r in rules] == [
        (
            str(rule_id),
            {"groups": ["Dealers"], "orgs": [world.parties["S1"].org_id]},
            {"groups": [], "orgs": [owner.org_id]},
        )
    ]
    seen = world.api.get(world.path("/members"), token=world.parties["D2"].token).json()
    assert {m["org_id"] for m in seen["items"]} == {owner.org_id, world.parties["D2"].org_id}

    # A WeCom userid that is no contact of the owner here: refused, nothing added.
    with pytest.raises(WeChatClientException) as stranger:
        client.post(
            "corpgroup/rule/add_rule",
            data={
                "chain_id": world.chain_id,
                "rule_info": dict(rule_info, owner_corp_range={"userids": ["zhangsan"]}),
            },
        )
    assert stranger.value.errcode == 40058
    assert "owner_corp_range.userids" in stranger.value.errmsg

    assert client.post(
        "corpgroup/rule/delete_rule", data={"chain_id": world.chain_id, "rule_id": rule_id}
    ) == {"errcode": 0, "errmsg": "ok"}
    assert world.api.get(world.path("/rules"), token=owner.token).json()["items"] == []
    with pytest.raises(WeChatClientException) as gone:
        client.post(
            "corpgroup/rule/get_rule_info", data={"chain_id": world.chain_id, "rule_id": rule_id}
        )
    assert gone.value.errcode == 60011
