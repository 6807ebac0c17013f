"""The sharing page registers a custom app and shows its client id and secret once; a partner's
home page shows the custom apps shared with it as tiles; in English and Chinese."""

from __future__ import annotations

from tests.api.oidc_helpers import grant


def test_the_owner_registers_an_app_and_sees_the_secret_once(world, web):
    browser = web()
    browser.login(world.owner.email)
    page = browser.get(f"/chains/{world.chain_id}/grants")
    assert "Register an app" in page.text
    created = browser.post(
        f"/chains/{world.chain_id}/apps/new",
        {
            "key": "portal",
            "name": "Dealer portal",
            "url": "https://portal.example/",
            "redirect_uris": "https://portal.example/cb\nhttps://portal.example/cb2",
            "backchannel_logout_uri": "https://portal.example/logout",
        },
    )
    assert created.status_code == 200, created.text[:500]
    assert 'id="client-secret">scs_' in created.text and "sca_" in created.text
    secret = created.text.split('id="client-secret">')[1].split("<")[0]
    listed = browser.get(f"/chains/{world.chain_id}/grants")
    assert "Dealer portal" in listed.text and secret not in listed.text
    rotated = browser.post(f"/chains/{world.chain_id}/apps/portal/secret", {})
    assert 'id="client-secret">scs_' in rotated.text and secret not in rotated.text


def test_bad_redirect_uris_come_back_on_the_form(world, web):
    browser = web()
    browser.login(world.owner.email)
    browser.get(f"/chains/{world.chain_id}/grants")
    page = browser.post(
        f"/chains/{world.chain_id}/apps/new",
        {
            "key": "portal",
            "name": "P",
            "url": "https://p.example/",
            "redirect_uris": "http://p.example/cb",
        },
    )
    assert page.status_code == 422
    assert "loopback" in page.text and 'name="redirect_uris"' in page.text


def test_a_partner_sees_its_shared_apps_as_tiles_in_its_language(world, web):
    r = world.api.post(
        world.path("/apps"),
        {"key": "portal", "name": "Dealer portal", "url": "https://portal.example/"},
        token=world.owner.token,
    )
    assert r.status_code == 201
    grant(world, "portal", "tier", "D1")
    browser = web()
    browser.login(world.parties["D1a"].email)
    home = browser.get("/home")
    assert 'href="https://portal.example/"' in home.text and "Dealer portal" in home.text
    other = web()
    other.login(world.parties["S1"].email)
    assert "portal.example" not in other.get("/home").text
    zh = browser.get("/home", headers={"Accept-Language": "zh-CN"})
    assert "使用本账号登录" in zh.text or "应用" in zh.text


def test_the_sharing_form_offers_pickers_for_tiers_groups_and_members(world, web):
    browser = web()
    browser.login(world.owner.email)
    page = browser.get(f"/chains/{world.chain_id}/grants").text
    assert '<option value="D1"' in page and '<option value="Dealers/North China"' in page
    assert f'<option value="{world.parties["D2"].org_id}"' in page
    d2 = world.parties["D2"].org_id
    done = browser.post(
        f"/chains/{world.chain_id}/grants",
        {"app": "notices", "scope_type": "org", "scope_tier": "D1", "scope_org": d2},
    )
    assert done.status_code == 200
    grants = world.api.get(world.path("/grants"), token=world.owner.token).json()["items"]
    assert [g["scope"] for g in grants] == [{"type": "org", "value": d2}]
