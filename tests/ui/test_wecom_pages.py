"""Pages showing people a WeCom import made: a contact known by mobile only has no email."""

from __future__ import annotations

from tests.api.test_wecom import WeCom
from tests.conftest import World


def test_member_page_shows_a_contact_known_by_mobile_only(world: World, web):
    client = WeCom(world)
    client.login(world.owner.token, world.owner.org_id)
    started = client.post(
        "corpgroup/import_chain_contact",
        {
            "chain_id": world.chain_id,
            "contact_list": [
                {
                    "corp_name": "Dalian Parts",
                    "custom_id": "SUP-900",
                    "contact_info_list": [{"name": "王五", "mobile": "13000000009"}],
                }
            ],
        },
    )
    assert started["errcode"] == 0, started
    found = world.api.get(world.path("/members?q=SUP-900"), token=world.owner.token).json()
    [member] = found["items"]
    admin = web()
    admin.login(world.owner.email)
    page = admin.get(f"/chains/{world.chain_id}/members/{member['org_id']}")
    assert page.status_code == 200
    assert "王五" in page.text and 'href="tel:13000000009"' in page.text
    assert "None" not in page.text and "mailto:" not in page.text
