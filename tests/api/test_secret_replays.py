"""Secrets shown once stay shown once under `Idempotency-Key`: a replay of the create answers
the same object with the secret null, and the secret is never stored for replays."""

from __future__ import annotations

from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import IdempotencyRecord
from tests.api.test_webhooks import PUBLIC_URL


def _stored_answers(app) -> list[str]:
    with app.app_context():
        bodies = list(db.session.scalars(select(IdempotencyRecord.response_body)))
        db.session.remove()
    return bodies


def test_webhook_secret_is_not_replayed_nor_kept(world, app):
    headers = {"Idempotency-Key": "hook-secret"}
    body = {"url": PUBLIC_URL, "events": ["*"], "description": "ERP"}
    first = world.api.post(world.path("/webhooks"), body, token=world.owner.token, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    for _ in range(2):
        again = world.api.post(
            world.path("/webhooks"), body, token=world.owner.token, headers=headers
        )
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["secret"] is None
        assert again.json() == first.json() | {"secret": None}
    assert world.api.get(world.path("/webhooks"), token=world.owner.token).json()["total"] == 1
    stored = _stored_answers(app)
    assert stored and not any(secret in answer for answer in stored)
    assert not any(secret.removeprefix("whsec_") in answer for answer in stored)


def test_api_token_is_not_replayed_nor_kept(world, app):
    headers = {"Idempotency-Key": "token-secret"}
    first = world.api.post(
        "/me/tokens", {"name": "ERP sync"}, token=world.owner.token, headers=headers
    )
    assert first.status_code == 201, first.text
    token = first.json()["token"]
    again = world.api.post(
        "/me/tokens", {"name": "ERP sync"}, token=world.owner.token, headers=headers
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() | {"token": None}
    assert not any(token in answer for answer in _stored_answers(app))
    # The one token created works; the replay made no second one.
    assert world.api.get("/me", token=token).status_code == 200
    names = [t["name"] for t in world.api.get("/me/tokens", token=token).json()["items"]]
    assert names.count("ERP sync") == 1


def test_the_openapi_document_says_replays_omit_the_secret(world):
    spec = world.api.get("/api/openapi.json").json()
    for path, field in (("/chains/{cid}/webhooks", "secret"), ("/me/tokens", "token")):
        parameters = spec["paths"][f"/api/v1{path}"]["post"]["parameters"]
        key = next(p for p in parameters if p["name"] == "Idempotency-Key")
        assert f"`{field}` as null" in key["description"], path


def test_a_password_reset_answer_carries_no_token_to_replay(world, app):
    headers = {"Idempotency-Key": "reset-1"}
    r = world.api.post(
        "/auth/password-reset", {"email": world.owner.email}, token=None, headers=headers
    )
    assert r.status_code == 202
    assert "token" not in r.text
    assert _stored_answers(app) == []
