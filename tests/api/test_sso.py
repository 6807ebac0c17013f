"""Company sign-in (SSO), fast: the settings' every bad input, and every refusal of a callback or
a back-channel logout, against a small fake IdP on the loopback (tests/fake_idp.py) whose tokens
the tests sign themselves (another key, another audience, expired, another nonce...). The whole
flow against a real provider is tests/api/test_sso_flow.py."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models.sso import SsoConnection
from tests.conftest import PASSWORD
from tests.fake_idp import FakeIdp, rsa_key

SECRET = "fake-secret-0123456789"


@pytest.fixture(scope="module")
def keys():
    return {"idp": rsa_key("idp-1"), "other": rsa_key("idp-1")}


@pytest.fixture
def idp(keys):
    fake = FakeIdp(keys["idp"])
    yield fake
    fake.close()


@pytest.fixture
def private_ok(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


def settings(idp: FakeIdp, **changes):
    return {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": SECRET,
        "email_domains": ["acme.example"],
        **changes,
    }


def put(world, body, party=None):
    party = party or world.owner
    return world.api.put(f"/orgs/{party.org_id}/sso", body, token=party.token)


@pytest.fixture
def connected(world, idp, private_ok):
    r = put(world, settings(idp))
    assert r.status_code == 200, r.text
    return world


# --- settings -------------------------------------------------------------------------------------


def test_the_secret_is_stored_sealed_and_never_shown(connected, app):
    r = connected.api.get(f"/orgs/{connected.owner.org_id}/sso", token=connected.owner.token)
    assert r.status_code == 200 and SECRET not in r.text
    assert r.json()["redirect_uri"].endswith("/auth/sso/callback")
    stored = sealed_secret(app)
    assert stored and SECRET not in stored


def sealed_secret(app) -> str | None:
    with app.app_context():
        return db.session.scalar(select(SsoConnection.client_secret_sealed))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["garbage", "not_object", "other_issuer", "error"])
def test_an_issuer_answering_wrong_is_422_naming_issuer(world, idp, private_ok, mode):
    idp.discovery = mode
    r = put(world, settings(idp))
    assert r.status_code == 422, r.text
    assert list(r.json()["errors"]) == ["issuer"]
    assert put(world, settings(idp, issuer="")).status_code == 422
    gone = world.api.get(f"/orgs/{world.owner.org_id}/sso", token=world.owner.token)
    assert gone.status_code == 404  # nothing was saved


def test_an_issuer_that_does_not_answer_is_422_naming_issuer(world, private_ok):
    r = world.api.put(
        f"/orgs/{world.owner.org_id}/sso",
        {
            "issuer": f"http://127.0.0.1:{closed_port()}",
            "client_id": "c",
            "client_secret": "s",
            "email_domains": ["acme.example"],
        },
        token=world.owner.token,
    )
    assert r.status_code == 422 and "does not answer" in r.json()["errors"]["issuer"][0]


@pytest.mark.parametrize(
    "issuer",
    ["http://idp.acme.example", "https://127.0.0.1:8443", "https://10.1.2.3", "ftp://x.example"],
)
def test_http_and_private_issuers_need_the_private_setting(world, issuer):
    r = put(world, {**settings_without_idp(), "issuer": issuer})
    assert r.status_code == 422, r.text
    assert "issuer" in r.json()["errors"]


def settings_without_idp():
    return {
        "issuer": "https://idp.acme.example",
        "client_id": "c",
        "client_secret": "s",
        "email_domains": ["acme.example"],
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email_domains": ["https://acme.example"]}, "email_domains"),
        ({"email_domains": ["*.acme.example"]}, "email_domains"),
        ({"email_domains": ["people@acme.example"]}, "email_domains"),
        ({"email_domains": ["acme"]}, "email_domains"),
        ({"email_domains": ["acme.example:443"]}, "email_domains"),
        ({"email_domains": []}, "email_domains"),
        ({"email_domains": ["acme.example", "ACME.example"]}, "email_domains"),
        ({"email_domains": "acme.example"}, "email_domains"),
        ({"client_id": "has space"}, "client_id"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": "tab\there"}, "client_secret"),
        ({"client_secret": "x" * 501}, "client_secret"),
        ({"create_users": "maybe"}, "create_users"),
        ({"issuer": 7}, "issuer"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_shapes_are_422_naming_the_field(world, idp, private_ok, changes, field):
    r = put(world, settings(idp, **changes))
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"]["json"]


def test_a_new_connection_needs_a_secret_a_change_keeps_it(world, idp, private_ok, app):
    body = settings(idp)
    del body["client_secret"]
    r = put(world, body)
    assert r.status_code == 422 and "client_secret" in r.json()["errors"]
    assert put(world, settings(idp)).status_code == 200
    sealed = sealed_secret(app)
    changed = put(world, {**body, "create_users": True})
    assert changed.status_code == 200 and changed.json()["create_users"] is True
    assert sealed_secret(app) == sealed


def test_a_domain_belongs_to_one_org(connected, idp):
    partner = connected.parties["D1a"]
    r = put(connected, settings(idp, email_domains=["bj.example", "acme.example"]), partner)
    assert r.status_code == 409, r.text
    assert "acme.example" in r.json()["errors"]["email_domains"][0]
    ok = put(connected, settings(idp, email_domains=["bj.example"]), partner)
    assert ok.status_code == 200


def test_only_the_orgs_own_admins(connected, idp):
    path = f"/orgs/{connected.owner.org_id}/sso"
    for method in ("get", "delete"):
        other = getattr(connected.api, method)(path, token=connected.parties["D1a"].token)
        assert other.status_code == 404
        assert (
            getattr(connected.api, method)(path, token=connected.owner_staff.token).status_code
            == 403
        )
        assert getattr(connected.api, method)(path).status_code == 401
    assert connected.api.put(path, settings(idp), token=connected.outsider.token).status_code == 404
    assert (
        connected.api.put(path, settings(idp), token=connected.owner_staff.token).status_code == 403
    )


def test_the_check_runs_discovery_again(connected, idp):
    path = f"/orgs/{connected.owner.org_id}/sso/check"
    r = connected.api.post(path, token=connected.owner.token)
    assert r.status_code == 200 and r.json()["jwks_uri"] == idp.issuer + "/jwks"
    idp.discovery = "garbage"
    r = connected.api.post(path, token=connected.owner.token)
    assert r.status_code == 422 and "issuer" in r.json()["errors"]


# --- the callback -------------------------------------------------------------------------------


def start(world, email="staff@acme.example"):
    """GET /auth/sso/start as a script; the state and nonce the IdP was sent."""
    r = world.api.get("/auth/sso/start", params={"email": email}, allow_redirects=False)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["scope"] == ["openid email profile"]
    return query["state"][0], query["nonce"][0]


def callback(world, state, **params):
    query = {"code": "code-1", "state": state, **params}
    return world.api.transport.send("GET", "/auth/sso/callback", params=query)


def test_a_good_id_token_signs_in_with_a_sign_in_token(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce, email="staff@acme.example", email_verified=True)
    r = callback(connected, state)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    me = connected.api.get("/me", token=token)
    assert me.json()["user"]["email"] == "staff@acme.example"
    sent = idp.token_requests[-1]
    assert sent["grant_type"] == ["authorization_code"] and len(sent["code_verifier"][0]) >= 43
    # The same callback again: the state is used up (and no longer this browser's).
    assert callback(connected, state).status_code == 400


def test_entra_ids_domain_verified_claim_counts_as_a_verified_email(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce, email="staff@acme.example", name="S", xms_edov=True)
    r = callback(connected, state)
    assert r.status_code == 200, r.text
    state, nonce = start(connected)
    idp.id_token = idp.token(
        sub="subject-2", nonce=nonce, email="admin@acme.example", name="A", xms_edov=False
    )
    assert callback(connected, state).status_code == 403


def test_claims_missing_from_the_id_token_come_from_userinfo(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce)
    idp.userinfo = {"sub": "subject-1", "email": "staff@acme.example", "email_verified": True}
    r = callback(connected, state)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == "staff@acme.example"


def test_userinfo_about_another_subject_is_not_used(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce)
    idp.userinfo = {"sub": "someone-else", "email": "staff@acme.example", "email_verified": True}
    r = callback(connected, state)
    assert r.status_code == 403, r.text
    assert "token" not in r.text


def test_a_forged_state_is_400_without_a_session(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce, email="staff@acme.example", email_verified=True)
    r = callback(connected, "forged-" + state)
    assert r.status_code == 400
    assert "sc_" not in r.text and "not valid" in r.text
    # The real state cannot be used after a forged try either: the browser's copy is gone.
    assert callback(connected, state).status_code == 400


def test_a_replayed_state_from_another_browser_is_400(connected, idp, app):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce, email="staff@acme.example", email_verified=True)
    cookies = connected.api.transport.cookies()
    assert callback(connected, state).status_code == 200
    connected.api.transport.add_cookies(cookies)  # the browser's old cookie, replayed
    r = callback(connected, state)
    assert r.status_code == 400


@pytest.mark.parametrize(
    "forge",
    [
        lambda idp, keys, nonce: idp.token(keys["other"], nonce=nonce),
        lambda idp, keys, nonce: idp.token(nonce=nonce, aud="someone-else"),
        lambda idp, keys, nonce: idp.token(nonce=nonce, aud=[idp.client_id, "x"]),
        lambda idp, keys, nonce: idp.token(nonce=nonce, exp=int(time.time()) - 3600),
        lambda idp, keys, nonce: idp.token(nonce="another-nonce"),
        lambda idp, keys, nonce: idp.token(nonce=None),
        lambda idp, keys, nonce: idp.token(nonce=nonce, iss="https://login.other.example"),
        lambda idp, keys, nonce: idp.token(nonce=nonce, header={"alg": "none"}),
        lambda idp, keys, nonce: "not.a.jwt",
        lambda idp, keys, nonce: None,
    ],
    ids=[
        "another-key", "another-audience", "azp-missing", "expired", "wrong-nonce", "no-nonce",
        "another-issuer", "alg-none", "garbage", "no-id-token",
    ],
)  # fmt: skip
def test_bad_id_tokens_are_refused_logged_and_sign_no_one_in(connected, idp, keys, forge, caplog):
    state, nonce = start(connected)
    try:
        idp.id_token = forge(idp, keys, nonce)
    except Exception:  # joserfc refuses to make some forgeries (alg none): send garbage then
        idp.id_token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
    idp.userinfo = {"email": "staff@acme.example", "email_verified": True}
    with caplog.at_level(logging.WARNING, logger="supplychain.services.sso_signin"):
        r = callback(connected, state)
    assert r.status_code == 403, r.text
    assert "token" not in r.json()
    assert any("Company sign-in refused" in m for m in caplog.messages)


def test_an_authorization_response_from_another_issuer_is_refused(connected, idp):
    state, nonce = start(connected)
    idp.id_token = idp.token(nonce=nonce, email="staff@acme.example", email_verified=True)
    r = callback(connected, state, iss="https://login.other.example")
    assert r.status_code == 403


def test_an_idp_error_is_refused(connected, idp):
    state, _nonce = start(connected)
    r = callback(connected, state, error="access_denied")
    assert r.status_code == 403


def test_start_with_an_unconnected_or_bad_email_is_422(connected):
    for email in ("someone@nowhere.example", "not-an-email", ""):
        r = connected.api.get("/auth/sso/start", params={"email": email}, allow_redirects=False)
        assert r.status_code == 422 and "email" in str(r.json()["errors"])


# --- back-channel logout ------------------------------------------------------------------------

LOGOUT_EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def signed_in(world, idp, sid="idp-session-1"):
    state, nonce = start(world)
    idp.id_token = idp.token(nonce=nonce, sid=sid, email="staff@acme.example", email_verified=True)
    r = callback(world, state)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def logout(world, token):
    return world.api.transport.send(
        "POST", "/auth/sso/backchannel-logout", data={"logout_token": token}
    )


def test_a_logout_token_ends_that_idp_session_only(connected, idp):
    first = signed_in(connected, idp, sid="s-1")
    second = signed_in(connected, idp, sid="s-2")
    token = idp.token(sid="s-1", jti="j-1", events=LOGOUT_EVENT, header={"typ": "logout+jwt"})
    r = logout(connected, token)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert connected.api.get("/me", token=first).status_code == 401
    assert connected.api.get("/me", token=second).status_code == 200
    assert connected.api.get("/me", token=connected.owner_staff.token).status_code == 200
    # The same logout token again: refused (jti replay).
    assert logout(connected, token).status_code == 400


def test_a_logout_token_without_exp_is_believed_while_fresh(connected, idp):
    session_token = signed_in(connected, idp, sid="s-9")
    r = logout(connected, idp.token(sid="s-9", jti="j-9", exp=None, events=LOGOUT_EVENT))
    assert r.status_code == 200, r.text
    assert connected.api.get("/me", token=session_token).status_code == 401


def test_a_logout_token_with_sub_only_ends_every_session_of_the_person(connected, idp):
    first = signed_in(connected, idp, sid="s-1")
    login = connected.api.post("/auth/login", {"email": "staff@acme.example", "password": PASSWORD})
    password_session = login.json()["token"]
    api_token = connected.api.post(
        "/me/tokens", {"name": "script"}, token=connected.owner_staff.token
    ).json()["token"]
    r = logout(connected, idp.token(sid=None, jti="j-2", events=LOGOUT_EVENT))
    assert r.status_code == 200, r.text
    assert connected.api.get("/me", token=first).status_code == 401
    assert connected.api.get("/me", token=password_session).status_code == 401
    assert connected.api.get("/me", token=connected.owner_staff.token).status_code == 401
    # API tokens are no sessions: they keep working.
    assert connected.api.get("/me", token=api_token).status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        lambda idp, keys: idp.token(keys["other"], jti="a", events=LOGOUT_EVENT),
        lambda idp, keys: idp.token(jti="b", events=LOGOUT_EVENT, aud="someone-else"),
        lambda idp, keys: idp.token(jti="c", events=LOGOUT_EVENT, nonce="n"),
        lambda idp, keys: idp.token(jti="d"),
        lambda idp, keys: idp.token(jti="e", events={"other": {}}),
        lambda idp, keys: idp.token(events=LOGOUT_EVENT),
        lambda idp, keys: idp.token(jti="f", events=LOGOUT_EVENT, sub=None),
        lambda idp, keys: idp.token(jti="g", events=LOGOUT_EVENT, exp=int(time.time()) - 3600),
        lambda idp, keys: idp.token(
            jti="g2", events=LOGOUT_EVENT, exp=None, iat=int(time.time()) - 3600
        ),
        lambda idp, keys: idp.token(jti="h", events=LOGOUT_EVENT, header={"typ": "JWT+id"}),
        lambda idp, keys: "garbage",
        lambda idp, keys: "",
    ],
    ids=[
        "another-key", "another-audience", "nonce", "no-events", "other-event", "no-jti",
        "no-sub-nor-sid", "expired", "old-without-exp", "wrong-typ", "garbage", "empty",
    ],
)  # fmt: skip
def test_bad_logout_tokens_are_400_and_end_nothing(connected, idp, keys, forge):
    session_token = signed_in(connected, idp)
    r = logout(connected, forge(idp, keys))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert connected.api.get("/me", token=session_token).status_code == 200


@pytest.mark.parametrize("issuer", [["x"], {"a": 1}, 5, None, ""])
def test_a_logout_token_naming_no_issuer_string_is_400(connected, idp, issuer):
    session_token = signed_in(connected, idp)
    claims = {"iss": issuer, "aud": idp.client_id, "jti": "k", "events": LOGOUT_EVENT}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = logout(connected, f"eyJhbGciOiJSUzI1NiJ9.{payload}.AAAA")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert connected.api.get("/me", token=session_token).status_code == 200


# --- passwords switched off ---------------------------------------------------------------------


def test_required_refuses_invitation_activation_with_a_password(world, idp, private_ok):
    invited = world.api.post(
        f"/chains/{world.chain_id}/members/{world.owner.org_id}/contacts",
        {"name": "New Hire", "email": "hire@acme.example"},
        token=world.owner.token,
    )
    assert invited.status_code == 201
    assert put(world, settings(idp, required=True)).status_code == 200
    r = world.api.post(
        "/auth/activate", {"invite_code": invited.json()["invite_code"], "password": PASSWORD}
    )
    assert r.status_code == 403 and idp.issuer in r.json()["message"]
    # Nothing was used up: after DELETE the same code activates.
    world.api.delete(f"/orgs/{world.owner.org_id}/sso", token=world.owner.token)
    r = world.api.post(
        "/auth/activate", {"invite_code": invited.json()["invite_code"], "password": PASSWORD}
    )
    assert r.status_code == 200, r.text


def test_required_of_one_org_never_locks_out_another_orgs_people_of_that_domain(
    world, idp, private_ok
):
    # A partner claims the domain the owner's people use (nothing proves who owns a domain)
    # and switches passwords off: its own people lose passwords, the owner's keep theirs.
    partner = world.parties["D1a"]
    assert put(world, settings(idp, required=True), partner).status_code == 200
    owners = world.api.post("/auth/login", {"email": "staff@acme.example", "password": PASSWORD})
    assert owners.status_code == 200, owners.text
    wrong = world.api.post("/auth/login", {"email": "staff@acme.example", "password": "x" * 12})
    assert wrong.status_code == 401
    # An address of the domain nobody here has is told to use the company sign-in.
    nobody = world.api.post("/auth/login", {"email": "nobody@acme.example", "password": "x" * 12})
    assert nobody.status_code == 403 and idp.issuer in nobody.json()["message"]
