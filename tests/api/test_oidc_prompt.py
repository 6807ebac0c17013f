"""`prompt` and `max_age` at the authorization endpoint: a fresh sign-in through the pages when
an app asks for one, never a page with `prompt=none`, and no loop or shortcut around the
re-authentication."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import ApiToken
from tests.api.oidc_helpers import REDIRECT, Rp, query, rp_for, shared_portal
from tests.conftest import PASSWORD
from tests.ui.conftest import Web

ISSUER = "http://localhost:8000"
HOUR = 3600


@pytest.fixture
def portal(world):
    """The owner's app, registered as a client, shared with tier D1."""
    return shared_portal(world)


def age_sign_ins(app, world, person: str, seconds: int) -> None:
    """Make the person's page sign-ins `seconds` older than they are."""
    with app.app_context():
        rows = db.session.scalars(
            select(ApiToken).where(
                ApiToken.user_id == int(world.parties[person].user_id), ApiToken.kind == "login"
            )
        ).all()
        assert rows
        for row in rows:
            row.created_at -= timedelta(seconds=seconds)
        db.session.commit()


def to_sign_in(r) -> str:
    """The sign-in page an authorization sent the person to; returns the `next` it carries."""
    assert r.status_code == 302, r.text[:300]
    location = urlsplit(r.headers["Location"])
    assert location.path == "/login", r.headers["Location"]
    nxt = query(r.headers["Location"])["next"]
    assert nxt.startswith("/oauth/authorize?") and not urlsplit(nxt).netloc
    return nxt


def sign_in_again(rp: Rp, r, email: str) -> object:
    """Follow an authorization to the sign-in page, sign in there, and come back: returns the
    answer of the authorization endpoint to the request the page returns to."""
    nxt = to_sign_in(r)
    page = rp.web.get(r.headers["Location"])
    assert page.status_code == 200 and 'name="password"' in page.text
    back = rp.web.post(
        "/login", {"email": email, "password": PASSWORD, "next": nxt}, allow_redirects=False
    )
    assert back.status_code == 302 and back.headers["Location"].endswith(nxt)
    return rp.web.get(back.headers["Location"], allow_redirects=False)


def redirected(r) -> dict[str, str]:
    assert r.status_code == 302 and r.headers["Location"].startswith(REDIRECT + "?"), r.headers
    return query(r.headers["Location"])


def id_claims(rp: Rp, code: str) -> dict:
    tokens = rp.exchange(code)
    assert tokens.status_code == 200, tokens.text
    return rp.id_token_claims(tokens.json()["id_token"])


def test_discovery_names_the_prompt_values(app):
    doc = Web(app).transport.send("GET", "/.well-known/openid-configuration").json()
    assert doc["prompt_values_supported"] == ["none", "login", "consent", "select_account"]
    assert doc["request_uri_parameter_supported"] is False
    assert "claims_parameter_supported" not in doc  # false by default, and it is not taken


# --- prompt=login and max_age: a fresh sign-in ------------------------------------------------


def test_prompt_login_sends_a_signed_in_person_through_the_sign_in_page(app, world, portal):
    rp = rp_for(app, world, portal)
    age_sign_ins(app, world, "D1a", HOUR)
    before = id_claims(rp, rp.code())
    r = rp.authorize(prompt="login")
    assert "reauth=1" in r.headers["Location"]
    page = rp.web.get(r.headers["Location"])
    assert "sign in again" in page.text
    got = redirected(sign_in_again(rp, r, world.parties["D1a"].email))
    assert got["state"] == rp.last["state"] and got["iss"] == ISSUER
    after = id_claims(rp, got["code"])
    # The new sign-in's time, an hour after the old one; a new sign-in session, the same person.
    assert after["auth_time"] >= before["auth_time"] + HOUR - 5
    assert after["sid"] != before["sid"] and after["sub"] == before["sub"]


def test_the_fresh_sign_in_satisfies_its_request_once(app, world, portal):
    rp = rp_for(app, world, portal)
    # No nonce: the replay below meets the sign-in rule, not the nonce's.
    r = rp.authorize(prompt="login", nonce=None)
    nxt = to_sign_in(r)
    # Coming back without signing in (the next URL typed by hand): the sign-in page again.
    assert to_sign_in(rp.web.get(nxt, allow_redirects=False)) == nxt
    assert "code" in redirected(sign_in_again(rp, r, world.parties["D1a"].email))
    # The same request replayed after it went through: a sign-in again, never a second code.
    assert to_sign_in(rp.web.get(nxt, allow_redirects=False)) == nxt


def test_another_request_does_not_ride_on_a_fresh_sign_in(app, world, portal):
    rp = rp_for(app, world, portal)
    waiting = rp.authorize(prompt="login", nonce=None)
    to_sign_in(waiting)
    other = Rp(rp.web, portal["client_id"], portal["client_secret"])
    got = redirected(sign_in_again(other, other.authorize(prompt="login"), rp_email(world)))
    assert "code" in got
    # The first request was waiting for a sign-in made before the one above: it goes on too
    # (a sign-in happened after it asked), but only once.
    nxt = to_sign_in(waiting)
    assert "code" in redirected(rp.web.get(nxt, allow_redirects=False))
    assert to_sign_in(rp.web.get(nxt, allow_redirects=False)) == nxt


def rp_email(world) -> str:
    return world.parties["D1a"].email


def test_prompt_login_without_a_session_signs_in_once_and_goes_on(app, world, portal):
    rp = rp_for(app, world, portal, None)
    r = rp.authorize(prompt="login")
    assert "reauth" not in r.headers["Location"]
    got = redirected(sign_in_again(rp, r, rp_email(world)))
    assert id_claims(rp, got["code"])["org_id"] == world.parties["D1a"].org_id


def test_whoever_signs_in_again_is_who_the_code_is_for(app, world, portal):
    rp = rp_for(app, world, portal)
    first = id_claims(rp, rp.code())
    got = redirected(sign_in_again(rp, rp.authorize(prompt="login"), world.owner.email))
    claims = id_claims(rp, got["code"])
    assert claims["sub"] != first["sub"] and claims["org_id"] == world.owner.org_id


def test_a_person_not_covered_who_signs_in_again_is_still_access_denied(app, world, portal):
    rp = rp_for(app, world, portal, "S1")
    got = redirected(sign_in_again(rp, rp.authorize(prompt="login"), world.parties["S1"].email))
    assert got["error"] == "access_denied" and "code" not in got


def test_max_age_re_authenticates_a_sign_in_older_than_it(app, world, portal):
    rp = rp_for(app, world, portal)
    age_sign_ins(app, world, "D1a", 600)
    # Within max_age: no page, and the ID token says when the sign-in was.
    got = redirected(rp.authorize(max_age="3600"))
    claims = id_claims(rp, got["code"])
    assert 595 <= claims["iat"] - claims["auth_time"] <= 660
    # Older than max_age: the sign-in page, then a code with the new auth_time.
    r = rp.authorize(max_age="300")
    assert "reauth=1" in r.headers["Location"]
    got = redirected(sign_in_again(rp, r, rp_email(world)))
    fresh = id_claims(rp, got["code"])
    assert fresh["auth_time"] >= claims["auth_time"] + 595


def test_max_age_zero_is_prompt_login(app, world, portal):
    rp = rp_for(app, world, portal)
    r = rp.authorize(max_age="0")
    to_sign_in(r)
    assert "code" in redirected(sign_in_again(rp, r, rp_email(world)))


# --- prompt=none: never a page ------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["openid profile", "profile chain"])
def test_prompt_none_without_a_session_is_login_required(app, world, portal, scope):
    rp = rp_for(app, world, portal, None)
    got = redirected(rp.authorize(prompt="none", scope=scope))
    assert got["error"] == "login_required" and got["iss"] == ISSUER
    assert got["state"] == rp.last["state"] and "code" not in got


def test_prompt_none_with_a_session_answers_at_once(app, world, portal):
    rp = rp_for(app, world, portal)
    got = redirected(rp.authorize(prompt="none"))
    assert id_claims(rp, got["code"])["org_id"] == world.parties["D1a"].org_id


def test_prompt_none_for_a_person_not_covered_is_access_denied(app, world, portal):
    rp = rp_for(app, world, portal, "S1")
    got = redirected(rp.authorize(prompt="none"))
    assert got["error"] == "access_denied" and "code" not in got


def test_prompt_none_with_a_sign_in_older_than_max_age_is_login_required(app, world, portal):
    rp = rp_for(app, world, portal)
    age_sign_ins(app, world, "D1a", 600)
    got = redirected(rp.authorize(prompt="none", max_age="60"))
    assert got["error"] == "login_required" and "code" not in got


# --- the other values and bad requests --------------------------------------------------------


@pytest.mark.parametrize(
    "prompt", ["consent", "select_account", "consent select_account", "create", "bogus", ""]
)
def test_consent_select_account_and_unknown_values_go_on_without_a_page(app, world, portal, prompt):
    # The owner's grant is the consent; a browser session holds one account; values outside
    # Core's four are ignored (Core errata set 2 allows it).
    rp = rp_for(app, world, portal)
    assert "code" in redirected(rp.authorize(prompt=prompt))


@pytest.mark.parametrize("prompt", ["none login", "none consent", "select_account none"])
def test_prompt_none_with_another_value_is_invalid_request(app, world, portal, prompt):
    for person in ("D1a", None):
        rp = rp_for(app, world, portal, person)
        got = redirected(rp.authorize(prompt=prompt))
        assert got["error"] == "invalid_request" and got["iss"] == ISSUER
        assert got["state"] == rp.last["state"] and "code" not in got


@pytest.mark.parametrize("max_age", ["-1", "1.5", "abc", "12345678901", "１", " 5", "0x10"])
def test_a_bad_max_age_is_invalid_request_to_the_redirect(app, world, portal, max_age):
    rp = rp_for(app, world, portal)
    got = redirected(rp.authorize(max_age=max_age))
    assert got["error"] == "invalid_request" and "max_age" in got["error_description"]
    assert got["state"] == rp.last["state"] and got["iss"] == ISSUER


@pytest.mark.parametrize("name,value", [("prompt", "login"), ("max_age", "60")])
def test_a_repeated_prompt_or_max_age_is_invalid_request(app, world, portal, name, value):
    rp = rp_for(app, world, portal)
    params = list(rp.authorize_params().items()) + [(name, value), (name, value)]
    r = rp.web.get("/oauth/authorize?" + urlencode(params), allow_redirects=False)
    got = redirected(r)
    assert got["error"] == "invalid_request" and name in got["error_description"]


def test_an_empty_max_age_is_as_if_omitted(app, world, portal):
    rp = rp_for(app, world, portal)
    assert "code" in redirected(rp.authorize(max_age=""))


def test_an_unregistered_redirect_with_prompt_none_is_still_a_page(app, world, portal):
    rp = rp_for(app, world, portal, None)
    r = rp.authorize(prompt="none", redirect_uri="https://evil.example/")
    assert r.status_code == 400 and "Location" not in r.headers


# --- the sign-in page on re-authentication -----------------------------------------------------


@pytest.mark.parametrize(
    "target", ["https://evil.example/oauth/authorize", "//evil.example/x", "/\\evil.example"]
)
def test_the_sign_in_page_keeps_next_on_this_site(app, world, target):
    web = Web(app)
    web.login(world.parties["D1a"].email)
    page = web.get("/login?" + urlencode({"next": target, "reauth": "1"}))
    assert page.status_code == 200 and 'name="next" value="/home"' in page.text
    back = web.post(
        "/login",
        {"email": world.parties["D1a"].email, "password": PASSWORD, "next": target},
        allow_redirects=False,
    )
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).path == "/home"
    assert not urlsplit(back.headers["Location"]).netloc.endswith("evil.example")


def test_the_re_sign_in_page_speaks_chinese(app, world, portal):
    rp = rp_for(app, world, portal)
    r = rp.authorize(prompt="login")
    page = rp.web.get(r.headers["Location"], headers={"Accept-Language": "zh-CN"})
    assert "该应用要求您重新登录" in page.text


def test_a_wrong_password_on_re_authentication_issues_nothing(app, world, portal):
    rp = rp_for(app, world, portal)
    r = rp.authorize(prompt="login")
    nxt = to_sign_in(r)
    rp.web.get(r.headers["Location"])
    bad = rp.web.post(
        "/login",
        {"email": rp_email(world), "password": "wrong-password", "next": nxt},
        allow_redirects=False,
    )
    assert bad.status_code == 401 and 'name="password"' in bad.text
    # Still the old sign-in: the request waits for a new one.
    assert to_sign_in(rp.web.get(nxt, allow_redirects=False)) == nxt
