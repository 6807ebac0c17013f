"""Idempotency-Key on creating POSTs: replay, conflict, per-user scope."""

import threading

from tests.conftest import Api


def _member(custom_id="DLR-777", name="Xi'an Motors"):
    return {"org": {"name": name, "kind": "dealer"}, "custom_id": custom_id}


def test_same_key_same_body_replays(world):
    api, t = world.api, world.owner.token
    headers = {"Idempotency-Key": "add-xian-1"}
    first = api.post(world.path("/members"), _member(), token=t, headers=headers)
    assert first.status_code == 201
    again = api.post(world.path("/members"), _member(), token=t, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert api.get(world.path("/members?q=xi'an"), token=t).json()["total"] == 1


def test_same_key_different_body_conflicts(world):
    api, t = world.api, world.owner.token
    headers = {"Idempotency-Key": "k-1"}
    assert api.post(world.path("/members"), _member(), token=t, headers=headers).status_code == 201
    r = api.post(world.path("/members"), _member("DLR-778", "Other"), token=t, headers=headers)
    assert r.status_code == 409
    assert api.get(world.path("/members?q=other"), token=t).json()["total"] == 0


def test_failed_request_does_not_burn_the_key(world):
    api, t = world.api, world.owner.token
    headers = {"Idempotency-Key": "k-2"}
    bad = api.post(world.path("/members"), _member("DLR-001"), token=t, headers=headers)
    assert bad.status_code == 409  # custom id taken
    fixed = api.post(world.path("/members"), _member("DLR-001"), token=t, headers=headers)
    assert fixed.status_code == 409
    ok = api.post(world.path("/members"), _member("DLR-779"), token=t, headers=headers)
    assert ok.status_code == 201


def test_keys_are_per_user(world):
    api = world.api
    headers = {"Idempotency-Key": "shared-key"}
    a = api.post("/me/tokens", {"name": "a"}, token=world.owner.token, headers=headers)
    b = api.post("/me/tokens", {"name": "a"}, token=world.parties["D1a"].token, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_bad_key_is_rejected(world):
    r = world.api.post(
        world.path("/groups"),
        {"path": "X"},
        token=world.owner.token,
        headers={"Idempotency-Key": "x" * 300},
    )
    assert r.status_code == 422
    assert "Idempotency-Key" in str(r.json()["errors"])


def test_concurrent_retries_create_one_member(world, http_api):
    """A flaky client firing the same request twice at once never creates two members."""
    results = []

    def send():
        client = Api(http_api.base, world.owner.token)
        response = client.post(
            world.path("/members"),
            _member("DLR-800", "Race Motors"),
            headers={"Idempotency-Key": "race"},
        )
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        results.append((response.status_code, replayed, response.json()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Per request either outcome is legitimate: the first response again (201, replayed), or a
    # 409 for a request that raced the first one's commit. But exactly one request created it.
    codes = [code for code, _, _ in results]
    assert all(code in (201, 409) for code in codes), results
    created = [body for code, replayed, body in results if code == 201 and not replayed]
    assert len(created) == 1, results
    assert all(body == created[0] for code, _, body in results if code == 201), results
    total = world.api.get(world.path("/members?q=race"), token=world.owner.token).json()["total"]
    assert total == 1
