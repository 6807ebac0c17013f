"""The pages in a real Chromium: a dealer's whole job on a desktop and on a phone, the owner's
notice and its progress, access by URL, CSRF, the language switch; screenshots as artifacts."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD
from tests.ui.conftest import Scene, issue_order, screenshot, ship_all, sign_in

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(page) -> None:
    """Nothing sticks out to the right: a phone never scrolls the whole page sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _dealer_flow(page, scene: Scene, tag: str) -> None:
    w = scene.world
    sign_in(page, w.parties["D1a"].email)
    page.get_by_role("heading", name="Acme dealers").wait_for()
    screenshot(page, f"{tag}-home")

    # A notice: open it from the home page, acknowledge it, answer with a quantity.
    page.click("a.tile:has-text('Unread notices')")
    page.wait_for_url("**/notices?state=unread")
    page.click("text=Brake pads allocation for May")
    page.locator("#acknowledge button[type=submit]").click()
    page.locator(".flash.ok", has_text="Acknowledged.").wait_for()
    page.fill("input[name=items-0-qty]", "120")
    page.click("text=Send quantities")
    page.locator(".flash.ok", has_text="Your quantities were sent.").wait_for()
    assert "Acknowledged at" in page.inner_text("#acknowledge")
    screenshot(page, f"{tag}-notice")
    _no_sideways_scroll(page)

    # An order: line 1 accepted, line 2 changed, first with a bad quantity.
    page.goto(scene.page(""))
    page.click("a.tile:has-text('Orders to acknowledge')")
    page.click("table a[href*='/orders/']")
    page.select_option("select[name=lines-1-status]", "changed")
    page.fill("input[name=lines-1-qty]", "-4")
    page.click("text=Send line answers")
    error = page.locator("#ack-line-2 .field-error")
    error.wait_for()
    assert "Must be greater than 0." in error.inner_text()
    qty_cell = page.locator("#ack-line-2 td", has=page.locator("input[name=lines-1-qty]"))
    assert "Must be greater than 0." in qty_cell.inner_text()
    assert page.get_attribute("input[name=lines-1-qty]", "aria-invalid") == "true"
    screenshot(page, f"{tag}-order-error")
    page.fill("input[name=lines-1-qty]", "8")
    page.fill("input[name=lines-1-reason]", "Only 8 in stock")
    page.click("text=Send line answers")
    page.locator(".flash.ok", has_text="Your acknowledgment was recorded.").wait_for()
    lines = page.locator("table.lines tbody tr")
    assert "IA" in lines.nth(0).inner_text() and "IQ" in lines.nth(1).inner_text()

    # The seller ships; the dealer records the receipt from its home page.
    ship_all(w.api, w, scene.order_id)
    page.goto("/home")
    page.click("a.tile:has-text('Shipments to receive')")
    page.click("table a[href*='/orders/']")
    page.fill("input[name=receive-0-qty]", "10")
    page.fill("input[name=receive-1-qty]", "8")
    page.fill("input[name=ref]", "DN-778")
    page.click("text=Record receipt")
    page.locator(".flash.ok", has_text="Receipt recorded.").wait_for()
    assert "received" in page.inner_text("#history")
    screenshot(page, f"{tag}-order")
    _no_sideways_scroll(page)
    order = w.api.get(w.path(f"/orders/{scene.order_id}"), token=w.owner.token).json()
    assert [line["received_qty"] for line in order["lines"]] == ["10", "8"]


def test_dealer_does_its_job_on_a_desktop(scene: Scene, browse):
    _dealer_flow(browse(), scene, "desktop")


def test_dealer_does_its_job_on_a_phone(scene: Scene, browse):
    page = browse(viewport=PHONE)
    _dealer_flow(page, scene, "phone")
    page.goto("/login")


def test_owner_sends_a_notice_to_a_tier_and_follows_it(scene: Scene, browse):
    w = scene.world
    page = browse(viewport=None)
    page.set_viewport_size(DESKTOP)
    sign_in(page, w.owner.email)
    page.goto(scene.page("/notices/new"))
    page.check("input[name=kind][value=demand]")
    page.fill("input[name=title]", "Q3 steel demand")
    page.fill("textarea[name=body]", "Please confirm your quantities by Friday.")
    page.fill("input[name=items-0-sku]", "ST-10")
    page.fill("input[name=items-0-qty]", "x")
    page.check("input[name=tiers][value=D1]")
    page.check("input[name=requires_ack]")
    page.click("text=Send notice")
    assert (
        "Not a valid decimal."
        in page.locator("td", has=page.locator("[name=items-0-qty]")).inner_text()
    )
    assert page.is_checked("input[name=tiers][value=D1]")
    screenshot(page, "desktop-compose-error")
    page.fill("input[name=items-0-qty]", "2000")
    page.fill("input[name=items-0-unit]", "t")
    page.click("text=Send notice")
    page.locator(".flash.ok", has_text="Sent to 2 recipients.").wait_for()
    assert "0 / 2" in page.inner_text(".tiles")
    notice_id = re.search(r"/notices/(\d+)/recipients", page.url).group(1)
    d1a = w.parties["D1a"]
    w.api.post(w.path(f"/notices/{notice_id}/ack"), {}, token=d1a.token)
    w.api.post(
        w.path(f"/notices/{notice_id}/responses"),
        {"items": [{"sku": "ST-10", "qty": "250"}]},
        token=d1a.token,
    )
    page.reload()
    tiles = page.inner_text(".tiles")
    assert tiles.count("1 / 2") == 3
    assert "250" in page.inner_text("table.compact")
    screenshot(page, "desktop-recipients")


def test_owner_pages(scene: Scene, browse):
    w = scene.world
    page = browse()
    page.set_viewport_size(DESKTOP)
    sign_in(page, w.owner.email)
    screenshot(page, "desktop-owner-home")
    page.goto(scene.page("/map"))
    page.locator("svg.chain-map").wait_for()
    screenshot(page, "desktop-map")
    page.click(f"svg a[href$='/members/{w.parties['D1a'].org_id}']")
    page.get_by_role("heading", name="Beijing Motors Sales").wait_for()
    assert "Tianjin Sub-dealer" in page.inner_text("#impact")
    screenshot(page, "desktop-member")
    page.goto(scene.page("/members"))
    screenshot(page, "desktop-members")
    page.goto(scene.page("/grants"))
    screenshot(page, "desktop-grants")
    page.goto(scene.page(f"/orders/{scene.order_id}"))
    screenshot(page, "desktop-owner-order")


def test_a_dealer_cannot_open_another_dealers_order_by_url(scene: Scene, browse):
    w = scene.world
    other = issue_order(w, buyer="D1b")
    page = browse()
    sign_in(page, w.parties["D1a"].email)
    response = page.goto(scene.page(f"/orders/{other['id']}"))
    assert response is not None and response.status == 404
    assert "No such order." in page.inner_text("main")
    own = page.goto(scene.page(f"/orders/{scene.order_id}"))
    assert own is not None and own.status == 200


def test_a_post_without_the_csrf_token_is_refused(scene: Scene, browse):
    w = scene.world
    page = browse()
    sign_in(page, w.parties["D1a"].email)
    # The browser's own cookie goes along, but no token: refused, and nothing is acknowledged.
    response = page.request.post(
        scene.page(f"/notices/{scene.notice_id}/ack"), form={"note": "forged"}
    )
    assert response.status == 400
    totals = w.api.get(
        w.path(f"/notices/{scene.notice_id}/recipients"), token=w.owner.token
    ).json()["totals"]
    assert totals["acked"] == 0


def test_language_switch_shows_chinese(scene: Scene, browse):
    page = browse()
    sign_in(page, scene.world.parties["D1a"].email)
    page.click("button[name=lang][value=zh]")
    page.locator("text=未读通知").first.wait_for()
    assert page.get_attribute("html", "lang") == "zh-CN"
    screenshot(page, "desktop-home-zh")
    page.goto(scene.page(f"/orders/{scene.order_id}"))
    assert "确认此订单" in page.inner_text("main")
    page.click("button[name=lang][value=en]")
    page.locator("text=Acknowledge this order").wait_for()


@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_phone_sign_in_and_activation_pages(scene: Scene, browse, viewport):
    w = scene.world
    added = w.api.post(
        w.path(f"/members/{w.parties['D1b'].org_id}/contacts"),
        {"name": "Phone Person", "email": "phone@sh.example"},
        token=w.owner.token,
    ).json()
    page = browse(viewport=viewport)
    page.goto("/activate")
    page.fill("input[name=invite_code]", added["invite_code"])
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD + "x")
    page.click("form.stack button[type=submit]")
    page.locator(".field-error", has_text="Type the same password twice.").wait_for()
    screenshot(page, "phone-activate-error")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/home")
    page.locator(".flash.ok").wait_for()
    _no_sideways_scroll(page)
