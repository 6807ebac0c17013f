from collections import Counter

import pytest

from tests.conftest import World, build_world, build_world_over_api


def test_health(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "database": "ok",
        "scheduler": "external",
        "pdf_fonts": "ok",
    }


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


def _describe(w: World) -> dict:
    """What the tests rely on of a world, read back through the API."""
    t = w.owner.token

    def items(path: str, token: str = t) -> list[dict]:
        r = w.api.get(path + "?page_size=500", token=token)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    members = items(w.path("/members"))
    code = {m["org_id"]: m["custom_id"] or "core" for m in members}
    people = {
        "owner": w.owner,
        "owner_staff": w.owner_staff,
        "outsider": w.outsider,
        **w.parties,
    }
    me = {}
    for key, party in people.items():
        mine = w.api.get("/me", token=party.token).json()
        assert (mine["user"]["id"], mine["org"]["id"]) == (party.user_id, party.org_id), key
        me[key] = (
            mine["user"]["email"],
            mine["user"]["name"],
            mine["user"]["role"],
            mine["org"]["name"],
            mine["org"]["kind"],
            [(c["name"], c["role"], c["tier"]) for c in mine["chains"]],
            [(tok["name"], tok["kind"]) for tok in items("/me/tokens", party.token)],
        )
    return {
        "members": sorted(
            (m["custom_id"] or "", m["name"], m["kind"], m["group"] or "", m["tier"])
            for m in members
        ),
        "groups": sorted(g["path"] for g in items(w.path("/groups"))),
        "links": sorted(
            (code[link["supplier_id"]], code[link["customer_id"]])
            for link in items(w.path("/links"))
        ),
        "contacts": sorted(
            (code[c["org_id"]], c["email"], c["name"], c["role"], c["activated"])
            for c in items(w.path("/contacts"))
        ),
        "me": me,
        "audit": Counter(e["action"] for e in items(w.path("/audit"))),
    }


WORLD = {
    "members": [
        ("", "Acme Motors", "manufacturer", "", "core"),
        ("DLR-001", "Beijing Motors Sales", "dealer", "Dealers/North China/Beijing", "D1"),
        ("DLR-002", "Shanghai Auto Trade", "dealer", "Dealers/East China", "D1"),
        ("DLR-101", "Tianjin Sub-dealer", "dealer", "Dealers/North China/Tianjin", "D2"),
        ("SUP-001", "Steel Works", "supplier", "Suppliers/Steel", "U1"),
    ],
    "groups": [
        "Dealers",
        "Dealers/East China",
        "Dealers/North China",
        "Dealers/North China/Beijing",
        "Dealers/North China/Tianjin",
        "Suppliers",
        "Suppliers/Steel",
    ],
    "links": [
        ("DLR-001", "DLR-101"),
        ("SUP-001", "core"),
        ("core", "DLR-001"),
        ("core", "DLR-002"),
    ],
    "contacts": [
        ("DLR-001", "d1a@bj.example", "Beijing Motors Sales contact", "admin", True),
        ("DLR-002", "d1b@sh.example", "Shanghai Auto Trade contact", "admin", True),
        ("DLR-101", "d2@tj.example", "Tianjin Sub-dealer contact", "admin", True),
        ("SUP-001", "s1@steel.example", "Steel Works contact", "admin", True),
        ("core", "admin@acme.example", "Admin Acme Motors", "admin", True),
        ("core", "staff@acme.example", "Sam Staff", "staff", True),
    ],
    "me": {
        "owner": (
            "admin@acme.example",
            "Admin Acme Motors",
            "admin",
            "Acme Motors",
            "manufacturer",
            [("Acme dealers", "owner", "core")],
            [("bootstrap", "api")],
        ),
        "owner_staff": (
            "staff@acme.example",
            "Sam Staff",
            "staff",
            "Acme Motors",
            "manufacturer",
            [("Acme dealers", "owner", "core")],
            [("login", "login")],
        ),
        "outsider": (
            "admin@rival.example",
            "Admin Rival Motors",
            "admin",
            "Rival Motors",
            "manufacturer",
            [],
            [("bootstrap", "api")],
        ),
        "S1": (
            "s1@steel.example",
            "Steel Works contact",
            "admin",
            "Steel Works",
            "supplier",
            [("Acme dealers", "partner", "U1")],
            [("login", "login")],
        ),
        "D1a": (
            "d1a@bj.example",
            "Beijing Motors Sales contact",
            "admin",
            "Beijing Motors Sales",
            "dealer",
            [("Acme dealers", "partner", "D1")],
            [("login", "login")],
        ),
        "D1b": (
            "d1b@sh.example",
            "Shanghai Auto Trade contact",
            "admin",
            "Shanghai Auto Trade",
            "dealer",
            [("Acme dealers", "partner", "D1")],
            [("login", "login")],
        ),
        "D2": (
            "d2@tj.example",
            "Tianjin Sub-dealer contact",
            "admin",
            "Tianjin Sub-dealer",
            "dealer",
            [("Acme dealers", "partner", "D2")],
            [("login", "login")],
        ),
    },
    "audit": Counter({"chain.create": 1, "contact.add": 1, "member.add": 4, "link.create": 4}),
}


@pytest.mark.parametrize("build", [build_world, build_world_over_api])
def test_the_world_fixture_is_what_a_client_builds_over_the_api(app, api, build):
    """The `world` fixture takes a short cut through the services; building it request by
    request, as a client would, gives the same chain, people, tokens and audit trail."""
    assert _describe(build(app, api)) == WORLD
