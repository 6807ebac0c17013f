"""Imports change who has a shared app, as a member added, moved or removed by hand does: an
Excel or WeCom import that adds members a grant covers publishes `app.shared` for them; one that
moves a member out of a granted group publishes `app.unshared`, ends its people's app sessions at
once and queues their back-channel logouts; an org another grant still covers keeps its access;
a dry run or a refused import changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import Delivery, OidcLogout
from tests.api.oidc_helpers import Rp, grant, register, rp_for
from tests.api.test_events import _addressed
from tests.api.test_imports import members, upload, xlsx
from tests.api.test_wecom import WeCom

LOGOUT_URI = "https://portal.example/logout"


def _company(name: str, custom_id: str, group: str | None, email: str | None = None) -> list:
    return [name, "dealer", custom_id, group, email and "Someone", email, None, None, None]


def _events(world, party, type_: str) -> list[dict]:
    r = world.api.get(world.path("/events"), params={"type": type_}, token=party.token)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _told(world, type_: str) -> list[list[str]]:
    """The org ids of each `type_` event in the owner's feed, oldest first."""
    return [sorted(e["data"]["org_ids"]) for e in _events(world, world.owner, type_)]


def _signed_in(app, world, portal: dict, who: str) -> tuple[Rp, dict]:
    rp = rp_for(app, world, portal, who)
    return rp, rp.tokens()


def _alive(rp: Rp, tokens: dict) -> bool:
    active = rp.introspect(tokens["access_token"]).json()["active"]
    assert active == (rp.userinfo(tokens["access_token"]).status_code == 200)
    return active


def _logout_sids(app) -> list[str]:
    """The sids of the queued back-channel logouts that have a pending `logout` delivery."""
    with app.app_context():
        rows = db.session.execute(
            select(OidcLogout.sid)
            .join(Delivery, Delivery.endpoint_id == OidcLogout.id)
            .where(Delivery.channel == "logout", Delivery.status == "pending")
        ).all()
        db.session.remove()
    return sorted(sid for (sid,) in rows)


@pytest.mark.parametrize(
    ("scope", "value", "covered"),
    [
        ("group", "Dealers/East China", {"IMP-1", "IMP-2"}),
        ("all", None, {"IMP-1", "IMP-2", "IMP-3"}),
    ],
)
def test_an_import_shares_the_granted_apps_with_the_members_it_adds(
    app, world, scope, value, covered
):
    register(world)
    grant(world, "portal", scope, value)
    shared_before = _told(world, "app.shared")
    rows = [
        _company("Imported One", "IMP-1", "Dealers/East China", "one@imported.example"),
        _company("Imported Two", "IMP-2", "Dealers/East China/Hangzhou"),
        _company("Elsewhere", "IMP-3", "Dealers/Elsewhere"),
    ]
    r = upload(world, xlsx(rows))
    assert r.status_code == 201, r.text
    now = members(world)
    new_ids = sorted(now[c]["org_id"] for c in covered)
    # One app.shared, naming exactly the new orgs the grant covers, to them and the owner.
    assert _told(world, "app.shared") == [*shared_before, new_ids]
    assert {world.owner.org_id, *new_ids} in _addressed(app, "app.shared").values()
    shares = world.api.get(world.path("/apps/portal/shares"), token=world.owner.token).json()
    assert set(new_ids) <= {s["org_id"] for s in shares["items"]}
    assert _told(world, "app.unshared") == []
    # The same file again adds and moves nothing: nothing more is told.
    assert upload(world, xlsx(rows)).status_code == 201
    assert _told(world, "app.shared") == [*shared_before, new_ids]


def test_a_reimport_moving_an_org_out_of_the_granted_group_ends_its_access(app, world):
    d1a, d1b, d2 = (world.parties[k] for k in ("D1a", "D1b", "D2"))
    portal = register(world, backchannel_logout_uri=LOGOUT_URI)
    grant(world, "portal", "group", "Dealers/North China")  # D1a (…/Beijing) and D2 (…/Tianjin)
    grant(world, "portal", "org", d2.org_id)  # D2 is covered twice
    rp_a, tokens_a = _signed_in(app, world, portal, "D1a")
    rp_2, tokens_2 = _signed_in(app, world, portal, "D2")
    sid_a = rp_a.id_token_claims(tokens_a["id_token"])["sid"]
    shared_before = _told(world, "app.shared")
    rows = [
        # Both leave North China; D1b joins it.
        _company("Beijing Motors Sales", "DLR-001", "Dealers/West China"),
        _company("Tianjin Sub-dealer", "DLR-101", "Dealers/West China"),
        _company("Shanghai Auto Trade", "DLR-002", "Dealers/North China/Harbin"),
    ]

    # The dry run of it writes and tells nothing, and ends nobody's access.
    dry = upload(world, xlsx(rows), dry_run=True)
    assert dry.status_code == 200 and dry.json()["updated"] == 3, dry.text
    assert _told(world, "app.unshared") == [] and _told(world, "app.shared") == shared_before
    assert _alive(rp_a, tokens_a) and _alive(rp_2, tokens_2)
    assert _logout_sids(app) == []

    r = upload(world, xlsx(rows))
    assert r.status_code == 201 and r.json()["updated"] == 3, r.text
    assert _told(world, "app.unshared") == [[d1a.org_id]]
    assert _told(world, "app.shared") == [*shared_before, [d1b.org_id]]
    # D1a's feed has it; D2, still covered by its own grant, hears nothing and keeps its access.
    assert [e["data"]["org_ids"] for e in _events(world, d1a, "app.unshared")] == [[d1a.org_id]]
    assert _events(world, d2, "app.unshared") == []
    assert _alive(rp_2, tokens_2)
    # D1a's people lose the app at once: userinfo 401, introspection inactive, no refresh, and
    # the app is told with a back-channel logout for that session.
    assert rp_a.userinfo(tokens_a["access_token"]).status_code == 401
    assert rp_a.introspect(tokens_a["access_token"]).json() == {"active": False}
    assert rp_a.refresh(tokens_a["refresh_token"]).json()["error"] == "invalid_grant"
    assert _logout_sids(app) == [sid_a]
    # D1b, moved into the group, can sign in to the app now.
    rp_b, tokens_b = _signed_in(app, world, portal, "D1b")
    assert _alive(rp_b, tokens_b)


def test_a_reimport_that_moves_within_the_granted_group_changes_nothing(app, world):
    portal = register(world, backchannel_logout_uri=LOGOUT_URI)
    grant(world, "portal", "group", "Dealers/North China")
    rp_a, tokens_a = _signed_in(app, world, portal, "D1a")
    shared_before = _told(world, "app.shared")
    rows = [_company("Beijing Motors Sales", "DLR-001", "Dealers/North China/Haidian")]
    r = upload(world, xlsx(rows))
    assert r.status_code == 201 and r.json()["updated"] == 1, r.text
    assert members(world)["DLR-001"]["group"] == "Dealers/North China/Haidian"
    assert _told(world, "app.unshared") == [] and _told(world, "app.shared") == shared_before
    assert _alive(rp_a, tokens_a) and _logout_sids(app) == []


def _wecom_import(world, contact_list: list) -> dict:
    wecom = WeCom(world)
    wecom.login(world.owner.token, world.owner.org_id)
    started = wecom.post(
        "corpgroup/import_chain_contact", {"chain_id": world.chain_id, "contact_list": contact_list}
    )
    assert started["errcode"] == 0, started
    result = wecom.get("corpgroup/getresult", jobid=started["jobid"])
    assert result["errcode"] == 0 and result["status"] == 3, result
    return result["result"]


def test_the_wecom_import_shares_and_unshares_likewise_all_or_nothing(app, world):
    d1a = world.parties["D1a"]
    portal = register(world, backchannel_logout_uri=LOGOUT_URI)
    grant(world, "portal", "group", "Dealers/North China")
    rp_a, tokens_a = _signed_in(app, world, portal, "D1a")
    sid_a = rp_a.id_token_claims(tokens_a["id_token"])["sid"]
    shared_before = _told(world, "app.shared")
    harbin = {
        "corp_name": "Harbin Trading",
        "custom_id": "DLR-900",
        "group_path": "Dealers/North China/Harbin",
        "contact_info_list": [{"name": "张三", "identity_type": 2, "mobile": "13000000001"}],
    }
    beijing = {
        "corp_name": "Beijing Motors Sales",
        "custom_id": "DLR-001",
        "group_path": "Dealers/West China",
        "contact_info_list": [],
    }

    # A list with a bad entry imports nothing: nobody gains or loses the app.
    bad = {"corp_name": "", "custom_id": "DLR-901", "contact_info_list": []}
    refused = _wecom_import(world, [harbin, beijing, bad])
    assert refused["import_status"] == 3, refused
    assert _told(world, "app.unshared") == [] and _told(world, "app.shared") == shared_before
    assert _alive(rp_a, tokens_a) and _logout_sids(app) == []

    done = _wecom_import(world, [harbin, beijing])
    assert done["import_status"] == 1, done
    harbin_id = members(world)["DLR-900"]["org_id"]
    assert _told(world, "app.shared") == [*shared_before, [harbin_id]]
    assert _told(world, "app.unshared") == [[d1a.org_id]]
    assert not _alive(rp_a, tokens_a)
    assert _logout_sids(app) == [sid_a]


def test_the_watch_costs_the_same_statements_for_any_number_of_rows(app, world, count_queries):
    """Members added and moved, with app sessions to end, in two imports of 3 and 52 companies:
    the same statements (the watch reads the orgs it is given, not one query per org)."""
    portal = register(world, backchannel_logout_uri=LOGOUT_URI)
    grant(world, "portal", "group", "Dealers")
    grant(world, "portal", "org", world.parties["D1b"].org_id)  # D1b is covered twice
    rp_a, tokens_a = _signed_in(app, world, portal, "D1a")
    rp_b, tokens_b = _signed_in(app, world, portal, "D1b")
    rp_2, tokens_2 = _signed_in(app, world, portal, "D2")
    dealers = [_company(f"Dealer {i}", f"IMP-{i:03d}", "Dealers/Imported") for i in range(10)]
    assert upload(world, xlsx(dealers)).status_code == 201  # warm; groups exist from here on
    counts = []
    rounds = [
        # 2 added, 1 moved out (D2: its session ends)
        ([_company("Tianjin Sub-dealer", "DLR-101", "Suppliers/Steel")], 2, 100),
        # 40 added, 12 moved out (D1a's session ends; D1b's org grant keeps it covered)
        (
            [
                _company("Beijing Motors Sales", "DLR-001", "Suppliers/Steel"),
                _company("Shanghai Auto Trade", "DLR-002", "Suppliers/Steel"),
                *[_company(f"Dealer {i}", f"IMP-{i:03d}", "Suppliers/Steel") for i in range(10)],
            ],
            40,
            200,
        ),
    ]
    for moved, added, start in rounds:
        new = [
            _company(f"New {i}", f"NEW-{i}", "Dealers/Imported")
            for i in range(start, start + added)
        ]
        with count_queries() as counter:
            r = upload(world, xlsx([*moved, *new]))
        assert r.status_code == 201, r.text
        assert (r.json()["created"], r.json()["updated"]) == (added, len(moved))
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    now = members(world)
    dealers_out = [now[f"IMP-{i:03d}"]["org_id"] for i in range(10)]
    assert _told(world, "app.unshared") == [
        [world.parties["D2"].org_id],
        sorted([world.parties["D1a"].org_id, *dealers_out]),
    ]
    assert _told(world, "app.shared")[-2:] == [
        sorted(now[f"NEW-{i}"]["org_id"] for i in range(start, start + added))
        for _, added, start in rounds
    ]
    assert not _alive(rp_2, tokens_2) and not _alive(rp_a, tokens_a) and _alive(rp_b, tokens_b)
