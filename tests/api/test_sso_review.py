"""An adversarial review of company sign-in (SSO): what anyone may send to its public addresses
(the callback, the back-channel logout) is refused with the protocol's answer, never a 500,
on PostgreSQL too (which refuses NUL bytes where SQLite keeps them)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select, update

from supplychain.extensions import db
from supplychain.models.sso import SsoConnection, SsoLogin, SsoSession
from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH
from tests.api import test_sso as sso_tests
from tests.ui.conftest import Web

# The fake IdP and an org connected to it, as test_sso has them.
keys, idp, private_ok, connected = (
    sso_tests.keys,
    sso_tests.idp,
    sso_tests.private_ok,
    sso_tests.connected,
)

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


def _sign_in(world, fake_idp, **claims):
    state, nonce = sso_tests.start(world)
    fake_idp.id_token = fake_idp.token(nonce=nonce, email_verified=True, **claims)
    return sso_tests.callback(world, state)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "subject\x00", "email": "staff@acme.example"},
        {"sub": "subject\n1", "email": "staff@acme.example"},
        {"email": "staff\x00@acme.example"},
        {"email": "new\x00person@acme.example"},
    ],
)
def test_claims_no_person_can_have_are_a_refusal_not_a_500(connected, idp, claims):
    """The org's own IdP signs the ID token, but what it says is still input: a subject or an
    email with control characters names nobody here."""
    r = _sign_in(connected, idp, **claims)
    assert r.status_code == 403, r.text


def test_a_sid_or_name_with_control_characters_is_not_kept(app, connected, idp):
    with app.app_context():
        db.session.execute(update(SsoConnection).values(create_users=True))
        db.session.commit()
    r = _sign_in(
        connected, idp, email="new.person@acme.example", name="New\x00Person\n", sid="s\x00"
    )
    assert r.status_code == 200, r.text
    me = connected.api.get("/me", token=r.json()["token"]).json()["user"]
    assert me["name"] == "new.person"
    with app.app_context():
        assert db.session.scalars(select(SsoSession.sid)).all() == [None]


@pytest.mark.parametrize("claim", ["sub", "sid"])
def test_a_signed_logout_token_naming_nobody_is_400(connected, idp, claim):
    token = idp.token(jti="j-1", events=LOGOUT_EVENT, **{claim: "s\x00"})
    r = api_send(connected, token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


def api_send(world, token):
    return world.api.transport.send("POST", BACKCHANNEL_LOGOUT_PATH, data={"logout_token": token})
