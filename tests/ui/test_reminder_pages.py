"""The remind button on a notice's recipients page, without JavaScript, in English and Chinese."""

from __future__ import annotations

from tests.ui.conftest import Scene


def test_remind_button_reminds_the_unacknowledged_once_an_hour(scene: Scene, web):
    w = scene.world
    ack = w.api.post(w.path(f"/notices/{scene.notice_id}/ack"), {}, token=w.parties["D1a"].token)
    assert ack.status_code == 201, ack.text
    browser = web()
    browser.login(w.owner.email)
    recipients = scene.page(f"/notices/{scene.notice_id}/recipients")
    page = browser.get(recipients)
    assert page.status_code == 200
    assert "Remind the 1 who have not acknowledged" in page.text
    remind = scene.page(f"/notices/{scene.notice_id}/remind")
    sent = browser.post(remind)
    assert sent.status_code == 200 and sent.url.endswith(recipients)
    assert "Reminded 1 recipients." in sent.text
    feed = w.api.get(w.path("/events?type=notice.reminder"), token=w.parties["D1b"].token)
    assert len(feed.json()["items"]) == 1
    again = browser.post(remind)
    assert again.status_code == 200 and "A reminder was sent less than an hour ago." in again.text

    browser.post("/language", {"lang": "zh", "next": recipients})
    chinese = browser.get(recipients)
    assert "提醒尚未确认的 1 家" in chinese.text
    assert "一小时内已发送过提醒" in browser.post(remind).text

    dealer = web()
    dealer.login(w.parties["D1b"].email)
    dealer.get(scene.page(f"/notices/{scene.notice_id}"))
    assert dealer.post(remind).status_code == 403


def test_no_button_when_everyone_acknowledged(scene: Scene, web):
    w = scene.world
    for key in ("D1a", "D1b"):
        ack = w.api.post(w.path(f"/notices/{scene.notice_id}/ack"), {}, token=w.parties[key].token)
        assert ack.status_code == 201, ack.text
    browser = web()
    browser.login(w.owner.email)
    page = browser.get(scene.page(f"/notices/{scene.notice_id}/recipients"))
    assert page.status_code == 200 and "Remind the" not in page.text
