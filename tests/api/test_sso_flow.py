"""Company sign-in against a real OpenID Connect provider: panva's oidc-provider (tests/idp) run
by node on a free loopback port, the app on its loopback HTTP server, and a `requests` session
playing the person's browser through both (the IdP's development login form takes any login).

One IdP process serves the whole test session; each test connects the owner org of a fresh world
to it through the API, as an org admin would."""

from __future__ import annotations

import html
import re

import pytest
import requests

from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH
from tests.conftest import PASSWORD
from tests.idp.provider import CLIENT_ID, CLIENT_SECRET, Idp, idp_login, idp_logout

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')


@pytest.fixture
def idp(company_idp: Idp) -> Idp:
    return company_idp


@pytest.fixture
def company(app, monkeypatch, live_world, idp: Idp):
    """The owner org (Acme, acme.example) connected to the IdP by its admin."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "BASE_URL", live_world.api.base)
    idp.set_claims({})
    connect(live_world, idp)
    return live_world


def connect(world, idp: Idp, **settings):
    body = {
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "email_domains": ["acme.example"],
        **settings,
    }
    r = world.api.put(f"/orgs/{world.owner.org_id}/sso", body, token=world.owner.token)
    assert r.status_code == 200, r.text
    return r.json()


def browser() -> requests.Session:
    http = requests.Session()
    http.headers["Accept-Language"] = "en"
    return http


def page_sign_in(world, http: requests.Session, login: str, email: str | None = None):
    """The sign-in page's company button, the email, the IdP's login form, back to the app."""
    base = world.api.base
    form = http.get(base + "/login/company", timeout=30)
    assert form.status_code == 200
    csrf = _CSRF.search(form.text).group(1)
    moving_on = http.post(
        base + "/login/company",
        data={"csrf_token": csrf, "email": email or login, "next": "/account"},
        timeout=30,
    )
    assert moving_on.status_code == 200, moving_on.text[:500]
    # The page moves on by itself (meta refresh) to the IdP; a browser without one follows it.
    target = html.unescape(_REFRESH.search(moving_on.text).group(1))
    at_idp = http.get(target, timeout=30)
    return idp_login(http, at_idp, login)


def signed_in_as(world, http: requests.Session) -> str | None:
    """The email of the page session's person, or None when not signed in."""
    page = http.get(world.api.base + "/account", allow_redirects=False, timeout=30)
    if page.status_code != 200:
        return None
    found = re.search(r"<dt>Email</dt><dd>([^<]*)</dd>", page.text)
    return found.group(1) if found else ""


def script_sign_in(world, login: str, email: str | None = None) -> requests.Response:
    """GET /auth/sso/start as a script does: follow the 302, log in at the IdP, read JSON."""
    http = browser()
    at_idp = http.get(
        world.api.base + "/api/v1/auth/sso/start", params={"email": email or login}, timeout=30
    )
    return idp_login(http, at_idp, login)


def test_the_settings_answer_without_the_secret_and_with_the_addresses(company, idp):
    r = company.api.get(f"/orgs/{company.owner.org_id}/sso", token=company.owner.token)
    assert r.status_code == 200
    body = r.json()
    assert "client_secret" not in r.text and CLIENT_SECRET not in r.text
    assert body["issuer"] == idp.issuer
    assert body["redirect_uri"] == company.api.base + CALLBACK_PATH
    assert body["backchannel_logout_uri"] == company.api.base + BACKCHANNEL_LOGOUT_PATH
    assert body["email_domains"] == ["acme.example"]


def test_first_sign_in_links_the_existing_user_then_the_link_decides(company, idp):
    http = browser()
    landed = page_sign_in(company, http, "staff@acme.example")
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url == company.api.base + "/account"
    assert signed_in_as(company, http) == "staff@acme.example"
    # Later the IdP says another email for the same subject: the link, not the email, decides.
    idp.set_claims({"staff@acme.example": {"email": "admin@acme.example"}})
    again = script_sign_in(company, "staff@acme.example")
    assert again.status_code == 200, again.text[:500]
    assert again.json()["user"]["email"] == "staff@acme.example"
    me = company.api.get("/me", token=again.json()["token"])
    assert me.json()["user"]["id"] == company.owner_staff.user_id


def test_an_unknown_email_is_refused_without_create_users(company):
    http = browser()
    landed = page_sign_in(company, http, "newcomer@acme.example")
    assert landed.status_code == 403
    assert "No one with this email is registered" in landed.text
    assert signed_in_as(company, http) is None
    members = company.api.get(
        f"/chains/{company.chain_id}/contacts", params={"q": "newcomer"}, token=company.owner.token
    )
    assert members.json()["total"] == 0


def test_create_users_makes_a_staff_user_of_the_connected_org_only(company, idp, app):
    connect(company, idp, create_users=True)
    answer = script_sign_in(company, "newcomer@acme.example")
    assert answer.status_code == 200, answer.text[:500]
    user = answer.json()["user"]
    assert (user["email"], user["role"], user["org_id"]) == (
        "newcomer@acme.example",
        "staff",
        company.owner.org_id,
    )
    assert company.api.get("/me", token=answer.json()["token"]).status_code == 200
    # A person of another org, whose email happens to be of the domain: never taken over, never
    # made again in the connected org.
    member = company.api.post(
        f"/chains/{company.chain_id}/members/{company.parties['D1a'].org_id}/contacts",
        {"name": "Contractor", "email": "contractor@acme.example"},
        token=company.owner.token,
    )
    assert member.status_code == 201, member.text
    refused = script_sign_in(company, "contractor@acme.example")
    assert refused.status_code == 403
    assert "another organisation" in refused.json()["message"]
    # An IdP account that claims another org's email (another domain) is refused too.
    idp.set_claims({"mallory@acme.example": {"email": "d1a@bj.example"}})
    refused = script_sign_in(company, "mallory@acme.example")
    assert refused.status_code == 403


def test_an_unverified_email_is_refused(company, idp):
    idp.set_claims({"staff@acme.example": {"email_verified": False}})
    http = browser()
    landed = page_sign_in(company, http, "staff@acme.example")
    assert landed.status_code == 403
    assert "not verified" in landed.text
    assert signed_in_as(company, http) is None


def test_the_refusal_page_speaks_chinese(company, idp):
    idp.set_claims({"staff@acme.example": {"email_verified": False}})
    http = browser()
    http.headers["Accept-Language"] = "zh-CN"
    landed = page_sign_in(company, http, "staff@acme.example")
    assert landed.status_code == 403
    assert "公司账号" in landed.text


def test_required_switches_passwords_off_but_not_api_tokens(company, idp):
    before = company.api.post("/auth/login", {"email": "staff@acme.example", "password": PASSWORD})
    assert before.status_code == 200
    connect(company, idp, required=True)
    refused = company.api.post("/auth/login", {"email": "staff@acme.example", "password": PASSWORD})
    assert refused.status_code == 403
    assert idp.issuer in refused.json()["message"]
    assert company.api.get("/me", token=company.owner_staff.token).status_code == 200
    # The page's password form says the same; the company account still signs in.
    page = browser()
    form = page.get(company.api.base + "/login", timeout=30)
    csrf = _CSRF.search(form.text).group(1)
    answer = page.post(
        company.api.base + "/login",
        data={"csrf_token": csrf, "email": "staff@acme.example", "password": PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 403 and "company account" in answer.text
    assert page_sign_in(company, page, "staff@acme.example").status_code == 200
    # Another org's people keep their passwords.
    other = company.api.post("/auth/login", {"email": "d1a@bj.example", "password": PASSWORD})
    assert other.status_code == 200


def test_back_channel_logout_from_the_idp_ends_the_session_here(company, idp):
    http = browser()
    assert page_sign_in(company, http, "staff@acme.example").status_code == 200
    assert signed_in_as(company, http) == "staff@acme.example"
    password_token = company.owner_staff.token  # signed in with a password: not the IdP's session
    idp_logout(http, idp.issuer)
    assert signed_in_as(company, http) is None, idp.log
    assert company.api.get("/me", token=password_token).status_code == 200


def test_delete_switches_company_sign_in_off(company, idp):
    connect(company, idp, required=True)
    r = company.api.delete(f"/orgs/{company.owner.org_id}/sso", token=company.owner.token)
    assert r.status_code == 204
    assert (
        company.api.get(f"/orgs/{company.owner.org_id}/sso", token=company.owner.token).status_code
        == 404
    )
    start = company.api.get(
        "/auth/sso/start", params={"email": "staff@acme.example"}, allow_redirects=False
    )
    assert start.status_code == 422 and "email" in start.json()["errors"]
    back = company.api.post("/auth/login", {"email": "staff@acme.example", "password": PASSWORD})
    assert back.status_code == 200
