def test_health(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "scheduler": "external"}


def test_world_builds(world):
    r = world.api.get(world.path("/members"), token=world.owner.token)
    assert r.status_code == 200, r.text
    tiers = {m["custom_id"]: m["tier"] for m in r.json()["items"]}
    assert tiers == {
        None: "core",
        "SUP-001": "U1",
        "DLR-001": "D1",
        "DLR-002": "D1",
        "DLR-101": "D2",
    }
