"""The README's tour on the demo: the dealer's home has something of every kind to click, and
acknowledging the waiting order and notice clears them; last month's statements show the
monthly loop (answers, the owner's board with a dispute, scorecards)."""

from __future__ import annotations

import re

import pytest

from supplychain.demo.seeding import (
    DEFAULT_SEED,
    answer_demo_statements,
    load_demo,
    produce_demo_runs,
    read_seed,
)
from supplychain.extensions import db

SEED = read_seed(DEFAULT_SEED)
DEALER = "wang.fang@bj-huaxia-auto.example"
OWNER = "zhang.wei@huaxia-motor.example"


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


def _link(html: str, label: str) -> str:
    """The href of the link whose text is `label`."""
    found = re.search(rf'<a[^>]*href="([^"]+)"[^>]*>\s*{re.escape(label)}\s*</a>', html)
    assert found, label
    return found.group(1).replace("&amp;", "&")


@pytest.mark.committed
def test_the_monthly_loop_statements_answered_and_scorecards_measured(app, web):
    """The tour's second half: last month's statements as the partners answered them (the
    Beijing dealer disputes a short-shipped line), the owner's board with the dispute in its
    queue, and the scorecards with last month's figures."""
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
        produce_demo_runs(db.engine, app.config["REPORTS_DIR"], DEFAULT_SEED)
        answer_demo_statements(db.session, DEFAULT_SEED)
        db.session.commit()

    dealer = web()
    dealer.login(DEALER, SEED["password"])
    home = dealer.get("/home").text
    statement_url = re.search(r'<a class="tile statement" href="([^"]+)"', home).group(1)
    period = statement_url.rsplit("/", 1)[1]
    statement = _text(dealer.get(statement_url).text)
    assert "disputed" in statement
    assert "20 oil filters are missing from DN-0301." in statement

    owner = web()
    owner.login(OWNER, SEED["password"])
    runs = owner.get(_link(owner.get("/home").text, "Reconciliation")).text
    board = owner.get(_link(runs, "Statements board")).text
    assert f'<option value="{period}" selected>' in board
    counts = dict(re.findall(r'<span class="n" id="count-(\w+)">(\d+)</span>', board))
    assert (counts["confirmed"], counts["disputed"], counts["changed"]) == ("1", "1", "0")
    queue = _text(board[board.index('id="queue"') :])
    assert "Open disputes (1)" in queue
    assert "Beijing Huaxia Auto Sales Co., Ltd." in queue and "expected 200" in queue
    assert "We confirmed 200 oil filters and DN-0301 brought 180" in queue
    d1 = owner.get(f"{_link(runs, 'Statements board')}?period={period}&tier=D1").text
    d1_counts = dict(re.findall(r'<span class="n" id="count-(\w+)">(\d+)</span>', d1))
    assert d1_counts == {"open": "8", "confirmed": "1", "disputed": "1", "changed": "0"}

    cards_url = _link(runs, "Partner scorecards")
    cards = owner.get(f"{cards_url}?period={period}&tier=D1").text
    row = re.search(r"<tr>\s*<td[^>]*>.{0,300}?Beijing Huaxia Auto Sales.*?</tr>", cards, re.S)
    assert row, "the Beijing dealer's scorecard"
    figures = re.findall(r'<td data-label="([^"]+)"[^>]*>([^<]*)</td>', row.group(0))
    shown = dict(figures)
    for heading in ("Ack rate", "Fill rate", "On time", "Notices acknowledged"):
        assert re.fullmatch(r"\d+\.\d%", shown[heading]), (heading, shown)
    assert shown["Fill rate"] != "100.0%"
