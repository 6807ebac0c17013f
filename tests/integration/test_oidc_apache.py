"""A real relying party: Apache httpd with mod_auth_openidc in front of a legacy page. A D1
person reaches the page through our sign-in and sees their claims; when the grant is revoked,
the back-channel logout reaches Apache and the old Apache session no longer serves the page."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from supplychain.outbound.worker import Worker
from tests.api.oidc_helpers import grant
from tests.conftest import PASSWORD
from tests.rp.apache import Apache, available, cleanup, make_apache

pytestmark = pytest.mark.committed
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def apache() -> Iterator[Apache]:
    """One Apache for the session; each test points it at its own client (`configure`)."""
    why = available()
    if why:
        pytest.skip(why)
    found = make_apache(Path(tempfile.mkdtemp(prefix="supplychain-apache-")))
    try:
        yield found
    finally:
        cleanup(found)


@pytest.fixture
def provider(app, server, settings, monkeypatch) -> str:
    """The app over real HTTP, its issuer being that address (as SUPPLYCHAIN_BASE_URL says)."""
    monkeypatch.setitem(app.config, "BASE_URL", server)
    return server


def _client(world, apache: Apache) -> dict:
    body = {
        "key": "legacy",
        "name": "Dealer portal",
        "url": apache.base + "/app/",
        "redirect_uris": [apache.redirect_uri],
        "backchannel_logout_uri": apache.logout_uri,
    }
    r = world.api.post(world.path("/apps"), body, token=world.owner.token)
    assert r.status_code == 201, r.text
    return r.json()


def _sign_in_through_apache(apache: Apache, provider: str, email: str) -> requests.Session:
    browser = requests.Session()
    first = browser.get(apache.base + "/app/", allow_redirects=False, timeout=30)
    assert first.status_code == 302, apache.errors()
    assert first.headers["Location"].startswith(provider + "/oauth/authorize?")
    login = browser.get(first.headers["Location"], timeout=30)  # to our sign-in page
    assert urlsplit(login.url).path == "/login", login.url
    csrf = _CSRF.search(login.text).group(1)
    page = browser.post(
        login.url,
        data={"email": email, "password": PASSWORD, "csrf_token": csrf},
        timeout=30,
    )
    return browser, page


def test_a_d1_person_reaches_the_page_and_loses_it_when_the_grant_goes(
    app, world, apache, provider
):
    client = _client(world, apache)
    grant(world, "legacy", "tier", "D1")
    apache.configure(provider, client["client_id"], client["client_secret"])
    d1a = world.parties["D1a"]
    browser, page = _sign_in_through_apache(apache, provider, d1a.email)
    assert page.status_code == 200, (page.status_code, page.text[:500], apache.errors())
    assert page.url == apache.base + "/app/"
    assert '<dd id="org_name">Beijing Motors Sales</dd>' in page.text
    assert '<dd id="tier">D1</dd>' in page.text
    assert f'<dd id="org_id">{d1a.org_id}</dd>' in page.text
    assert f'<dd id="email">{d1a.email}</dd>' in page.text
    again = browser.get(apache.base + "/app/", allow_redirects=False, timeout=30)
    assert again.status_code == 200  # the Apache session serves the page

    # A partner not covered is refused by us, so Apache never gets a session.
    s1 = world.parties["S1"]
    _, refused = _sign_in_through_apache(apache, provider, s1.email)
    assert "Beijing" not in refused.text and '<dd id="org_name">' not in refused.text

    items = world.api.get(world.path("/grants"), token=world.owner.token).json()["items"]
    [g] = [g for g in items if g["app"] == "legacy"]
    assert world.api.delete(world.path(f"/grants/{g['id']}"), token=world.owner.token).ok
    Worker(app).run_once()
    from supplychain.extensions import db
    from supplychain.models import Delivery

    with app.app_context():
        sent = db.session.query(Delivery).filter_by(channel="logout").all()
        outcomes = [(d.status, d.last_status_code, d.last_error) for d in sent]
        db.session.remove()
    assert outcomes and all(o[0] == "succeeded" for o in outcomes), (outcomes, apache.errors())
    after = browser.get(apache.base + "/app/", allow_redirects=False, timeout=30)
    assert after.status_code == 302, after.text[:300]
    assert after.headers["Location"].startswith(provider + "/oauth/authorize?")


def test_an_app_asking_for_a_fresh_sign_in_gets_one_through_our_page(app, world, apache, provider):
    """Apache sends prompt=login and max_age: the person, signed in to the pages an hour ago, signs
    in again on our page and Apache sees the new auth_time."""
    client = _client(world, apache)
    grant(world, "legacy", "tier", "D1")
    apache.configure(
        provider,
        client["client_id"],
        client["client_secret"],
        'OIDCAuthRequestParams "prompt=login&max_age=600"',
    )
    d1a = world.parties["D1a"]
    browser = requests.Session()
    csrf = _CSRF.search(browser.get(provider + "/login", timeout=30).text).group(1)
    signed = browser.post(
        provider + "/login",
        data={"email": d1a.email, "password": PASSWORD, "csrf_token": csrf},
        timeout=30,
    )
    assert urlsplit(signed.url).path == "/home"
    from supplychain.extensions import db
    from supplychain.models import ApiToken

    with app.app_context():
        logins = db.session.query(ApiToken).filter_by(user_id=int(d1a.user_id), kind="login")
        for login in logins:
            login.created_at -= timedelta(hours=1)
        old = max(int(login.created_at.timestamp()) for login in logins)
        db.session.commit()
        db.session.remove()
    # Signed in, yet the sign-in page: the app asked for a fresh sign-in.
    again = browser.get(apache.base + "/app/", timeout=30)
    assert urlsplit(again.url).path == "/login" and "reauth=1" in again.url, again.url
    csrf = _CSRF.search(again.text).group(1)
    page = browser.post(
        again.url,
        data={"email": d1a.email, "password": PASSWORD, "csrf_token": csrf},
        timeout=30,
    )
    assert page.status_code == 200 and page.url == apache.base + "/app/", (
        page.url,
        page.text[:300],
        apache.errors(),
    )
    assert '<dd id="org_name">Beijing Motors Sales</dd>' in page.text
    auth_time = int(re.search(r'<dd id="auth_time">(\d+)</dd>', page.text).group(1))
    assert auth_time >= old + 3600 - 5
