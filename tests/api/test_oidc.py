"""The chain as an OpenID Connect provider: apps as clients, the code flow with PKCE, tokens,
claims, and every refusal the issue lists."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from supplychain.extensions import db
from supplychain.models import ApiToken
from tests.api.oidc_helpers import REDIRECT, Rp, grant, query, register, rp_for, shared_portal
from tests.conftest import PASSWORD
from tests.ui.conftest import Web

ISSUER = "http://localhost:8000"


@pytest.fixture
def portal(world):
    """The owner's app, registered as a client, shared with tier D1."""
    return shared_portal(world)


# --- apps as clients ----------------------------------------------------------------------------


def test_registration_shows_the_secret_once_and_stores_its_digest(app, world):
    created = register(world, backchannel_logout_uri="https://portal.example/logout")
    assert created["client_id"].startswith("sca_") and created["client_secret"].startswith("scs_")
    assert created["agentid"] == int(created["id"])
    assert created["redirect_uris"] == [REDIRECT]
    again = world.api.get(world.path("/apps/portal"), token=world.owner.token).json()
    assert again["client_secret"] is None and again["client_id"] == created["client_id"]
    with app.app_context():
        from supplychain.models import OidcClient

        stored = db.session.query(OidcClient).one()
        assert created["client_secret"] not in stored.secret_hash
        assert len(stored.secret_hash) == 64


def test_an_idempotent_replay_of_the_registration_answers_no_secret(world):
    body = {"key": "portal", "name": "P", "url": "https://p.example/", "redirect_uris": [REDIRECT]}
    headers = {"Idempotency-Key": "reg-1"}
    first = world.api.post(world.path("/apps"), body, token=world.owner.token, headers=headers)
    replay = world.api.post(world.path("/apps"), body, token=world.owner.token, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert first.json()["client_secret"] and replay.json()["client_secret"] is None
    assert replay.json()["client_id"] == first.json()["client_id"]


@pytest.mark.parametrize(
    "uris",
    [
        ["http://portal.example/cb"],
        ["https://portal.example/cb#frag"],
        ["ftp://portal.example/cb"],
        ["https://" + "a" * 2000 + ".example/"],
        ["not a url"],
        [],
        ["https://user:pw@portal.example/cb"],
        [42],
        [f"https://p.example/{i}" for i in range(11)],
    ],
)
def test_bad_redirect_uris_are_422_naming_the_field(world, uris):
    body = {"key": "portal", "name": "P", "url": "https://p.example/", "redirect_uris": uris}
    r = world.api.post(world.path("/apps"), body, token=world.owner.token)
    assert r.status_code == 422, r.text
    assert "redirect_uris" in r.json()["errors"]
    assert world.api.get(world.path("/apps/portal"), token=world.owner.token).status_code == 404


def test_loopback_http_redirects_are_allowed(world):
    uris = ["http://127.0.0.1:8089/cb", "http://[::1]/cb", "http://localhost:3000/cb"]
    body = {"key": "portal", "name": "P", "url": "https://p.example/", "redirect_uris": uris}
    r = world.api.post(world.path("/apps"), body, token=world.owner.token)
    assert r.status_code == 201, r.text


def test_only_owner_admins_manage_apps_and_other_chains_see_nothing(world, portal):
    staff, outsider = world.owner_staff, world.outsider
    d1a = world.parties["D1a"]
    assert world.api.post(world.path("/apps/portal/secret"), token=staff.token).status_code == 403
    assert world.api.get(world.path("/apps/portal"), token=outsider.token).status_code == 404
    assert world.api.delete(world.path("/apps/portal"), token=outsider.token).status_code == 404
    shared = world.api.get(world.path("/apps/portal"), token=d1a.token)
    assert shared.status_code == 200 and shared.json()["client_id"] is None
    s1 = world.parties["S1"]
    assert world.api.get(world.path("/apps/portal"), token=s1.token).status_code == 403
    assert world.api.get(world.path("/apps/portal/shares"), token=d1a.token).status_code == 403


def test_shares_list_the_orgs_covered_now(world, portal):
    r = world.api.get(world.path("/apps/portal/shares"), token=world.owner.token)
    assert r.status_code == 200
    got = {(i["org_id"], i["tier"]) for i in r.json()["items"]}
    assert got == {(world.parties["D1a"].org_id, "D1"), (world.parties["D1b"].org_id, "D1")}


def test_patch_changes_the_redirects_and_rotation_kills_the_old_secret(app, world, portal):
    new = "https://portal.example/cb2"
    r = world.api.patch(
        world.path("/apps/portal"), {"redirect_uris": [new], "name": "Portal"},
        token=world.owner.token,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["redirect_uris"] == [new]
    assert r.json()["client_secret"] is None
    bad = world.api.patch(
        world.path("/apps/portal"), {"redirect_uris": ["http://x.example/"]},
        token=world.owner.token,
    )  # fmt: skip
    assert bad.status_code == 422 and "redirect_uris" in bad.json()["errors"]
    rotated = world.api.post(world.path("/apps/portal/secret"), token=world.owner.token).json()
    assert rotated["client_secret"] and rotated["client_secret"] != portal["client_secret"]
    rp = rp_for(app, world, portal)
    rp.redirect_uri = new
    code = rp.code()
    old = rp.exchange(code)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    rp.client_secret = rotated["client_secret"]
    assert rp.exchange(code).status_code == 200


# --- discovery and keys ---------------------------------------------------------------------------


def test_discovery_names_the_configured_issuer_never_the_host(app):
    web = Web(app)
    r = web.transport.send(
        "GET", "/.well-known/openid-configuration", headers={"Host": "evil.example"}
    )
    doc = r.json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == ISSUER + "/oauth/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert {"openid", "profile", "email", "chain"} <= set(doc["scopes_supported"])
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["authorization_response_iss_parameter_supported"] is True
    jwks = web.transport.send("GET", "/oauth/jwks").json()
    assert jwks["keys"] and all("d" not in k and k["kid"] for k in jwks["keys"])


# --- the code flow ------------------------------------------------------------------------------


def test_a_d1_person_signs_in_and_the_tokens_say_who_they_are(app, world, portal):
    rp = rp_for(app, world, portal)
    r = rp.authorize()
    assert r.status_code == 302
    got = query(r.headers["Location"])
    assert r.headers["Location"].startswith(REDIRECT + "?")
    assert got["iss"] == ISSUER and got["state"] == rp.last["state"]
    tokens = rp.exchange(got["code"])
    assert tokens.status_code == 200, tokens.text
    assert "no-store" in tokens.headers["Cache-Control"]
    body = tokens.json()
    assert body["token_type"].lower() == "bearer" and 0 < body["expires_in"] <= 600
    claims = rp.id_token_claims(body["id_token"])
    assert claims["_header"]["kid"] and claims["_header"]["alg"] == "RS256"
    assert claims["iss"] == ISSUER and claims["aud"] in (portal["client_id"], [portal["client_id"]])
    assert claims["nonce"] == rp.last["nonce"]
    assert claims["sid"] and claims["auth_time"] > 0
    d1a = world.parties["D1a"]
    assert claims["sub"] != d1a.user_id
    assert claims["org_id"] == d1a.org_id and claims["tier"] == "D1"
    assert claims["org_custom_id"] == "DLR-001" and claims["org_role"] == "admin"
    assert claims["groups"] == ["Dealers/North China/Beijing"]
    assert claims["locale"] in ("zh-CN", "en") and claims["zoneinfo"] == "Asia/Shanghai"
    assert claims["email"] == d1a.email and claims["email_verified"] is False
    info = rp.userinfo(body["access_token"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["org_name"] == "Beijing Motors Sales"
    # Stored as digests only.
    with app.app_context():
        from supplychain.models import OidcToken

        row = db.session.query(OidcToken).one()
        assert body["access_token"] not in (row.access_hash, row.refresh_hash)


def test_sub_is_the_same_across_apps_of_a_chain_and_not_across_chains(app, world, portal):
    other = register(world, key="warranty")
    grant(world, "warranty", "tier", "D1")
    rp = rp_for(app, world, portal)
    sub1 = rp.id_token_claims(rp.tokens()["id_token"])["sub"]
    rp2 = Rp(rp.web, other["client_id"], other["client_secret"])
    sub2 = rp2.id_token_claims(rp2.tokens()["id_token"])["sub"]
    assert sub1 == sub2
    from supplychain.identity.claims import pairwise_sub

    with app.test_request_context():
        here = pairwise_sub(int(world.chain_id), int(world.parties["D1a"].user_id))
        elsewhere = pairwise_sub(int(world.chain_id) + 1, int(world.parties["D1a"].user_id))
    assert here == sub1 and elsewhere != sub1


def test_the_owner_always_may_sign_in(app, world, portal):
    rp = rp_for(app, world, portal, "owner")
    assert rp.tokens()["access_token"]


def test_a_person_not_signed_in_goes_through_the_sign_in_page_and_comes_back(app, world, portal):
    rp = rp_for(app, world, portal, None)
    r = rp.authorize()
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    rp.web.get("/login")
    nxt = query(r.headers["Location"])["next"]
    back = rp.web.post(
        "/login?" + urlencode({"next": nxt}),
        {"email": world.parties["D1a"].email, "password": PASSWORD},
        allow_redirects=False,
    )
    assert back.status_code == 302 and back.headers["Location"].endswith(nxt)
    again = rp.web.get(back.headers["Location"], allow_redirects=False)
    assert again.status_code == 302 and "code=" in again.headers["Location"]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "over",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
    ],
)
def test_no_pkce_or_plain_is_invalid_request_to_the_redirect(app, world, portal, over):
    rp = rp_for(app, world, portal)
    r = rp.authorize(**over)
    assert r.status_code == 302
    got = query(r.headers["Location"])
    assert got["error"] == "invalid_request" and got["iss"] == ISSUER
    assert got["state"] == rp.last["state"] and "code" not in got


@pytest.mark.parametrize(
    "over",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": None},
        {"client_id": "sca_nope"},
        {"client_id": None},
    ],
)
def test_an_unregistered_redirect_is_a_400_page_never_a_redirect(app, world, portal, over):
    rp = rp_for(app, world, portal)
    r = rp.authorize(**over)
    assert r.status_code == 400
    assert "Location" not in r.headers
    assert "text/html" in r.headers["Content-Type"]


@pytest.mark.parametrize("response_type", ['code"', "code\\", '"'])
def test_a_response_type_with_forbidden_characters_is_a_400_page(app, world, portal, response_type):
    rp = rp_for(app, world, portal)
    r = rp.authorize(response_type=response_type)
    assert r.status_code == 400, r.headers.get("Location")
    assert "Location" not in r.headers


def test_the_error_page_speaks_chinese(app, world, portal):
    rp = rp_for(app, world, portal, None)
    params = rp.authorize_params(redirect_uri="https://evil.example/")
    r = rp.web.get("/oauth/authorize?" + urlencode(params), headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 400 and "登录请求无效" in r.text


@pytest.mark.parametrize("person", ["S1", "D2"])
def test_a_person_whose_org_is_not_covered_is_access_denied(app, world, portal, person):
    rp = rp_for(app, world, portal, person)
    r = rp.authorize()
    got = query(r.headers["Location"])
    assert r.status_code == 302 and got["error"] == "access_denied" and got["iss"] == ISSUER
    assert "code" not in got


def test_an_outsider_org_and_a_partner_of_another_chain_are_access_denied(app, world, portal):
    web = Web(app)
    web.login(world.outsider.email)
    rp = Rp(web, portal["client_id"], portal["client_secret"])
    got = query(rp.authorize().headers["Location"])
    assert got["error"] == "access_denied"


def test_a_reused_code_is_invalid_grant_and_revokes_what_it_issued(app, world, portal):
    rp = rp_for(app, world, portal)
    code = rp.code()
    first = rp.exchange(code)
    assert first.status_code == 200
    again = rp.exchange(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.userinfo(first.json()["access_token"]).status_code == 401
    assert rp.refresh(first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_wrong_verifier_or_redirect_is_refused(app, world, portal):
    rp = rp_for(app, world, portal)
    code = rp.code()
    wrong = rp.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
         "code_verifier": "x" * 50},
    )  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_client_secret_post_works_and_bad_clients_are_401(app, world, portal):
    rp = rp_for(app, world, portal)
    assert rp.exchange(rp.code(), auth="post").status_code == 200
    code = rp.code()
    good = rp.client_secret
    rp.client_secret = "scs_wrong"
    for auth in ("basic", "post"):
        r = rp.exchange(code, auth=auth)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    rp.client_secret, rp.client_id = good, "sca_unknown"
    for auth in ("basic", "post", "none"):
        r = rp.exchange(code, auth=auth)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_basic_credentials_that_are_not_utf8_are_invalid_client(app, world, portal, path):
    rp = rp_for(app, world, portal)
    raw = rp.client_id.encode() + b":\xff\xfe" + rp.client_secret.encode()
    r = rp.web.transport.send(
        "POST",
        path,
        data={"grant_type": "authorization_code", "code": rp.code(), "token": "t"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


def test_malformed_token_requests_are_rfc6749_errors(app, world, portal):
    rp = rp_for(app, world, portal)
    assert rp.token({"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    r = rp.token({"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = rp.token({"grant_type": "refresh_token"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(app, world, portal):
    rp = rp_for(app, world, portal)
    first = rp.tokens()
    second = rp.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert rp.userinfo(second["access_token"]).status_code == 200
    reused = rp.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert rp.userinfo(second["access_token"]).status_code == 401
    assert rp.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"


def test_userinfo_needs_a_live_token(app, world, portal):
    rp = rp_for(app, world, portal)
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        r = rp.web.transport.send("GET", "/oauth/userinfo", headers=header)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_nonce_used_once_is_refused_the_second_time(app, world, portal):
    rp = rp_for(app, world, portal)
    rp.code(nonce="once-only")
    again = rp.authorize(nonce="once-only")
    assert again.status_code == 302
    got = query(again.headers["Location"])
    assert got["error"] == "invalid_request" and "code" not in got


def test_email_verified_once_a_reset_link_was_opened_and_claims_follow_the_scope(
    app, world, portal
):
    from datetime import timedelta

    from supplychain.models import PasswordReset
    from supplychain.models.base import utcnow

    d1a = world.parties["D1a"]
    with app.app_context():
        now = utcnow()
        db.session.add(
            PasswordReset(
                user_id=int(d1a.user_id),
                token_hash="e" * 64,
                expires_at=now + timedelta(hours=1),
                used_at=now,
            )
        )
        db.session.commit()
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    assert rp.id_token_claims(tokens["id_token"])["email_verified"] is True
    info = rp.userinfo(tokens["access_token"]).json()
    assert info["email_verified"] is True and info["org_custom_id"] == "DLR-001"
    # Only `openid email`: no chain claims; only `openid chain`: no email.
    narrow = rp.userinfo(rp.exchange(rp.code(scope="openid email")).json()["access_token"]).json()
    assert narrow["email_verified"] is True and "org_id" not in narrow and "name" not in narrow
    chain = rp.userinfo(rp.exchange(rp.code(scope="openid chain")).json()["access_token"]).json()
    assert "email" not in chain and chain["org_custom_id"] == "DLR-001" and chain["tier"] == "D1"


def test_introspection_by_the_tokens_own_client_id_with_a_wrong_secret_is_401(app, world, portal):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    wrong = Rp(rp.web, portal["client_id"], "not-the-secret")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        r = wrong.introspect(token)
        assert r.status_code == 401 and "active" not in r.json()
    assert rp.introspect(tokens["access_token"]).json()["active"] is True


def test_introspection_needs_client_credentials_and_hides_foreign_or_dead_tokens(
    app, world, portal
):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    assert rp.introspect(tokens["access_token"], auth=False).status_code == 401
    live = rp.introspect(tokens["access_token"]).json()
    assert live["active"] is True and live["client_id"] == portal["client_id"]
    assert live["sub"] == rp.id_token_claims(tokens["id_token"])["sub"]
    other = register(world, key="warranty")
    foreign = Rp(rp.web, other["client_id"], other["client_secret"])
    assert foreign.introspect(tokens["access_token"]).json() == {"active": False}
    assert rp.introspect("unknown-token").json() == {"active": False}
    assert rp.revoke(tokens["refresh_token"]).status_code == 200
    assert rp.introspect(tokens["access_token"]).json() == {"active": False}
    assert rp.introspect(tokens["refresh_token"]).json() == {"active": False}


def test_revocation_answers_200_whatever_the_token(app, world, portal):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    other = register(world, key="warranty")
    foreign = Rp(rp.web, other["client_id"], other["client_secret"])
    assert foreign.revoke(tokens["access_token"]).status_code == 200
    assert rp.userinfo(tokens["access_token"]).status_code == 200  # another app cannot revoke it
    assert rp.revoke("garbage").status_code == 200
    assert rp.revoke(tokens["access_token"], "access_token").status_code == 200
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_codes_expire_within_a_minute(app, world, portal):
    rp = rp_for(app, world, portal)
    code = rp.code()
    with app.app_context():
        from supplychain.models import OidcCode

        row = db.session.query(OidcCode).one()
        assert (row.expires_at - row.created_at).total_seconds() <= 60
        row.expires_at = row.created_at
        db.session.commit()
    assert rp.exchange(code).json()["error"] == "invalid_grant"


# --- at once ------------------------------------------------------------------------------------


def _alive(rp: Rp, tokens: dict) -> bool:
    return rp.introspect(tokens["access_token"]).json()["active"]


def test_revoking_the_grant_ends_access_at_once(app, world, portal):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    grants = world.api.get(world.path("/grants"), token=world.owner.token).json()["items"]
    [g] = [g for g in grants if g["app"] == "portal"]
    assert (
        world.api.delete(world.path(f"/grants/{g['id']}"), token=world.owner.token).status_code
        == 204
    )
    assert not _alive(rp, tokens)
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert rp.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert query(rp.authorize().headers["Location"])["error"] == "access_denied"


def test_an_org_still_covered_by_another_grant_keeps_access(app, world, portal):
    d1a = world.parties["D1a"]
    second = grant(world, "portal", "org", d1a.org_id)
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    grants = world.api.get(world.path("/grants"), token=world.owner.token).json()["items"]
    tier = next(g for g in grants if g["app"] == "portal" and g["id"] != second["id"])
    world.api.delete(world.path(f"/grants/{tier['id']}"), token=world.owner.token)
    assert _alive(rp, tokens)
    world.api.delete(world.path(f"/grants/{second['id']}"), token=world.owner.token)
    assert not _alive(rp, tokens)


def test_member_removal_sign_out_and_password_change_end_app_sessions(app, world, portal):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    d1b = world.parties["D1b"]
    rp_b = rp_for(app, world, portal, "D1b")
    tokens_b = rp_b.tokens()
    r = world.api.delete(world.path(f"/members/{d1b.org_id}"), token=world.owner.token)
    assert r.status_code == 204
    assert not _alive(rp_b, tokens_b) and _alive(rp, tokens)
    # Signing out of the pages ends the app session it opened.
    rp.web.post("/logout")
    assert not _alive(rp, tokens)
    # A password change ends the app sessions of the other sign-in sessions.
    rp2 = rp_for(app, world, portal)
    tokens2 = rp2.tokens()
    d1a = world.parties["D1a"]
    r = world.api.post(
        "/me/password",
        {"current_password": PASSWORD, "new_password": "another long password 9"},
        token=d1a.token,
    )
    assert r.status_code in (200, 204), r.text
    assert not _alive(rp2, tokens2)


def test_deleting_the_app_ends_everything(app, world, portal):
    rp = rp_for(app, world, portal)
    tokens = rp.tokens()
    assert world.api.delete(world.path("/apps/portal"), token=world.owner.token).status_code == 204
    assert rp.introspect(tokens["access_token"]).status_code == 401  # the client is gone
    assert world.api.get(world.path("/grants"), token=world.owner.token).json()["items"] == []
    with app.app_context():
        assert db.session.query(ApiToken).count() > 0
