"""The Integrations page: an org admin adds a webhook (the secret shown once, and it verifies a
real delivery), sends a test, reads the delivery log, redelivers, disables; staff are refused;
a private address is refused next to the field, in Chinese for a Chinese browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from supplychain.outbound import http as outbound_http
from supplychain.outbound.worker import Worker
from tests.conftest import World
from tests.receiver import Receiver, running_receiver
from tests.ui.conftest import screenshot, sign_in

_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


@pytest.fixture
def loopback_allowed(app, monkeypatch):
    outbound_http.release(app)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    yield
    outbound_http.release(app)


def _add(browser, world: World, url: str, **fields: str):
    page = f"/chains/{world.chain_id}/integrations"
    browser.get(page)
    return browser.post(page, {"url": url, "kind": "standard", "language": "zh", **fields})


@pytest.mark.committed  # the worker claims and records in transactions of its own
def test_a_partner_admin_adds_tests_and_redelivers(
    app, world: World, web, receiver, loopback_allowed
):
    dealer = world.parties["D1a"]
    browser = web()
    browser.login(dealer.email)
    home = browser.get(f"/chains/{world.chain_id}")
    assert f"/chains/{world.chain_id}/integrations" in home.text  # in the chain's menu
    created = _add(browser, world, receiver.url + "/erp", all_events="1", description="DMS")
    assert created.status_code == 200, created.text[:500]
    secret = _SECRET.search(created.text).group(0)
    listing = browser.get(f"/chains/{world.chain_id}/integrations")
    assert receiver.url + "/erp" in listing.text and "DMS" in listing.text
    assert "whsec_" not in listing.text  # shown once only
    wid = re.search(r"/integrations/(\d+)/test", listing.text).group(1)

    sent = browser.post(f"/chains/{world.chain_id}/integrations/{wid}/test", {"back": "detail"})
    assert "A test message is on its way." in sent.text
    assert "ping" in sent.text and "pending" in sent.text
    Worker(app).run_once()
    (receipt,) = receiver.receipts
    assert Webhook(secret).verify(receipt.body, receipt.headers)["type"] == "ping"

    detail = browser.get(f"/chains/{world.chain_id}/integrations/{wid}")
    assert "succeeded" in detail.text and "HTTP 200" in detail.text
    assert "whsec_" not in detail.text
    did = re.search(r"/deliveries/(\d+)/redeliver", detail.text).group(1)
    again = browser.post(f"/chains/{world.chain_id}/integrations/{wid}/deliveries/{did}/redeliver")
    assert "Queued for delivery again." in again.text
    Worker(app).run_once()
    assert len(receiver.ids()) == 1 and sum(receiver.ids().values()) == 2  # same webhook-id

    off = browser.post(f"/chains/{world.chain_id}/integrations/{wid}/enabled", {"enabled": "0"})
    assert "Webhook disabled." in off.text and "disabled" in off.text
    removed = browser.post(f"/chains/{world.chain_id}/integrations/{wid}/delete")
    assert "Webhook removed." in removed.text and "No webhooks yet." in removed.text


def test_chosen_events_and_a_wecom_robot(world: World, web, loopback_allowed, receiver):
    browser = web()
    browser.login(world.owner.email)
    page = f"/chains/{world.chain_id}/integrations"
    browser.get(page)
    created = browser.post(
        page,
        [
            ("url", receiver.url + "/cgi-bin/webhook/send?key=k1"),
            ("kind", "wecom_robot"),
            ("language", "en"),
            ("events", "order.issued"),
            ("events", "notice.published"),
        ],
    )
    assert created.status_code == 200
    assert "whsec_" not in created.text and "WeCom group" in created.text
    listing = browser.get(page)
    assert "order.issued, notice.published" in listing.text


def test_bad_input_is_shown_next_to_the_field_in_the_browser_language(world: World, web):
    browser = web()
    browser.login(world.owner.email)
    page = f"/chains/{world.chain_id}/integrations"
    browser.get(page)
    refused = browser.post(
        page,
        {"url": "http://127.0.0.1:8000/x", "all_events": "1", "kind": "standard"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert refused.status_code == 422
    assert "该主机解析到回环、私有、链路本地或保留地址。" in refused.text
    assert 'value="http://127.0.0.1:8000/x"' in refused.text  # what was typed stays
    none_chosen = browser.post(page, {"url": "https://93.184.215.14/x", "kind": "standard"})
    assert none_chosen.status_code == 422
    assert "Choose at least one, or * for all." in none_chosen.text
    assert "No webhooks yet." in browser.get(page).text


def test_staff_and_other_orgs_are_refused(world: World, web):
    staff = web()
    staff.login(world.owner_staff.email)
    assert (
        f"/chains/{world.chain_id}/integrations" not in staff.get(f"/chains/{world.chain_id}").text
    )
    refused = staff.get(f"/chains/{world.chain_id}/integrations")
    assert refused.status_code == 403
    owner = web()
    owner.login(world.owner.email)
    _add(owner, world, "https://93.184.215.14/x", all_events="1")
    wid = re.search(
        r"/integrations/(\d+)/test", owner.get(f"/chains/{world.chain_id}/integrations").text
    ).group(1)
    dealer = web()
    dealer.login(world.parties["D1a"].email)
    assert dealer.get(f"/chains/{world.chain_id}/integrations/{wid}").status_code == 404
    dealer.get(f"/chains/{world.chain_id}/integrations")
    assert dealer.post(f"/chains/{world.chain_id}/integrations/{wid}/delete").status_code == 404


def test_the_integrations_page_in_chromium(world: World, browse, loopback_allowed, receiver):
    page = browse()
    sign_in(page, world.owner.email)
    page.goto(f"/chains/{world.chain_id}")
    page.click("nav.chainnav >> text=Integrations")
    page.fill("input[name=url]", receiver.url + "/hooks")
    page.fill("input[name=description]", "ERP in the head office")
    page.click("text=Add webhook")
    secret = page.locator("#webhook-secret")
    secret.wait_for()
    assert secret.inner_text().startswith("whsec_")
    screenshot(page, "integrations-created")
    page.click("text=Open the webhook")
    page.click("button:has-text('Send test')")
    page.locator(".flash.ok", has_text="A test message is on its way.").wait_for()
    assert "ping" in page.inner_text("table")
    screenshot(page, "integrations-detail")
