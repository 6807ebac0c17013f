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


BAD_KEYS = ["portal%00", "a%00b", "portal%0A", "x" * 41, "Portal"]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("who", ["owner", "owner_staff", "D1a", "S1"])
def test_an_app_key_that_cannot_be_one_is_not_found(world, portal, key, who):
    w = world
    token = getattr(w, who).token if who.startswith("owner") else w.parties[who].token
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/secret"),
        ("GET", "/shares"),
    ]:
        kw = {"json": {"name": "New"}} if method == "PATCH" else {}
        r = w.api.request(method, w.path(f"/apps/{key}{suffix}"), token=token, **kw)
        assert r.status_code in (403, 404), (method, suffix, r.text)
        if who == "owner":
            assert r.status_code == 404, (method, suffix, r.text)
    r = w.api.get(w.path("/apps/portal"), token=w.owner.token)
    assert r.json()["name"] == "Dealer portal"


@pytest.mark.parametrize("app_key", ["portal\x00", "a\x00b", "portal\n", "Portal"])
def test_a_grant_of_an_app_key_that_cannot_be_one_is_422_naming_app(world, portal, app_key):
    w = world
    body = {"app": app_key, "scope": {"type": "all"}}
    r = w.api.post(w.path("/grants"), body, token=w.owner.token)
    assert r.status_code == 422 and "app" in r.json()["errors"], r.text
    grants = w.api.get(w.path("/grants"), token=w.owner.token).json()
    assert [g["scope"] for g in grants["items"]] == [{"type": "tier", "value": "D1"}]


@pytest.mark.parametrize("hint", ["id_token", "refresh_token\x00", "x" * 300])
def test_an_unknown_token_type_hint_is_ignored_not_a_401(app, world, portal, hint):
    """RFC 7662 §2.1 and RFC 7009 §2.1: the server may ignore the hint (and must search every
    type when the hint does not find it). A 401 would tell the app its credentials are wrong."""
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    data = {"token": tokens["access_token"], "token_type_hint": hint}
    r = rp._client_call("/oauth/introspect", data)
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    r = rp._client_call("/oauth/revoke", data)
    assert r.status_code == 200, r.text
    assert rp.introspect(tokens["access_token"]).json() == {"active": False}
    assert rp.userinfo(tokens["access_token"]).status_code == 401


@pytest.mark.parametrize("over", [{}, {"code_challenge_method": "plain"}])
def test_iss_is_in_every_authorization_response_whatever_the_redirects_query(app, world, over):
    """RFC 9207: `iss` in every authorization response, also to a redirect URI whose own query
    has a parameter ending in "iss" (`miss=1`)."""
    from tests.api.oidc_helpers import grant, register

    created = register(world, redirect_uris=["https://portal.example/cb?miss=1"])
    grant(world, "portal", "tier", "D1")
    rp = rp_for(app, world, created)
    rp.redirect_uri = "https://portal.example/cb?miss=1"
    r = rp.authorize(**over)
    assert r.status_code == 302, r.text[:300]
    got = query(r.headers["Location"])
    assert got["miss"] == "1" and got["iss"] == ISSUER, r.headers["Location"]


@pytest.mark.parametrize(
    ("param", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
def test_a_request_object_is_refused_not_ignored(app, world, portal, param, error):
    """OpenID Connect Core §6.1/§6.2: an OP that does not take `request` / `request_uri` (as
    discovery says) MUST answer the RP that uses one with these errors, not ignore it."""
    rp = rp_for(app, world, portal)
    r = rp.authorize(
        **{param: "eyJhbGciOiJub25lIn0.e30." if param == "request" else "https://rp.example/r"}
    )
    assert r.status_code == 302, r.text[:300]
    got = query(r.headers["Location"])
    assert got["error"] == error and "code" not in got
    assert got["state"] == rp.last["state"] and got["iss"] == ISSUER
