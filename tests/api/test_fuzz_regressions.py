"""Regressions for what the schemathesis pass (tests/api/test_fuzz.py) and the probing beside it
turned up: 500s for odd but well-formed input, and gaps in the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from supplychain.api.common import IDEMPOTENCY_TTL
from supplychain.extensions import db
from supplychain.models import IdempotencyRecord
from supplychain.models.base import utcnow
from tests.conftest import Api, bootstrap

# Instants that exist as written but not in UTC: year 1 minus an hour, year 9999 plus one.
OUT_OF_UTC_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.fixture
def owner(app, api: Api):
    party = bootstrap(app, "fuzz-regressions@acme.example")
    chain = api.post("/chains", {"name": "Regressions"}, token=party.token)
    assert chain.status_code == 201, chain.text
    party.extra["chain_id"] = chain.json()["id"]
    return party


@pytest.fixture(scope="module")
def openapi(app) -> dict:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def dealer(api: Api, owner) -> str:
    """A D1 dealer of the owner's chain (linked, so orders and tier D1 exist)."""
    cid = owner.extra["chain_id"]
    member = api.post(
        f"/chains/{cid}/members",
        {"org": {"name": "Dealer", "kind": "dealer"}, "custom_id": "D-1"},
        token=owner.token,
    )
    assert member.status_code == 201, member.text
    org_id = member.json()["org_id"]
    link = {"supplier_id": owner.org_id, "customer_id": org_id}
    assert api.post(f"/chains/{cid}/links", link, token=owner.token).status_code == 201
    return org_id


@pytest.mark.parametrize("since", OUT_OF_UTC_RANGE)
def test_audit_since_beyond_utc_range_is_a_validation_error(api: Api, owner, since: str):
    r = api.get(
        f"/chains/{owner.extra['chain_id']}/audit", params={"since": since}, token=owner.token
    )
    assert r.status_code == 422, r.text
    assert "since" in r.json()["errors"]["query"]


def test_notice_ack_due_beyond_utc_range_is_a_validation_error(api: Api, owner):
    body = {
        "kind": "supply",
        "title": "Allocation",
        "items": [{"sku": "ST-1", "qty": "1"}],
        "audience": {"all": True},
        "requires_ack": True,
        "ack_due": OUT_OF_UTC_RANGE[1],
    }
    r = api.post(f"/chains/{owner.extra['chain_id']}/notices", body, token=owner.token)
    assert r.status_code == 422, r.text
    assert "ack_due" in r.json()["errors"]["json"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/chains", b'{"name": "Steel \\ud800"}'),
        ("/me/tokens", b'{"name": "\\udfff"}'),
        # The sign-in blueprint is not behind authentication, and parses bodies the same way.
        ("/auth/login", b'{"email": "a@b.example", "password": "pw\\ud83d"}'),
    ],
)
def test_lone_surrogate_escape_in_json_is_malformed_json(api: Api, owner, path: str, raw: bytes):
    headers = {"Content-Type": "application/json"}
    r = api.post(path, data=raw, headers=headers, token=owner.token)
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "Malformed JSON body."
    assert "json" in r.json()["errors"]


def test_escaped_surrogate_pair_is_still_fine(api: Api, owner):
    r = api.post(
        "/chains",
        data=b'{"name": "Steel \\ud83d\\ude9a"}',
        headers={"Content-Type": "application/json"},
        token=owner.token,
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Steel \U0001f69a"


@pytest.mark.parametrize("idempotency_key", [None, "deep-1"])
def test_deeply_nested_json_is_malformed_json(api: Api, owner, idempotency_key: str | None):
    headers = {"Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    raw = b"[" * 100_000 + b"]" * 100_000
    r = api.post("/chains", data=raw, headers=headers, token=owner.token)
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "Malformed JSON body."


def test_a_number_longer_than_python_converts_is_malformed_json(api: Api, owner):
    """json.loads raises a plain ValueError (not a JSONDecodeError) past 4 300 digits."""
    raw = b'{"name": "Long", "currency": ' + b"1" * 5000 + b"}"
    headers = {"Content-Type": "application/json"}
    r = api.post("/chains", data=raw, headers=headers, token=owner.token)
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "Malformed JSON body."


def test_order_ack_due_beyond_utc_range_is_a_validation_error(api: Api, owner, dealer):
    body = {
        "counterparty_id": dealer,
        "issuer_role": "seller",
        "ack_due": OUT_OF_UTC_RANGE[1],
        "lines": [{"line_no": 1, "sku": "CAR-1", "qty": "1", "unit_price": "9.90"}],
    }
    r = api.post(f"/chains/{owner.extra['chain_id']}/orders", body, token=owner.token)
    assert r.status_code == 422, r.text
    assert "ack_due" in r.json()["errors"]["json"]


def test_orders_up_to_the_last_representable_day(api: Api, owner):
    r = api.get(
        f"/chains/{owner.extra['chain_id']}/orders",
        params={"from": "0001-01-01", "to": "9999-12-31"},
        token=owner.token,
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "path",
    [
        # A run request is checked in the run's own sessions: they must see the chain.
        pytest.param("/reconciliation/runs", marks=pytest.mark.committed),
        "/reconciliation/statements/9999-W52",
    ],
)
def test_a_week_ending_after_year_9999_is_no_period(api: Api, owner, dealer, path: str):
    cid = owner.extra["chain_id"]
    if path.endswith("runs"):
        body = {"tier": "D1", "period": "9999-W52"}
        r = api.post(f"/chains/{cid}{path}", body, token=owner.token)
    else:
        r = api.get(f"/chains/{cid}{path}", params={"org_id": dealer}, token=owner.token)
    assert r.status_code == 422, r.text
    assert "period" in r.json()["errors"]


def test_graph_documents_both_media_types(openapi: dict):
    response = openapi["paths"]["/api/v1/chains/{cid}/graph"]["get"]["responses"]["200"]
    assert set(response["content"]) == {"application/json", "image/svg+xml"}
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Graph"
    }


def test_ids_are_documented_as_strings(openapi: dict):
    schemas = openapi["components"]["schemas"]
    for name, prop in [("Chain", "id"), ("Member", "org_id"), ("LinkCreate", "supplier_id")]:
        assert schemas[name]["properties"][prop]["type"] == "string", (name, prop)
    assert schemas["Contact"]["properties"]["activated"]["type"] == "boolean"


def test_idempotency_key_is_documented_on_creating_posts(openapi: dict):
    for path in ["/api/v1/chains", "/api/v1/chains/{cid}/members", "/api/v1/me/tokens"]:
        parameters = openapi["paths"][path]["post"].get("parameters", [])
        assert any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in parameters), path


@pytest.mark.committed
def test_idempotency_key_on_an_endpoint_with_its_own_transactions(api: Api, owner, dealer):
    """The key check used to delete expired keys before the view: on SQLite that held the
    request's write lock while a reconciliation run committed in sessions of its own, which
    then waited 30 s for "database is locked" and answered 500."""
    cid = owner.extra["chain_id"]
    body = {"tier": "D1", "period": "2026-01"}
    headers = {"Idempotency-Key": "run-d1-2026-01"}
    first = api.post(f"/chains/{cid}/reconciliation/runs", body, headers=headers, token=owner.token)
    # Without `Prefer: respond-async` the run is produced within the request: 201 (202 is only
    # for a run queued in the background).
    assert first.status_code == 201, first.text
    again = api.post(f"/chains/{cid}/reconciliation/runs", body, headers=headers, token=owner.token)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_expired_idempotency_key_can_be_used_again(app, api: Api, owner):
    """The key check no longer deletes expired keys up front: it reuses their row instead."""
    headers = {"Idempotency-Key": "chain-once"}
    first = api.post("/chains", {"name": "First"}, headers=headers, token=owner.token)
    assert first.status_code == 201, first.text
    assert (
        api.post("/chains", {"name": "Other"}, headers=headers, token=owner.token).status_code
        == 409
    )
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord).values(
                created_at=utcnow() - IDEMPOTENCY_TTL - timedelta(hours=1)
            )
        )
        db.session.commit()
    second = api.post("/chains", {"name": "Other"}, headers=headers, token=owner.token)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]
    replay = api.post("/chains", {"name": "Other"}, headers=headers, token=owner.token)
    assert replay.json() == second.json()
