"""An adversarial review of the OpenID Connect provider and the apps API: input PostgreSQL
refuses where SQLite does not (NUL bytes, values longer than their column) must be refused by
the app with the protocol's own error, never reach the database as a 500."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from tests.api.oidc_helpers import query, rp_for, shared_portal

ISSUER = "http://localhost:8000"


@pytest.fixture
def portal(world):
    """The owner's app, registered as a client, shared with tier D1."""
    return shared_portal(world)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("suffix", ["\x00", "\x00x", "\n"])
def test_a_client_id_with_control_characters_is_an_unknown_client(app, world, portal, suffix):
    rp = rp_for(app, world, portal)
    client_id = rp.client_id + suffix
    params = rp.authorize_params(client_id=client_id)
    r = rp.web.get("/oauth/authorize?" + urlencode(params), allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers
    form = {"grant_type": "refresh_token", "refresh_token": "x", "token": "x"}
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        r = rp.web.transport.send(
            "POST", path, data=form, headers=_basic(client_id, rp.client_secret)
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", (path, r.text)
    posted = form | {"client_id": client_id, "client_secret": rp.client_secret}
    r = rp.web.transport.send("POST", "/oauth/token", data=posted)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


@pytest.mark.parametrize(
    ("nonce", "scope"),
    [
        ("a\x00b", "openid profile"),
        ("n" * 501, "openid profile"),
        ("line\nbreak", "openid profile"),
        # Without `openid` the nonce means nothing, but it is kept with the code all the same.
        ("a\x00b", "profile"),
        ("n" * 501, "profile"),
    ],
)
def test_a_nonce_that_cannot_be_kept_is_invalid_request_to_the_redirect(
    app, world, portal, nonce, scope
):
    rp = rp_for(app, world, portal)
    r = rp.authorize(nonce=nonce, scope=scope)
    assert r.status_code == 302, r.text[:300]
    got = query(r.headers["Location"])
    assert got["error"] == "invalid_request" and "nonce" in got["error_description"]
    assert got["state"] == rp.last["state"] and got["iss"] == ISSUER and "code" not in got


def test_a_nonce_of_500_printable_characters_is_kept(app, world, portal):
    rp = rp_for(app, world, portal)
    nonce = "n" * 499 + "é"
    tokens = rp.exchange(rp.code(nonce=nonce)).json()
    assert rp.id_token_claims(tokens["id_token"])["nonce"] == nonce
