"""Password reset by email, end to end over HTTP with a real SMTP server catching the mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from supplychain.extensions import db
from supplychain.models.base import utcnow
from supplychain.models.events import PasswordReset
from supplychain.outbound.mail.sending import drain_background
from tests.conftest import PASSWORD, bootstrap
from tests.mailserver import Collector, app_mailing_to_server

BASE = "https://sc.example"
NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(re.escape(BASE) + r"/reset-password/([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp(app, monkeypatch) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, BASE) as collector:
        yield collector


def ask(api, email: str) -> None:
    """Ask for a reset link and wait until any mail it sends has left."""
    response = api.post("/auth/password-reset", {"email": email})
    assert response.status_code == 202, response.text
    assert response.text == ""
    assert drain_background(30)


def mailed_token(smtp: Collector, email: str) -> str:
    (received,) = [m for m in smtp.messages if m.recipients == [email]][-1:]
    text = received.part("plain")
    assert LINK.search(received.part("html"))
    found = LINK.search(text)
    assert found, text
    return found.group(1)


def test_reset_end_to_end(app, api, smtp):
    admin = bootstrap(app, "admin@acme.example")
    other_token = api.post("/auth/login", {"email": admin.email, "password": PASSWORD}).json()[
        "token"
    ]

    ask(api, "  Admin@ACME.example ")
    token = mailed_token(smtp, admin.email)
    assert len(smtp.messages) == 1
    with app.app_context():
        (stored,) = db.session.query(PasswordReset).all()
        assert token not in stored.token_hash  # only its hash is kept

    confirmed = api.post(
        "/auth/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204, confirmed.text

    # Every token of the person is revoked; the new password signs in, the old one not.
    for old in (admin.token, other_token):
        assert api.get("/me", token=old).status_code == 401
    assert api.post("/auth/login", {"email": admin.email, "password": PASSWORD}).status_code == 401
    login = api.post("/auth/login", {"email": admin.email, "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert api.get("/me", token=login.json()["token"]).status_code == 200

    # The link works once.
    again = api.post("/auth/password-reset/confirm", {"token": token, "new_password": PASSWORD})
    assert again.status_code == 404
    assert api.post("/auth/login", {"email": admin.email, "password": NEW_PASSWORD}).ok


def test_an_expired_link_is_refused(app, api, smtp):
    admin = bootstrap(app, "admin@acme.example")
    ask(api, admin.email)
    token = mailed_token(smtp, admin.email)
    with app.app_context():
        for reset in db.session.query(PasswordReset):
            reset.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()

    response = api.post(
        "/auth/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 404
    assert api.get("/me", token=admin.token).status_code == 200


def test_an_unknown_email_gets_the_same_answer_and_no_mail(app, api, smtp):
    bootstrap(app, "admin@acme.example")

    ask(api, "nobody@acme.example")

    assert smtp.messages == []
    with app.app_context():
        assert db.session.query(PasswordReset).count() == 0


def test_a_person_gets_at_most_three_links_an_hour(app, api, smtp):
    admin = bootstrap(app, "admin@acme.example")
    for _ in range(5):
        ask(api, admin.email)
    assert len(smtp.messages) == 3


def test_confirming_one_link_retires_the_others(app, api, smtp):
    admin = bootstrap(app, "admin@acme.example")
    ask(api, admin.email)
    first = mailed_token(smtp, admin.email)
    ask(api, admin.email)
    second = mailed_token(smtp, admin.email)
    assert first != second

    assert (
        api.post(
            "/auth/password-reset/confirm", {"token": second, "new_password": NEW_PASSWORD}
        ).status_code
        == 204
    )
    assert (
        api.post(
            "/auth/password-reset/confirm", {"token": first, "new_password": PASSWORD}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "x", "new_password": "short"}, "new_password"),
        ({"new_password": "x" * 9}, "token"),
    ],
)
def test_bad_confirmations_are_422(api, body, field):
    response = api.post("/auth/password-reset/confirm", body)
    assert response.status_code == 422
    assert field in response.json()["errors"] or field in str(response.json())


def test_an_unknown_token_is_404(api):
    response = api.post(
        "/auth/password-reset/confirm", {"token": "no-such-token", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 404
