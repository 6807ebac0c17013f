"""Company sign-in pages: the org admin's settings page (save, field errors, the test button,
switching off) without JavaScript, and in a real Chromium on a phone the sign-in page's company
button through a real IdP (panva's oidc-provider) and back, signed in."""

from __future__ import annotations

import pytest

from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH
from tests.fake_idp import FakeIdp, rsa_key
from tests.idp.provider import CLIENT_ID, CLIENT_SECRET
from tests.ui.conftest import screenshot, sign_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def fake_idp():
    fake = FakeIdp(rsa_key("k"))
    yield fake
    fake.close()


@pytest.fixture
def private_ok(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


def test_an_admin_connects_tests_and_switches_off_company_sign_in(world, web, fake_idp, private_ok):
    admin = web()
    admin.login(world.owner.email)
    page = admin.get("/settings/company-sign-in")
    assert page.status_code == 200
    assert CALLBACK_PATH in page.text and BACKCHANNEL_LOGOUT_PATH in page.text
    form = {
        "issuer": fake_idp.issuer,
        "client_id": "client-1",
        "client_secret": "secret-1",
        "email_domains": "https://acme.example\n*.acme.example",
    }
    bad = admin.post("/settings/company-sign-in", form)
    assert bad.status_code == 422
    assert "without a scheme" in bad.text and "No wildcards" in bad.text
    fake_idp.discovery = "garbage"
    bad = admin.post("/settings/company-sign-in", {**form, "email_domains": "acme.example"})
    assert bad.status_code == 422 and "not JSON" in bad.text
    fake_idp.discovery = "ok"
    saved = admin.post(
        "/settings/company-sign-in", {**form, "email_domains": "acme.example", "required": "1"}
    )
    assert saved.status_code == 200 and "Company sign-in is saved." in saved.text
    assert "secret-1" not in saved.text
    checked = admin.post("/settings/company-sign-in/test", {})
    assert checked.status_code == 200 and "discovery document is in order" in checked.text
    fake_idp.discovery = "error"
    checked = admin.post("/settings/company-sign-in/test", {})
    assert checked.status_code == 422 and "HTTP 500" in checked.text
    off = admin.post("/settings/company-sign-in/delete", {})
    assert off.status_code == 200 and "switched off" in off.text
    assert (
        world.api.get(f"/orgs/{world.owner.org_id}/sso", token=world.owner.token).status_code == 404
    )


def test_staff_cannot_open_the_settings(world, web):
    staff = web()
    staff.login(world.owner_staff.email)
    assert staff.get("/settings/company-sign-in").status_code == 403


def test_the_settings_page_in_chinese(world, web):
    admin = web()
    admin.login(world.owner.email)
    admin.post("/language", {"lang": "zh"})
    page = admin.get("/settings/company-sign-in")
    assert "企业账号登录" in page.text and "回调地址" in page.text
    assert "使用公司账号登录" in web().get("/login", headers={"Accept-Language": "zh-CN"}).text


def test_a_person_signs_in_with_the_company_account_on_a_phone(
    live_world, company_idp, browse, app, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "BASE_URL", live_world.api.base)
    company_idp.set_claims({})
    r = live_world.api.put(
        f"/orgs/{live_world.owner.org_id}/sso",
        {
            "issuer": company_idp.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "email_domains": ["acme.example"],
        },
        token=live_world.owner.token,
    )
    assert r.status_code == 200, r.text
    page = browse(viewport=PHONE)
    page.goto(live_world.api.base + "/login")
    page.click("text=Sign in with your company account")
    page.fill("input[name=email]", "staff@acme.example")
    screenshot(page, "sso-company-email")
    page.click("main button[type=submit]")
    # The company's own login page (the IdP's development form), then back here.
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", "staff@acme.example")
    page.fill("input[name=password]", "whatever")
    page.click("button[type=submit]")
    page.wait_for_url(live_world.api.base + "/**")
    page.get_by_role("link", name="Account").wait_for()
    screenshot(page, "sso-signed-in")
    page.goto(live_world.api.base + "/account")
    assert "staff@acme.example" in page.inner_text("main")


def test_the_settings_page_fits_a_phone(live_world, company_idp, browse, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "BASE_URL", live_world.api.base)
    page = browse(viewport=PHONE)
    sign_in(page, live_world.owner.email)
    page.goto(live_world.api.base + "/settings/company-sign-in")
    page.fill("input[name=issuer]", company_idp.issuer)
    page.fill("input[name=client_id]", CLIENT_ID)
    page.fill("input[name=client_secret]", CLIENT_SECRET)
    page.fill("textarea[name=email_domains]", "acme.example\nacme-motors.example")
    page.click("main form[action$='company-sign-in'] button[type=submit]")
    page.locator(".flash.ok", has_text="Company sign-in is saved.").wait_for()
    page.click("text=Test the connection")
    page.locator(".flash.ok", has_text="discovery document is in order").wait_for()
    screenshot(page, "sso-settings-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
