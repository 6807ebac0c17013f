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
