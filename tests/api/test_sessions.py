"""Sessions: sign-in tokens expire after SUPPLYCHAIN_SESSION_DAYS without use (sliding, renewed at
most once a day), API tokens when made with `expires_in_days`; an expired token is 401 everywhere."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from supplychain.auth import digest
from supplychain.extensions import db
from supplychain.models import ApiToken
from supplychain.models.base import utcnow
from tests.conftest import PASSWORD, bootstrap

DAY = timedelta(days=1)


def _token_row(app, secret: str) -> ApiToken:
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
        db.session.expunge_all()
        db.session.remove()
    assert token is not None
    return token


def _set_expiry(app, secret: str, expires_at: datetime | None) -> None:
    with app.app_context():
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == digest(secret))
            .values(expires_at=expires_at)
        )
        db.session.commit()
        db.session.remove()


def _login(api, email: str) -> str:
    r = api.post("/auth/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _close(moment: datetime | None, expected: datetime, slack: timedelta = timedelta(minutes=1)):
    return moment is not None and abs(moment - expected) < slack


def test_sign_in_tokens_expire_after_the_session_lifetime(app, api):
    owner = bootstrap(app, "boss@acme.example")
    token = _login(api, owner.email)
    assert _close(_token_row(app, token).expires_at, utcnow() + 30 * DAY)
    listed = api.get("/me/tokens", token=token).json()["items"]
    login = next(t for t in listed if t["kind"] == "login")
    assert login["expires_at"] is not None
    bootstrap_token = next(t for t in listed if t["kind"] == "api")
    assert bootstrap_token["expires_at"] is None
    # Bootstrap tokens, like every API token without `expires_in_days`, live until revoked.
    assert _token_row(app, owner.token).expires_at is None

    _set_expiry(app, token, utcnow() - timedelta(seconds=1))
    r = api.get("/me", token=token)
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid, expired or revoked token."
    # An expired token is no longer listed, nor revocable.
    listed = api.get("/me/tokens", token=owner.token).json()["items"]
    assert [t["kind"] for t in listed] == ["api"]


def test_an_expired_token_is_401_on_every_endpoint(app, world):
    api = world.api
    token = _login(api, world.parties["D1a"].email)
    assert api.get(world.path("/members"), token=token).status_code == 200
    _set_expiry(app, token, utcnow() - DAY)
    spec = api.get("/api/openapi.json").json()
    called = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if operation.get("security") == []:
                continue  # sign-in and activation take no token
            concrete = re.sub(r"\{cid\}", world.chain_id, path)
            concrete = re.sub(r"\{[^}]+\}", "1", concrete)
            r = api.request(method.upper(), concrete, token=token, json={})
            assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text[:200]}"
            if method == "get":
                assert api.request("HEAD", concrete, token=token).status_code == 401, path
            called += 1
    assert called > 40


def test_use_renews_a_sign_in_token_at_most_once_a_day(app, api, count_queries):
    owner = bootstrap(app, "boss@acme.example")
    token = _login(api, owner.email)
    fresh = _token_row(app, token).expires_at
    # Used within its first day: no write at all.
    with count_queries() as counter:
        assert api.get("/me", token=token).status_code == 200
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in counter.statements)
    assert _token_row(app, token).expires_at == fresh
    # Unused for two days (of thirty): the next use renews it to a full lifetime from now.
    _set_expiry(app, token, utcnow() + 28 * DAY)
    with count_queries() as counter:
        assert api.get("/me", token=token).status_code == 200
    updates = [s for s in counter.statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1
    assert _close(_token_row(app, token).expires_at, utcnow() + 30 * DAY)
    # A failed request still counts as use of a good token; the renewal is not rolled back.
    _set_expiry(app, token, utcnow() + 2 * DAY)
    assert api.get("/chains/999", token=token).status_code == 404
    assert _close(_token_row(app, token).expires_at, utcnow() + 30 * DAY)


def test_api_tokens_with_a_lifetime_expire_and_are_not_renewed(app, api):
    owner = bootstrap(app, "boss@acme.example")
    r = api.post("/me/tokens", {"name": "CI", "expires_in_days": 7}, token=owner.token)
    assert r.status_code == 201, r.text
    created = r.json()
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert _close(expires_at, utcnow() + 7 * DAY)
    assert api.get("/me", token=created["token"]).status_code == 200
    _set_expiry(app, created["token"], utcnow() + DAY)
    assert api.get("/me", token=created["token"]).status_code == 200
    assert _close(_token_row(app, created["token"]).expires_at, utcnow() + DAY)
    _set_expiry(app, created["token"], utcnow() - timedelta(seconds=1))
    assert api.get("/me", token=created["token"]).status_code == 401
    assert api.delete(f"/me/tokens/{created['id']}", token=owner.token).status_code == 404


@pytest.mark.parametrize("days", [0, -1, 3651, "7", 1.5, True, "seven"])
def test_token_lifetime_must_be_whole_days_in_range(app, api, days):
    owner = bootstrap(app, "boss@acme.example")
    r = api.post("/me/tokens", {"name": "CI", "expires_in_days": days}, token=owner.token)
    assert r.status_code == 422, r.text
    assert "expires_in_days" in r.json()["errors"]["json"]


def test_concurrent_uses_renew_without_errors(app, http_api):
    api = http_api  # threads need the real server (and real commits)
    """Many requests with a token due for renewal at once: every one answers; one expiry."""
    owner = bootstrap(app, "boss@acme.example")
    token = _login(api, owner.email)
    _set_expiry(app, token, utcnow() + 10 * DAY)

    def use(_: int) -> int:
        return api.get("/me", token=token).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(use, range(24)))
    assert statuses == [200] * 24
    assert _close(_token_row(app, token).expires_at, utcnow() + 30 * DAY)


# --- changing one's password ---------------------------------------------------------------------


def test_changing_the_password_revokes_every_other_token(app, api):
    owner = bootstrap(app, "boss@acme.example")
    calling = _login(api, owner.email)
    other_device = _login(api, owner.email)
    script = api.post("/me/tokens", {"name": "ERP"}, token=owner.token).json()["token"]
    stranger = bootstrap(app, "other@else.example", "Else Co")
    r = api.post(
        "/me/password",
        {"current_password": PASSWORD, "new_password": "a new long secret"},
        token=calling,
    )
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert api.get("/me", token=calling).status_code == 200
    for gone in (other_device, script, owner.token):
        assert api.get("/me", token=gone).status_code == 401
    assert api.get("/me", token=stranger.token).status_code == 200
    assert _login_status(api, owner.email, PASSWORD) == 401
    assert _login_status(api, owner.email, "a new long secret") == 200
    audit_actions = _audit_actions(app)
    assert "user.password_change" in audit_actions


def _login_status(api, email: str, password: str) -> int:
    return api.post("/auth/login", {"email": email, "password": password}).status_code


def _audit_actions(app) -> list[str]:
    from supplychain.models import AuditEvent

    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        db.session.remove()
    return list(actions)


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_sign_in(app, api):
    owner = bootstrap(app, "boss@acme.example")
    other = _login(api, owner.email)
    wrong = {"current_password": "not-it-at-all", "new_password": "a new long secret"}
    r = api.post("/me/password", wrong, token=owner.token)
    assert r.status_code == 422
    assert "current_password" in r.json()["errors"]
    assert api.get("/me", token=other).status_code == 200
    short = {"current_password": PASSWORD, "new_password": "short"}
    r = api.post("/me/password", short, token=owner.token)
    assert r.status_code == 422 and "new_password" in r.json()["errors"]
    for _ in range(9):
        assert api.post("/me/password", wrong, token=owner.token).status_code == 422
    # Ten failures for the email: even the right current password is refused for a while,
    # and so is signing in.
    right = {"current_password": PASSWORD, "new_password": "a new long secret"}
    locked = api.post("/me/password", right, token=owner.token)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert _login_status(api, owner.email, PASSWORD) == 429
    assert api.get("/me", token=other).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"current_password": PASSWORD},
        {"new_password": "a new long secret"},
        {"current_password": "", "new_password": "a new long secret"},
        {"current_password": PASSWORD, "new_password": "x" * 501},
        {"current_password": 12345678, "new_password": "a new long secret"},
    ],
)
def test_password_change_bad_input_is_422(app, api, body):
    owner = bootstrap(app, "boss@acme.example")
    r = api.post("/me/password", body, token=owner.token)
    assert r.status_code == 422, r.text
    assert api.get("/me", token=owner.token).status_code == 200
