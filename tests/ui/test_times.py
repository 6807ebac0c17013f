"""Pages show times in the chain's timezone and say which; dates as people write them."""

from __future__ import annotations

import re

from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import Chain
from tests.ui.conftest import Scene, send_notice, sign_in

# 10:00 UTC: 18:00 in Beijing (winter and summer alike), 11:00 in Berlin in winter (CET).
DUE = "2099-12-04T10:00:00+00:00"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_notice_and_order_pages_show_the_chains_time_with_its_zone(scene: Scene, web, app):
    w = scene.world
    notice = send_notice(w, title="Headlamps", ack_due=DUE)
    summer = send_notice(w, title="Mirrors", ack_due="2099-07-04T10:00:00+00:00")
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    page = _text(dealer.get(scene.page(f"/notices/{notice['id']}")).text)
    assert "Acknowledge by 2099-12-04 18:00 CST" in page
    assert "Acknowledge by 2099-12-04 10:00" not in page  # UTC, unlabelled, as it was
    order = _text(dealer.get(scene.page(f"/orders/{scene.order_id}")).text)
    assert re.search(r"Created \d{4}-\d\d-\d\d \d\d:\d\d CST", order)
    assert "2026-12-15" in order  # the requested date: a day, no zone

    dealer.post("/language", {"lang": "zh"})
    page = _text(dealer.get(scene.page(f"/notices/{notice['id']}")).text)
    assert "2099年12月4日 18:00 北京时间" in page
    order = _text(dealer.get(scene.page(f"/orders/{scene.order_id}")).text)
    assert "2026年12月15日" in order and "2026-12-15" not in order
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d 北京时间", order)

    # The same instants in a chain in Berlin: winter and summer time, each named.
    with app.app_context():
        db.session.execute(update(Chain).values(timezone="Europe/Berlin"))
        db.session.commit()
    dealer.post("/language", {"lang": "en"})
    assert "2099-12-04 11:00 CET" in _text(dealer.get(scene.page(f"/notices/{notice['id']}")).text)
    assert "2099-07-04 12:00 CEST" in _text(dealer.get(scene.page(f"/notices/{summer['id']}")).text)
    dealer.post("/language", {"lang": "zh"})
    assert "2099年12月4日 11:00 柏林时间" in _text(
        dealer.get(scene.page(f"/notices/{notice['id']}")).text
    )


def test_a_due_time_typed_in_beijing_reads_the_same_in_beijing(scene: Scene, web):
    """The issue's notice: the manufacturer typed 18:00 Beijing time; the dealer reads 18:00 CST."""
    w = scene.world
    owner = web()
    owner.login(w.owner.email)
    sent = owner.post(
        scene.page("/notices/new"),
        [
            ("kind", "supply"),
            ("title", "Year-end allocation"),
            ("items-0-sku", "YE-1"),
            ("items-0-qty", "10"),
            ("tiers", "D1"),
            ("requires_ack", "1"),
            ("ack_due", "2099-12-04T18:00"),
        ],
    )
    assert sent.status_code == 200 and "Sent to" in sent.text
    [notice] = [
        n
        for n in w.api.get(w.path("/notices?box=sent"), token=w.owner.token).json()["items"]
        if n["title"] == "Year-end allocation"
    ]
    assert notice["ack_due"].startswith("2099-12-04T10:00")  # the API: UTC, with its offset
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    page = _text(dealer.get(scene.page(f"/notices/{notice['id']}")).text)
    assert "Acknowledge by 2099-12-04 18:00 CST" in page


def test_the_browser_shows_the_chains_time_wherever_the_reader_is(scene: Scene, browse):
    w = scene.world
    notice = send_notice(w, title="Headlamps", ack_due=DUE)
    # A reader whose own computer is in New York still reads the chain's time, named.
    page = browse(timezone_id="America/New_York")
    sign_in(page, w.parties["D1a"].email)
    page.goto(scene.page(f"/notices/{notice['id']}"))
    assert "Acknowledge by 2099-12-04 18:00 CST" in page.inner_text("main")
    page.click("button[name=lang][value=zh]")
    page.locator("text=2099年12月4日 18:00 北京时间").first.wait_for()
