"""The account pages: an expired session sends the person to sign in again; sign-in is
throttled on the page as in the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import ApiToken
from supplychain.models.base import utcnow
from tests.conftest import PASSWORD, bootstrap
from tests.ui.conftest import Scene


def _expire_sign_ins(app, user_id: str) -> None:
    with app.app_context():
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == int(user_id), ApiToken.kind == "login")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        db.session.remove()


def test_an_expired_session_goes_back_to_sign_in(app, scene: Scene, web):
    dealer = scene.world.parties["D1a"]
    browser = web()
    browser.login(dealer.email)
    order = scene.page(f"/orders/{scene.order_id}")
    assert browser.get(order).status_code == 200
    _expire_sign_ins(app, dealer.user_id)
    for path in ("/home", order):
        again = browser.get(path, allow_redirects=False)
        assert again.status_code == 302, path
        assert "/login" in again.headers["Location"], path
    # Signing in again works and brings the person back.
    browser.login(dealer.email)
    assert browser.get(order).status_code == 200


def test_the_sign_in_page_is_throttled_too(app, api, web):
    bootstrap(app, "boss@acme.example")
    browser = web()
    browser.get("/login")
    for _ in range(10):
        page = browser.post(
            "/login", {"email": "boss@acme.example", "password": "not-the-password"}
        )
        assert page.status_code == 401
    page = browser.post("/login", {"email": "boss@acme.example", "password": PASSWORD})
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
    assert "Too many failed attempts; try again in 15 minutes." in page.text
    chinese = browser.post(
        "/login",
        {"email": "boss@acme.example", "password": PASSWORD},
        headers={"Accept-Language": "zh-CN"},
    )
    assert chinese.status_code == 429 and "失败次数过多；请在 15 分钟后重试。" in chinese.text
    assert browser.get("/home", allow_redirects=False).status_code == 302
    # The API counts the same attempts.
    assert (
        api.post("/auth/login", {"email": "boss@acme.example", "password": PASSWORD}).status_code
        == 429
    )


def test_changing_the_password_on_the_account_page(scene: Scene, web):
    w = scene.world
    dealer = w.parties["D1a"]
    browser = web()
    browser.login(dealer.email)
    elsewhere = web()
    elsewhere.login(dealer.email)
    home = browser.get("/home")
    assert 'href="/account"' in home.text
    page = browser.get("/account")
    assert page.status_code == 200 and dealer.email in page.text
    assert 'autocomplete="current-password"' in page.text

    differ = browser.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "brand new secret", "new_password2": "x"},
    )
    assert differ.status_code == 422 and "Type the same password twice." in differ.text
    wrong = browser.post(
        "/account/password",
        {
            "current_password": "not-it-at-all",
            "new_password": "brand new secret",
            "new_password2": "brand new secret",
        },
    )
    assert wrong.status_code == 422 and "Wrong password." in wrong.text
    changed = browser.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "brand new secret",
            "new_password2": "brand new secret",
        },
    )
    assert changed.status_code == 200 and changed.url.endswith("/account")
    assert "Your password was changed" in changed.text
    # This session stays; the other browser and the API token of the activation are out.
    assert browser.get("/home", allow_redirects=False).status_code == 200
    assert elsewhere.get("/home", allow_redirects=False).status_code == 302
    assert w.api.get("/me", token=dealer.token).status_code == 401
    fresh = web()
    fresh.login(dealer.email, "brand new secret")


def test_the_account_page_needs_a_session_and_the_csrf_token(scene: Scene, web):
    visitor = web()
    out = visitor.get("/account", allow_redirects=False)
    assert out.status_code == 302 and "/login" in out.headers["Location"]
    browser = web()
    browser.login(scene.world.parties["D1a"].email)
    forged = browser.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "brand new secret",
            "new_password2": "brand new secret",
        },
        csrf=False,
    )
    assert forged.status_code == 400
    assert scene.world.api.get("/me", token=scene.world.parties["D1a"].token).status_code == 200
