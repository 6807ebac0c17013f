"""An app's `prompt=login` / `max_age` for a person whose org signs in with its company IdP: the
IdP is asked to authenticate them again (`prompt=login`, `max_age`), and its ID token's
`auth_time` must show it did, or nothing is signed in. Against the real provider of the SSO tests
(panva's oidc-provider, tests/idp, one node process per test session), which records the
authorization requests it gets and can be told to behave like an IdP that reuses its session.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import func, select

from supplychain.extensions import db
from supplychain.models import ApiToken
from tests.api.oidc_helpers import REDIRECT, Rp, query, shared_portal
from tests.api.test_sso_flow import connect, page_sign_in, signed_in_as
from tests.idp.provider import Idp, idp_login
from tests.ui.conftest import Web

STAFF = "staff@acme.example"
HOUR = 3600
_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')
_COMPANY_LINK = re.compile(r'href="(/login/company\?next=[^"]+)"')
AGAIN = re.compile("asks you to sign in again|要求您重新登录")
NOT_AGAIN = "did not confirm that you just did: nothing was signed in"


@pytest.fixture
def idp(company_idp: Idp):
    company_idp.set_claims({})
    company_idp.behave()
    company_idp.forget_requests()
    yield company_idp
    company_idp.behave()  # a conforming provider for whoever uses it next


@pytest.fixture
def company(app, monkeypatch, live_world, idp: Idp):
    """The owner org (acme.example) signs in with the IdP only; its app "portal" is a client."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "BASE_URL", live_world.api.base)
    connect(live_world, idp, required=True)
    return live_world


@pytest.fixture
def rp(company) -> Rp:
    """The portal, and the browser of the owner's staff member, signed in through the IdP."""
    portal = shared_portal(company)
    web = Web(company.api.base)
    web.transport.http.headers["Accept-Language"] = "en"
    assert page_sign_in(company, web.transport.http, STAFF).status_code == 200
    assert signed_in_as(company, web.transport.http) == STAFF
    return Rp(web, portal["client_id"], portal["client_secret"])


def walk(http: requests.Session, answer: requests.Response) -> requests.Response:
    """Follow redirects by hand, stopping at the app's redirect URI (never fetched)."""
    for _ in range(10):
        location = answer.headers.get("Location")
        if answer.status_code not in (301, 302, 303) or location is None:
            return answer
        if location.startswith(REDIRECT):
            return answer
        answer = http.get(urljoin(answer.url, location), allow_redirects=False, timeout=30)
    raise AssertionError("too many redirects")


def to_company_sign_in(rp: Rp, answer) -> requests.Response:
    """From an authorization sent to the sign-in page: its company button, the email, the page
    that moves on to the IdP, and the IdP's first answer."""
    assert answer.status_code == 302 and "/login?" in answer.headers["Location"], answer.text
    page = rp.web.get(answer.headers["Location"])
    assert AGAIN.search(page.text), page.text[:300]
    form = rp.web.get(html.unescape(_COMPANY_LINK.search(page.text).group(1)))
    assert AGAIN.search(form.text), form.text[:300]
    nxt = re.search(r'action="/login/company".*?name="next" value="([^"]+)"', form.text, re.S)
    assert nxt, form.text[:500]
    nxt = nxt.group(1)
    moving_on = rp.web.post("/login/company", {"email": STAFF, "next": html.unescape(nxt)})
    assert moving_on.status_code == 200, moving_on.text[:500]
    target = html.unescape(_REFRESH.search(moving_on.text).group(1))
    return rp.web.transport.http.get(target, timeout=30)


def signed_in_from_idp_session(world, http: requests.Session) -> requests.Response:
    """The company sign-in from its own page (no app waiting), which the IdP answers from its
    live session without a form; where the person lands."""
    form = http.get(world.api.base + "/login/company", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    moving_on = http.post(
        world.api.base + "/login/company", data={"csrf_token": csrf, "email": STAFF}, timeout=30
    )
    return http.get(html.unescape(_REFRESH.search(moving_on.text).group(1)), timeout=30)


def id_claims(rp: Rp, answer) -> dict:
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT), (
        answer.status_code,
        answer.headers.get("Location"),
        answer.text[:500],
    )
    got = query(answer.headers["Location"])
    assert got["state"] == rp.last["state"]
    tokens = rp.exchange(got["code"])
    assert tokens.status_code == 200, tokens.text
    return rp.id_token_claims(tokens.json()["id_token"])


def login_tokens(app, world) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.user_id == int(world.owner_staff.user_id), ApiToken.kind == "login")
        )


def test_prompt_login_makes_the_idp_authenticate_again_and_the_code_says_when(rp, idp):
    # The plain company sign-in asked the IdP for nothing more.
    plain = idp.requests()[-1]
    assert "prompt" not in plain and "max_age" not in plain
    before = id_claims(rp, rp.authorize())
    idp.forget_requests()
    asked = int(time.time())
    at_idp = to_company_sign_in(rp, rp.authorize(prompt="login"))
    # The IdP got prompt=login and shows its login form although its session is live.
    assert [r.get("prompt") for r in idp.requests()] == ["login"]
    assert "max_age" not in idp.requests()[0]
    back = walk(rp.web.transport.http, idp_login(rp.web.transport.http, at_idp, STAFF, False))
    after = id_claims(rp, back)
    assert after["auth_time"] >= asked >= before["auth_time"]
    assert after["auth_time"] <= int(time.time())
    assert after["sub"] == before["sub"] and after["sid"] != before["sid"]


def test_max_age_goes_to_the_idp_and_its_auth_time_is_the_one_that_counts(rp, idp, company):
    # The IdP's session is an hour old when the person signs in here through it again (and the
    # IdP says so, as Keycloak does unasked): the code's auth_time is the IdP's, not this
    # sign-in's.
    idp.behave(reuse_session="honest", session_age=HOUR)
    http = rp.web.transport.http
    landed = signed_in_from_idp_session(company, http)
    assert landed.status_code == 200 and landed.url.endswith("/home"), landed.text[:300]
    idp.behave()
    old = id_claims(rp, rp.authorize())
    assert old["auth_time"] <= int(time.time()) - HOUR + 60
    # max_age=600 against that hour-old authentication: a fresh one at the IdP, with max_age.
    idp.forget_requests()
    asked = int(time.time())
    at_idp = to_company_sign_in(rp, rp.authorize(max_age="600"))
    assert [(r.get("prompt"), r.get("max_age")) for r in idp.requests()] == [("login", "600")]
    fresh = id_claims(rp, walk(http, idp_login(http, at_idp, STAFF, False)))
    assert fresh["auth_time"] >= asked
    # Within max_age now: no sign-in again, the same auth_time.
    again = id_claims(rp, rp.authorize(max_age="600"))
    assert again["auth_time"] == fresh["auth_time"]


@pytest.mark.parametrize(
    ("behaviour", "language", "says"),
    [
        ({"reuse_session": "silent"}, "en", NOT_AGAIN),
        ({"reuse_session": "honest", "session_age": HOUR}, "zh-CN", "未能确认您刚刚重新登录过"),
    ],
    ids=["auth_time missing", "auth_time stale"],
)
def test_an_idp_that_reuses_its_session_signs_no_one_in(rp, idp, app, company, behaviour,
                                                        language, says):  # fmt: skip
    http = rp.web.transport.http
    http.headers["Accept-Language"] = language
    tokens_before = login_tokens(app, company)
    idp.behave(**behaviour)
    idp.forget_requests()
    waiting = rp.authorize(prompt="login")
    nxt = query(waiting.headers["Location"])["next"]
    # The IdP was asked for prompt=login, and answers from its session at once (no form).
    at_idp = to_company_sign_in(rp, waiting)
    assert [r.get("prompt") for r in idp.requests()] == ["login"]
    assert 'name="login"' not in at_idp.text
    assert at_idp.status_code == 403, at_idp.text[:500]
    assert says in at_idp.text
    # Nothing was signed in: no new sign-in here, and the app's request still waits for one.
    assert login_tokens(app, company) == tokens_before
    http.headers["Accept-Language"] = "en"
    assert signed_in_as(company, http) == STAFF  # the earlier session, as it was
    again = rp.web.get(nxt, allow_redirects=False)
    assert again.status_code == 302 and "/login?" in again.headers["Location"]


def test_a_company_sign_in_started_elsewhere_does_not_answer_the_app(rp, idp, company):
    """The app's request sent the person to sign in again; they sign in through the company
    button of another page instead, where the IdP is asked for nothing and reuses its session:
    the app's request does not take that sign-in for a fresh one."""
    http = rp.web.transport.http
    waiting = rp.authorize(prompt="login")
    nxt = query(waiting.headers["Location"])["next"]
    idp.behave(reuse_session="honest", session_age=HOUR)
    landed = signed_in_from_idp_session(company, http)
    assert landed.status_code == 200 and landed.url.endswith("/home"), landed.text[:300]
    assert "prompt" not in idp.requests()[-1]
    again = rp.web.get(nxt, allow_redirects=False)
    assert again.status_code == 302 and "/login?" in again.headers["Location"]
    assert "reauth=1" in again.headers["Location"]


def test_after_an_idp_that_said_no_auth_time_any_max_age_asks_again(rp, idp):
    """oidc-provider says no auth_time unasked: when the person authenticated is unknown, so a
    plain request goes on (with the sign-in's time) and any max_age goes through the IdP."""
    assert {"prompt", "max_age"}.isdisjoint(idp.requests()[-1])  # the plain sign-in asked neither
    plain = id_claims(rp, rp.authorize())
    assert plain["auth_time"] >= int(time.time()) - 60
    waiting = rp.authorize(max_age="86400")
    assert waiting.status_code == 302 and "reauth=1" in waiting.headers["Location"]
    at_idp = to_company_sign_in(rp, waiting)
    assert [(r.get("prompt"), r.get("max_age")) for r in idp.requests()[-1:]] == [
        ("login", "86400")
    ]
    http = rp.web.transport.http
    fresh = id_claims(rp, walk(http, idp_login(http, at_idp, STAFF, False)))
    assert fresh["auth_time"] >= plain["auth_time"]
    # Known now, and within max_age: no sign-in again.
    assert id_claims(rp, rp.authorize(max_age="86400"))["auth_time"] == fresh["auth_time"]
