"""The account pages: an expired session sends the person to sign in again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import ApiToken
from supplychain.models.base import utcnow
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
