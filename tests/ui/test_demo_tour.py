"""The README's tour on the demo: the dealer's home has something of every kind to click, and
acknowledging the waiting order and notice clears them."""

from __future__ import annotations

import re

from supplychain.extensions import db
from supplychain.services.seeding import DEFAULT_SEED, load_demo, read_seed

SEED = read_seed(DEFAULT_SEED)
DEALER = "wang.fang@bj-huaxia-auto.example"


def _tiles(html: str) -> dict[str, int]:
    found = re.findall(r'<span class="n">(\d+)</span><span class="t">([^<]+)</span>', html)
    return {label: int(count) for count, label in found}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_dealer_acknowledges_the_waiting_order_and_notice(app, web):
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
    dealer = web()
    dealer.login(DEALER, SEED["password"])
    home = dealer.get("/home").text
    assert _tiles(home) == {
        "Unread notices": 1,
        "Notices to acknowledge": 1,
        "Orders to acknowledge": 1,
        "Orders to ship": 1,
        "Shipments to receive": 1,
    }
    order_url = re.search(r'Acknowledge: <a href="([^"]+)"', home).group(1)
    order = dealer.get(order_url)
    assert re.search(r"Acknowledge by \d{4}-\d\d-\d\d 18:00 CST", _text(order.text))
    version = re.search(r'name="version" value="(\d+)"', order.text).group(1)
    done = dealer.post(f"{order_url}/ack", {"version": version, "decision": "accept"})
    assert done.status_code == 200 and "accepted" in done.text

    inbox = dealer.get(re.search(r'href="([^"]+/notices\?state=unread)"', home).group(1)).text
    [notice_url] = re.findall(r'href="(/chains/\d+/notices/\d+)"', inbox)
    notice = _text(dealer.get(notice_url).text)
    assert "New price for LED headlamp units" in notice
    assert re.search(r"Acknowledge by \d{4}-\d\d-\d\d 18:00 CST", notice)
    dealer.post(f"{notice_url}/ack", {"note": "Noted."})
    assert _tiles(dealer.get("/home").text) == {
        "Unread notices": 0,
        "Notices to acknowledge": 0,
        "Orders to acknowledge": 0,
        "Orders to ship": 1,
        "Shipments to receive": 1,
    }
