"""An adversarial review of company sign-in (SSO): what anyone may send to its public addresses
(the callback, the back-channel logout) is refused with the protocol's answer, never a 500,
on PostgreSQL too (which refuses NUL bytes where SQLite keeps them)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models.sso import SsoLogin
from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH
from tests.api.test_sso import connected, idp, keys, private_ok  # noqa: F401 - the fake IdP
from tests.ui.conftest import Web

LOGOUT_EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def _part(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def forged(claims: dict) -> str:
    """A compact JWS with these claims and a signature nobody made."""
    return f"{_part({'alg': 'RS256', 'typ': 'logout+jwt'})}.{_part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "issuer",
    ["https://idp.example\x00", "\x00", "https://idp.example/\nX-Injected: 1", "x" * 5000],
)
def test_a_logout_token_naming_an_issuer_no_connection_can_have_is_400(api, issuer):
    token = forged({"iss": issuer, "aud": "client", "jti": "j", "events": LOGOUT_EVENT})
    r = api.transport.send("POST", BACKCHANNEL_LOGOUT_PATH, data={"logout_token": token})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.usefixtures("connected")
def test_a_return_address_longer_than_the_sign_in_keeps_is_dropped_not_a_500(app):
    """An app's authorization request (its `state`, `nonce`) comes back through the sign-in as
    `next`: up to the request line's 4 KB, over the 2000 characters a pending company sign-in
    keeps. The sign-in starts and returns home instead of failing."""
    web = Web(app)
    web.get("/login/company")
    far = "/oauth/authorize?state=" + "s" * 2100
    r = web.post("/login/company", {"email": "staff@acme.example", "next": far})
    assert r.status_code == 200, r.text[:300]
    near = "/oauth/authorize?state=" + "s" * 100
    r = web.post("/login/company", {"email": "staff@acme.example", "next": near})
    assert r.status_code == 200, r.text[:300]
    with app.app_context():
        kept = db.session.scalars(select(SsoLogin.next_url).order_by(SsoLogin.id)).all()
    assert kept == [None, near]
