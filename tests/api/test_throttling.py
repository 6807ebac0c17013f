"""Sign-in throttling: 10 failures per email or 50 per client address in 15 minutes, then 429 with
Retry-After (the right password too) until the window lets one more in; counted in the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supplychain import config as settings
from supplychain.app import create_app
from supplychain.extensions import db
from supplychain.models import SignInAttempt
from supplychain.services.throttling import address_key, email_key
from tests.conftest import PASSWORD, bootstrap

WRONG = "not-the-password"
LOCAL = "127.0.0.1"


def _attempts(app, key: str | None = None) -> int:
    with app.app_context():
        stmt = select(func.count()).select_from(SignInAttempt)
        if key is not None:
            stmt = stmt.where(SignInAttempt.key_hash == key)
        count = db.session.scalar(stmt)
        db.session.remove()
    return count or 0


def _age_attempts(app, by: timedelta) -> None:
    """Move every counted attempt `by` into the past, as if that much time had gone by."""
    with app.app_context():
        for attempt in db.session.scalars(select(SignInAttempt)):
            attempt.attempted_at -= by
        db.session.commit()
        db.session.remove()


def _login(api, email: str, password: str = WRONG, **kw):
    return api.post("/auth/login", {"email": email, "password": password}, **kw)


def test_ten_failures_for_one_email_lock_it_even_for_the_right_password(app, api):
    bootstrap(app, "boss@acme.example")
    for i in range(10):
        # The same email however it is typed.
        email = ["boss@acme.example", " Boss@ACME.example "][i % 2]
        assert _login(api, email).status_code == 401
    # The failures were kept although each request failed (and rolled back its transaction).
    assert _attempts(app, email_key("boss@acme.example")) == 10
    locked = _login(api, "boss@acme.example", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == 429 and locked.json()["status"] == "Too Many Requests"
    assert "try again in 15 minutes" in locked.json()["message"]
    assert 890 <= int(locked.headers["Retry-After"]) <= 900
    # A 429 is no failure: it does not keep the lock going.
    assert _attempts(app, email_key("boss@acme.example")) == 10
    # Another email from the same address is not locked.
    bootstrap(app, "other@acme.example", "Other Co")
    assert _login(api, "other@acme.example", PASSWORD).status_code == 200
    # Once the oldest failure leaves the window, one more attempt is let in.
    _age_attempts(app, timedelta(minutes=15, seconds=1))
    assert _login(api, "boss@acme.example", PASSWORD).status_code == 200


def test_retry_after_counts_from_the_oldest_failure_in_the_window(app, api):
    bootstrap(app, "boss@acme.example")
    for _ in range(10):
        assert _login(api, "boss@acme.example").status_code == 401
    _age_attempts(app, timedelta(minutes=10))
    locked = _login(api, "boss@acme.example", PASSWORD)
    assert locked.status_code == 429
    assert 290 <= int(locked.headers["Retry-After"]) <= 300
    assert "try again in 5 minutes" in locked.json()["message"]


def test_unknown_emails_count_like_known_ones(app, api):
    for _ in range(10):
        assert _login(api, "ghost@acme.example").status_code == 401
    assert _login(api, "ghost@acme.example").status_code == 429


def test_a_success_forgives_only_itself(app, api):
    bootstrap(app, "boss@acme.example")
    for _ in range(9):
        assert _login(api, "boss@acme.example").status_code == 401
    assert _login(api, "boss@acme.example", PASSWORD).status_code == 200
    # The nine failures still count: one more locks the email.
    assert _attempts(app, email_key("boss@acme.example")) == 9
    assert _login(api, "boss@acme.example").status_code == 401
    assert _login(api, "boss@acme.example", PASSWORD).status_code == 429


def test_a_flood_of_distinct_emails_from_one_address_is_stopped_at_fifty(app, api):
    bootstrap(app, "boss@acme.example")
    for i in range(50):
        assert _login(api, f"guess{i}@acme.example").status_code == 401
    assert _attempts(app, address_key(LOCAL)) == 50
    locked = _login(api, "boss@acme.example", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # Activation counts against the same address.
    assert api.post("/auth/activate", {"invite_code": "X", "password": PASSWORD}).status_code == 429


def test_a_forged_forwarded_for_changes_nothing_without_a_trusted_proxy(app, api):
    bootstrap(app, "boss@acme.example")
    for i in range(50):
        forged = {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"}
        assert _login(api, f"guess{i}@acme.example", headers=forged).status_code == 401
    assert _attempts(app, address_key(LOCAL)) == 50
    assert _attempts(app, address_key("198.51.100.1")) == 0
    fresh = {"X-Forwarded-For": "203.0.113.9"}
    assert _login(api, "boss@acme.example", PASSWORD, headers=fresh).status_code == 429


def test_unknown_invite_codes_count_against_the_address(world):
    api = world.api
    added = api.post(
        world.path(f"/members/{world.parties['D1a'].org_id}/contacts"),
        {"name": "Li Wei", "email": "li.wei@bj.example"},
        token=world.owner.token,
    ).json()
    for i in range(50):
        guess = {"invite_code": f"AAAA-BBBB-CCCC-{i:04d}", "password": PASSWORD}
        assert api.post("/auth/activate", guess).status_code == 404
    good = {"invite_code": added["invite_code"], "password": PASSWORD}
    locked = api.post("/auth/activate", good)
    assert locked.status_code == 429 and "Retry-After" in locked.headers


def test_odd_and_very_long_emails_cost_one_short_key(app, api):
    long_email = "a" * 176 + "@" + "b" * 15 + ".example"  # 200 characters, the field's limit
    odd = ["ÄÖÜ@例子.测试", long_email, "'; DROP TABLE users; --@x.example", "a@b", "  @  "]
    for email in odd:
        assert _login(api, email).status_code == 401, email
    with app.app_context():
        keys = db.session.scalars(select(SignInAttempt.key_hash)).all()
        db.session.remove()
    assert {len(key) for key in keys} == {64}
    assert email_key(long_email) in keys and email_key("äöü@例子.测试") in keys
    # Refused before any password is checked, and not counted: bad input is no attempt.
    before = _attempts(app)
    for bad in ["a" * 201 + "@x.example", "nul\x00@x.example", ""]:
        assert _login(api, bad).status_code == 422
    assert _attempts(app) == before


def test_concurrent_failures_lose_no_count_and_slip_past_no_limit(app, http_api):
    api = http_api  # threads need the real server (and real commits)
    bootstrap(app, "boss@acme.example")
    with ThreadPoolExecutor(max_workers=10) as pool:
        first = list(pool.map(lambda i: _login(api, f"guess{i}@acme.example"), range(20)))
    assert [r.status_code for r in first] == [401] * 20
    assert _attempts(app, address_key(LOCAL)) == 20
    with ThreadPoolExecutor(max_workers=10) as pool:
        same = list(pool.map(lambda _: _login(api, "boss@acme.example"), range(20)))
    statuses = sorted(r.status_code for r in same)
    # Exactly ten failures counted for the email, whatever the interleaving; the rest refused.
    assert statuses == [401] * 10 + [429] * 10
    assert _attempts(app, email_key("boss@acme.example")) == 10
    with ThreadPoolExecutor(max_workers=10) as pool:
        more = list(pool.map(lambda i: _login(api, f"more{i}@acme.example"), range(30)))
    assert sorted(r.status_code for r in more) == [401] * 20 + [429] * 10
    assert _attempts(app, address_key(LOCAL)) == 50


def test_expired_attempts_are_cleaned(app, api):
    for i in range(30):
        assert _login(api, f"guess{i}@acme.example").status_code == 401
    assert _attempts(app) == 60
    _age_attempts(app, timedelta(minutes=16))
    assert _login(api, "late@acme.example").status_code == 401
    assert _attempts(app) == 2


# --- behind a trusted proxy: X-Forwarded-For names the client ----------------------------------


@pytest.fixture
def proxied(database_url, tmp_path, app):
    """The app as deployed behind one reverse proxy, on the same database (Flask test client)."""
    config = settings.TestConfig(database_url, str(tmp_path))
    config.TRUSTED_PROXIES = 1
    behind_proxy = create_app(config)
    yield behind_proxy.test_client()
    with behind_proxy.app_context():
        db.engine.dispose()


def _proxied_login(client, email: str, forwarded_for: str, password: str = WRONG):
    return client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_behind_a_trusted_proxy_each_client_address_counts_alone(app, proxied):
    bootstrap(app, "boss@acme.example")
    for i in range(49):
        assert _proxied_login(proxied, f"guess{i}@x.example", "203.0.113.7").status_code == 401
    # Another client signs in: that resets nothing of the first one's count.
    ok = _proxied_login(proxied, "boss@acme.example", "198.51.100.20", PASSWORD)
    assert ok.status_code == 200
    assert _attempts(app, address_key("203.0.113.7")) == 49
    assert _proxied_login(proxied, "last@x.example", "203.0.113.7").status_code == 401
    locked = _proxied_login(proxied, "boss@acme.example", "203.0.113.7", PASSWORD)
    assert locked.status_code == 429
    # A value the client put in front of the proxy's is no escape: the proxy's own (last) counts.
    forged = _proxied_login(proxied, "boss@acme.example", "192.0.2.1, 203.0.113.7", PASSWORD)
    assert forged.status_code == 429
    assert (
        _proxied_login(proxied, "boss@acme.example", "198.51.100.20", PASSWORD).status_code == 200
    )
    # The peer itself (the proxy) was never counted.
    assert _attempts(app, address_key(LOCAL)) == 0


def test_ipv6_clients_count_by_their_64_network(app, proxied):
    for i in range(50):
        address = f"2001:db8:1:2::{i + 1:x}"
        assert _proxied_login(proxied, f"guess{i}@x.example", address).status_code == 401
    assert _proxied_login(proxied, "x@x.example", "2001:db8:1:2:ffff::1").status_code == 429
    assert _proxied_login(proxied, "x@x.example", "2001:db8:1:3::1").status_code == 401
