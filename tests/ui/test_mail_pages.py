"""Pages around mail: one-click unsubscribe, mail settings, forgotten passwords."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from supplychain.extensions import db
from supplychain.models import User
from supplychain.models.events import NotificationSetting
from supplychain.outbound.mail.sending import drain_background
from supplychain.outbound.mail.unsubscribe import unsubscribe_token
from tests.conftest import PASSWORD, bootstrap
from tests.mailserver import Collector, app_mailing_to_server

NEW_PASSWORD = "a brand new passphrase"


def setting(app, user_id: str) -> NotificationSetting | None:
    with app.app_context():
        row = db.session.get(NotificationSetting, int(user_id))
        if row is not None:
            db.session.expunge(row)
        return row


def test_unsubscribe_asks_on_get_and_turns_mail_off_on_a_one_click_post(app, web):
    admin = bootstrap(app, "admin@acme.example")
    token = unsubscribe_token(app.config["SECRET_KEY"], int(admin.user_id))
    browser = web()

    page = browser.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and admin.email in page.text
    assert setting(app, admin.user_id) is None  # a GET (a mail scanner) changes nothing

    # RFC 8058: the mail client posts this body, with no session and no form token.
    done = browser.post(f"/unsubscribe/{token}", {"List-Unsubscribe": "One-Click"}, csrf=False)
    assert done.status_code == 200
    assert setting(app, admin.user_id).email == "off"


def test_a_forged_unsubscribe_link_is_404(app, web):
    admin = bootstrap(app, "admin@acme.example")
    forged = unsubscribe_token("not the key", int(admin.user_id))
    browser = web()
    assert browser.get(f"/unsubscribe/{forged}").status_code == 404
    assert browser.post(f"/unsubscribe/{forged}", csrf=False).status_code == 404
    assert setting(app, admin.user_id) is None


def test_other_pages_still_demand_the_form_token(app, web):
    admin = bootstrap(app, "admin@acme.example")
    browser = web()
    browser.login(admin.email)
    response = browser.post("/account/notifications", {"email": "off"}, csrf=False)
    assert response.status_code == 400
    assert setting(app, admin.user_id) is None


def test_mail_settings_page_saves_mode_events_and_language(app, web):
    admin = bootstrap(app, "admin@acme.example")
    browser = web()
    browser.login(admin.email)
    page = browser.get("/account/notifications")
    assert page.status_code == 200 and 'value="daily"' in page.text

    saved = browser.post(
        "/account/notifications",
        [("email", "daily"), ("events", "order.issued"), ("events", "notice.published"),
         ("language", "en")],
    )  # fmt: skip

    assert saved.status_code == 200
    row = setting(app, admin.user_id)
    assert row.email == "daily" and row.events == ["notice.published", "order.issued"]
    with app.app_context():
        assert db.session.get(User, int(admin.user_id)).language == "en"

    bad = browser.post("/account/notifications", [("email", "hourly"), ("language", "en")])
    assert bad.status_code == 422
    assert setting(app, admin.user_id).email == "daily"


def test_choosing_the_page_language_signed_in_sets_the_mail_language(app, web):
    admin = bootstrap(app, "admin@acme.example")
    browser = web()
    browser.login(admin.email)
    browser.post("/language", {"lang": "en", "next": "/home"})
    with app.app_context():
        assert db.session.get(User, int(admin.user_id)).language == "en"


@pytest.fixture
def smtp(app, monkeypatch, server) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, server) as collector:
        yield collector


def test_forgot_password_pages_end_to_end(app, web, smtp, server):
    admin = bootstrap(app, "admin@acme.example")
    browser = web()
    login = browser.get("/login")
    assert "/forgot-password" in login.text

    browser.get("/forgot-password")
    sent = browser.post("/forgot-password", {"email": admin.email})
    assert sent.status_code == 200 and 'role="status"' in sent.text
    assert drain_background(30)
    (mail,) = smtp.messages
    link = re.search(re.escape(server) + r"(/reset-password/[A-Za-z0-9_-]+)", mail.part("plain"))
    assert link

    form = browser.get(link.group(1))
    assert form.status_code == 200
    differ = browser.post(
        link.group(1), {"new_password": NEW_PASSWORD, "new_password2": "something else"}
    )
    assert differ.status_code == 422
    done = browser.post(
        link.group(1), {"new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 200 and done.url.endswith("/login")

    browser.login(admin.email, NEW_PASSWORD)
    assert web().get(link.group(1)).status_code == 404  # used up

    # An unknown address is answered the same way and mails nothing.
    other = web()
    other.get("/forgot-password")
    same = other.post("/forgot-password", {"email": "nobody@acme.example"})
    assert same.status_code == 200 and 'role="status"' in same.text
    assert drain_background(30)
    assert len(smtp.messages) == 1
    # The old password no longer signs in.
    stranger = web()
    stranger.get("/login")
    assert stranger.post("/login", {"email": admin.email, "password": PASSWORD}).status_code == 401
