"""Apps and grants: partners use an app only while a grant covers their org."""

import pytest


def _grant(world, app, scope_type, value=None, token=None):
    body = {"app": app, "scope": {"type": scope_type}}
    if value is not None:
        body["scope"]["value"] = value
    return world.api.post(world.path("/grants"), body, token=token or world.owner.token)


def _apps(world, party):
    r = world.api.get(world.path("/apps"), token=party.token)
    assert r.status_code == 200, r.text
    return [a["key"] for a in r.json()["items"]]


def _me_apps(world, party):
    return world.api.get("/me", token=party.token).json()["chains"][0]["apps"]


def test_owner_has_every_app_partners_none_by_default(world):
    assert _apps(world, world.owner) == ["notices", "orders", "reconciliation"]
    assert _apps(world, world.owner_staff) == ["notices", "orders", "reconciliation"]
    assert _apps(world, world.parties["D1a"]) == []
    r = world.api.get(world.path("/notices"), token=world.parties["D1a"].token)
    assert r.status_code == 403
    assert "notices" in r.json()["message"]


@pytest.mark.parametrize(
    ("scope_type", "value_of", "expected"),
    [
        ("all", None, {"S1", "D1a", "D1b", "D2"}),
        ("tier", lambda w: "D1", {"D1a", "D1b"}),
        ("group", lambda w: "Dealers/North China", {"D1a", "D2"}),
        ("org", lambda w: w.parties["D2"].org_id, {"D2"}),
    ],
)
def test_grant_scopes(world, scope_type, value_of, expected):
    r = _grant(world, "notices", scope_type, value_of(world) if value_of else None)
    assert r.status_code == 201, r.text
    assert r.json()["scope"]["type"] == scope_type
    have = {k for k, p in world.parties.items() if "notices" in _apps(world, p)}
    assert have == expected
    assert {k for k, p in world.parties.items() if "notices" in _me_apps(world, p)} == expected
    for key, party in world.parties.items():
        code = world.api.get(world.path("/notices"), token=party.token).status_code
        assert code == (200 if key in expected else 403), key


def test_revocation_is_immediate(world):
    d1a = world.parties["D1a"]
    grant = _grant(world, "notices", "org", d1a.org_id).json()
    assert world.api.get(world.path("/notices"), token=d1a.token).status_code == 200
    assert (
        world.api.delete(world.path(f"/grants/{grant['id']}"), token=world.owner.token).status_code
        == 204
    )
    assert world.api.get(world.path("/notices"), token=d1a.token).status_code == 403
    assert (
        world.api.delete(world.path(f"/grants/{grant['id']}"), token=world.owner.token).status_code
        == 404
    )
    actions = [
        e["action"]
        for e in world.api.get(world.path("/audit"), token=world.owner.token).json()["items"]
    ]
    assert "grant.create" in actions and "grant.revoke" in actions


def test_tier_grant_follows_the_graph(world):
    _grant(world, "orders", "tier", "D1")
    d2 = world.parties["D2"]
    assert "orders" not in _apps(world, d2)
    # Link D2 straight to the owner: it moves to D1 and gains the app.
    link = world.api.post(
        world.path("/links"),
        {"supplier_id": world.owner.org_id, "customer_id": d2.org_id},
        token=world.owner.token,
    )
    assert link.status_code == 201
    assert "orders" in _apps(world, d2)
    world.api.delete(world.path(f"/links/{link.json()['id']}"), token=world.owner.token)
    assert "orders" not in _apps(world, d2)


def test_group_grant_follows_moves(world):
    _grant(world, "notices", "group", "Dealers/North China")
    d1b = world.parties["D1b"]
    assert "notices" not in _apps(world, d1b)
    world.api.patch(
        world.path(f"/members/{d1b.org_id}"),
        {"group": "Dealers/North China/Jinan"},
        token=world.owner.token,
    )
    assert "notices" in _apps(world, d1b)


def test_custom_apps(world):
    api, t = world.api, world.owner.token
    r = api.post(
        world.path("/apps"),
        {"key": "warranty", "name": "Warranty claims", "url": "https://warranty.acme.example/"},
        token=t,
    )
    assert r.status_code == 201, r.text
    assert r.json()["builtin"] is False
    assert "warranty" in _apps(world, world.owner)
    assert "warranty" not in _apps(world, world.parties["D1a"])
    _grant(world, "warranty", "tier", "D1")
    apps = world.api.get(world.path("/apps"), token=world.parties["D1a"].token).json()["items"]
    assert [a["url"] for a in apps if a["key"] == "warranty"] == ["https://warranty.acme.example/"]
    assert (
        api.post(
            world.path("/apps"),
            {"key": "warranty", "name": "x", "url": "https://x.example"},
            token=t,
        ).status_code
        == 409
    )
    assert (
        api.post(
            world.path("/apps"), {"key": "orders", "name": "x", "url": "https://x.example"}, token=t
        ).status_code
        == 409
    )
    for bad in (
        {"key": "Bad Key", "name": "x", "url": "https://x.example"},
        {"key": "ok", "name": "x", "url": "javascript:alert(1)"},
        {"key": "ok", "name": "", "url": "https://x.example"},
    ):
        assert api.post(world.path("/apps"), bad, token=t).status_code == 422, bad
    assert (
        api.post(
            world.path("/apps"),
            {"key": "zz", "name": "x", "url": "https://x.example"},
            token=world.parties["D1a"].token,
        ).status_code
        == 403
    )


def test_grant_bad_input_and_authorisation(world):
    bad = [
        ("nope", "all", None, "app"),
        ("notices", "tier", "X1", "value"),
        ("notices", "group", "Nowhere", "value"),
        ("notices", "group", "../x", "value"),
        ("notices", "org", world.outsider.org_id, "value"),
        ("notices", "org", "abc", "value"),
        ("notices", "tier", None, "value"),
        ("notices", "all", "D1", "value"),
        ("notices", "planet", "x", "type"),
    ]
    for app, scope_type, value, field in bad:
        r = _grant(world, app, scope_type, value)
        assert r.status_code == 422, (app, scope_type, value, r.text)
        assert field in str(r.json()["errors"])
    assert _grant(world, "notices", "all").status_code == 201
    assert _grant(world, "notices", "all").status_code == 409
    assert _grant(world, "notices", "all", token=world.owner_staff.token).status_code == 403
    assert _grant(world, "notices", "all", token=world.parties["D1a"].token).status_code == 403
    assert _grant(world, "notices", "all", token=world.outsider.token).status_code == 404
    assert world.api.get(world.path("/grants"), token=world.owner.token).json()["total"] == 1
    assert world.api.get(world.path("/grants"), token=world.parties["D1a"].token).status_code == 403


def test_apps_answer_the_list_envelope(world):
    api, t = world.api, world.owner.token
    r = api.get(world.path("/apps"), token=t)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["total"], body["page"], body["page_size"]) == (3, 1, 50)
    second = api.get(world.path("/apps"), params={"page": 2, "page_size": 2}, token=t).json()
    assert [a["key"] for a in second["items"]] == ["reconciliation"]
    assert (second["total"], second["page"], second["page_size"]) == (3, 2, 2)
    partner = api.get(world.path("/apps"), token=world.parties["D1a"].token).json()
    assert (partner["items"], partner["total"]) == ([], 0)
    assert api.get(world.path("/apps"), params={"page_size": 501}, token=t).status_code == 422
