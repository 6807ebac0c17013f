"""An adversarial review of company sign-in (SSO): what anyone may send to its public addresses
(the callback, the back-channel logout) is refused with the protocol's answer, never a 500,
on PostgreSQL too (which refuses NUL bytes where SQLite keeps them)."""

from __future__ import annotations

import base64
import json

import pytest

from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH

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
