"""The pages of issue 12 driven in Chromium: the Integrations page (the secret shown once and not
again on reload, a test ping delivered and verified, the delivery log, redeliver), mail settings,
a forgotten password from the link in the mail to signing in with the new one, and the remind
button on a notice's recipients page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from supplychain.outbound.mail.sending import drain_background
from supplychain.outbound.worker import Worker
from tests.conftest import PASSWORD, World
from tests.mailserver import Collector, app_mailing_to_server
from tests.ui.conftest import Scene, screenshot, sign_in
from tests.ui.test_integrations_pages import loopback_allowed, receiver  # noqa: F401 (fixtures)

NEW_PASSWORD = "a brand new passphrase"


def _flash(page, text: str) -> None:
    page.locator(".flash.ok", has_text=text).wait_for()


@pytest.mark.committed  # the worker claims and records in transactions of its own
def test_integrations_secret_once_test_log_and_redeliver(
    app,
    world: World,
    browse,
    loopback_allowed,  # noqa: F811
    receiver,  # noqa: F811
):
    dealer = world.parties["D1a"]  # a partner's admin, for its own org
    page = browse()
    sign_in(page, dealer.email)
    page.goto(f"/chains/{world.chain_id}")
    page.click("nav.chainnav >> text=Integrations")
    page.fill("input[name=url]", receiver.url + "/dms")
    page.fill("input[name=description]", "Dealer DMS")
    page.click("text=Add webhook")
    page.locator("#webhook-secret").wait_for()
    secret = page.inner_text("#webhook-secret")
    assert secret.startswith("whsec_")

    # Reloading the answer neither shows the secret again nor adds a second webhook.
    page.reload()
    page.locator("#webhook-secret-gone").wait_for()
    assert page.locator("#webhook-secret").count() == 0
    assert "whsec_" not in page.content()
    listed = world.api.get(world.path("/webhooks"), token=dealer.token).json()
    assert listed["total"] == 1 and listed["items"][0]["description"] == "Dealer DMS"
    page.click("button[name=lang][value=zh]")
    page.locator(
        "#webhook-secret-gone", has_text="签名密钥只在添加 Webhook 时显示过一次"
    ).wait_for()
    page.click("button[name=lang][value=en]")
    page.locator("#webhook-secret-gone", has_text="cannot be shown again").wait_for()
    page.click("text=Back to integrations")
    page.locator("text=Dealer DMS").wait_for()
    assert "whsec_" not in page.content()

    page.goto(f"/chains/{world.chain_id}/integrations/{listed['items'][0]['id']}")
    page.click("button:has-text('Send test')")
    _flash(page, "A test message is on its way.")
    row = page.locator("table tbody tr").first
    assert "ping" in row.inner_text() and "pending" in row.inner_text()
    Worker(app).run_once()
    (receipt,) = receiver.receipts
    assert Webhook(secret).verify(receipt.body, receipt.headers)["type"] == "ping"

    page.reload()
    row = page.locator("table tbody tr").first
    assert "succeeded" in row.inner_text() and "HTTP 200" in row.inner_text()
    screenshot(page, "integrations-delivery-log")
    row.locator("button:has-text('Redeliver')").click()
    _flash(page, "Queued for delivery again.")
    Worker(app).run_once()
    # The same event again: the same webhook-id, a fresh signature that verifies.
    assert list(receiver.ids().values()) == [2]
    assert Webhook(secret).verify(receiver.receipts[1].body, receiver.receipts[1].headers)
    page.click("nav.tabs >> text=failed")
    page.locator("text=Nothing sent yet.").wait_for()
    page.click("nav.tabs >> text=succeeded")
    assert "ping" in page.locator("table tbody tr").first.inner_text()


def test_mail_settings_page(world: World, browse):
    dealer = world.parties["D1b"]
    page = browse()
    sign_in(page, dealer.email)
    page.click("a.account-link")
    page.click("text=Choose which mail you get")
    page.locator("h1", has_text="Mail settings").wait_for()
    assert page.is_checked("input[name=email][value=immediate]")  # the default
    page.check("input[name=email][value=daily]")
    for box in page.locator("input[name=events]").all():
        box.uncheck()
    page.check("input[name=events][value='order.issued']")
    page.check("input[name=events][value='statement.ready']")
    page.select_option("select[name=language]", "en")
    page.click("form.stack button[type=submit]")
    _flash(page, "Your mail settings were saved.")

    page.reload()
    assert page.is_checked("input[name=email][value=daily]")
    checked = [b.get_attribute("value") for b in page.locator("input[name=events]:checked").all()]
    assert checked == ["order.issued", "statement.ready"]
    assert page.input_value("select[name=language]") == "en"
    saved = world.api.get("/me/notifications", token=dealer.token).json()
    assert saved == {"email": "daily", "events": ["order.issued", "statement.ready"]}

    page.check("input[name=email][value=off]")
    page.click("form.stack button[type=submit]")
    _flash(page, "Your mail settings were saved.")
    assert world.api.get("/me/notifications", token=dealer.token).json()["email"] == "off"

    # The same page in Chinese.
    page.click("button[name=lang][value=zh]")
    page.locator("h1", has_text="邮件设置").wait_for()
    assert page.is_checked("input[name=email][value=off]")


@pytest.fixture
def smtp(app, monkeypatch, server) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, server) as collector:
        yield collector


def test_forgotten_password_from_the_mail_to_signing_in(world: World, browse, smtp, server):
    dealer = world.parties["D1b"]
    page = browse()
    page.goto("/login")
    page.click("text=Forgot password?")
    page.fill("input[name=email]", dealer.email.upper())  # as people type it
    page.click("text=Send the link")
    page.locator("[role=status]", has_text="a link to choose a new password").wait_for()
    assert drain_background(30)
    (mail,) = smtp.messages
    assert mail.recipients == [dealer.email]
    found = re.search(re.escape(server) + r"(/reset-password/[A-Za-z0-9_-]+)", mail.part("plain"))
    assert found, mail.part("plain")
    link = found.group(1)
    assert link in mail.part("html")

    page.goto(link)
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", "not the same")
    page.click("text=Change password")
    page.locator(".has-error", has_text="Type the same password twice.").wait_for()
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("text=Change password")
    page.wait_for_url("**/login")
    _flash(page, "Your password was changed. Sign in with the new one.")

    # The old password is refused, the new one signs in, the link is used up.
    page.fill("input[name=email]", dealer.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.locator("text=Wrong email or password").first.wait_for()
    sign_in(page, dealer.email, NEW_PASSWORD)
    assert page.goto(link).status == 404
    assert world.api.get("/me", token=dealer.token).status_code == 401  # every token revoked


def test_remind_button_on_the_recipients_page(scene: Scene, browse):
    w = scene.world
    ack = w.api.post(w.path(f"/notices/{scene.notice_id}/ack"), {}, token=w.parties["D1a"].token)
    assert ack.status_code == 201, ack.text
    page = browse()
    sign_in(page, w.owner.email)
    page.goto(scene.page(f"/notices/{scene.notice_id}"))
    page.click("a.button:has-text('Recipients')")
    button = page.locator("button", has_text="Remind the 1 who have not acknowledged")
    button.click()
    _flash(page, "Reminded 1 recipients.")
    reminded = w.api.get(w.path("/events?type=notice.reminder"), token=w.parties["D1b"].token)
    assert len(reminded.json()["items"]) == 1
    # The one who acknowledged is not reminded.
    quiet = w.api.get(w.path("/events?type=notice.reminder"), token=w.parties["D1a"].token)
    assert quiet.json()["items"] == []
    page.locator("button", has_text="Remind the 1 who have not acknowledged").click()
    page.locator(".flash", has_text="A reminder was sent less than an hour ago.").wait_for()
    assert len(w.api.get(w.path("/events?type=notice.reminder"), token=w.parties["D1b"].token)
               .json()["items"]) == 1  # fmt: skip
