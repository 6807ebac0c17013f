"""Orgs and people are global: one owner cannot create people, invitation codes or names in an
org that also belongs to another owner's chain (found in review: cross-chain account takeover)."""

import io

import openpyxl
import pytest

from tests.conftest import activate


def _rival_chain(world):
    r = world.api.post("/chains", {"name": "Rival chain"}, token=world.outsider.token)
    assert r.status_code == 201
    return r.json()["id"]


def test_rival_owner_cannot_create_people_in_a_shared_org(world):
    api, rival = world.api, world.outsider
    s1 = world.parties["S1"]
    cid = _rival_chain(world)
    body = {
        "org_id": s1.org_id,
        "custom_id": "X",
        "contacts": [{"name": "evil", "email": "evil@rival.example", "role": "admin"}],
    }
    r = api.post(f"/chains/{cid}/members", body, token=rival.token)
    assert r.status_code == 403, r.text
    assert api.get(f"/chains/{cid}/members", token=rival.token).json()["total"] == 1
    # Adding the org itself is fine; adding people to it is not.
    ok = api.post(
        f"/chains/{cid}/members", {"org_id": s1.org_id, "custom_id": "X"}, token=rival.token
    )
    assert ok.status_code == 201
    r = api.post(
        f"/chains/{cid}/members/{s1.org_id}/contacts",
        {"name": "evil", "email": "evil@rival.example", "role": "admin"},
        token=rival.token,
    )
    assert r.status_code == 403
    assert (
        api.post("/auth/login", {"email": "evil@rival.example", "password": "x" * 10}).status_code
        == 401
    )
    # The org's own admin still lists its people anywhere it is a member.
    own = api.post(
        f"/chains/{cid}/members/{s1.org_id}/contacts",
        {"name": "Sales desk", "email": "sales@steel.example"},
        token=s1.token,
    )
    assert own.status_code == 201 and own.json()["invite_code"]


def test_pending_people_are_not_given_new_codes_by_another_owner(world):
    api, rival = world.api, world.outsider
    s1 = world.parties["S1"]
    pending = api.post(
        world.path(f"/members/{s1.org_id}/contacts"),
        {"name": "New hire", "email": "new@steel.example"},
        token=world.owner.token,
    )
    first_code = pending.json()["invite_code"]
    cid = _rival_chain(world)
    r = api.post(
        f"/chains/{cid}/members",
        {
            "org_id": s1.org_id,
            "custom_id": "X",
            "contacts": [{"name": "New hire", "email": "new@steel.example"}],
        },
        token=rival.token,
    )
    assert r.status_code == 201, r.text
    assert r.json()["contacts"][0]["invite_code"] is None
    # The code the right owner handed out still works; nobody else got one.
    token = activate(api, first_code)
    assert api.get("/me", token=token).json()["org"]["id"] == s1.org_id


def _sheet(rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(
        [
            "company name",
            "kind",
            "custom id",
            "group path",
            "contact name",
            "email",
            "mobile",
            "title",
            "role",
        ]
    )
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_import_cannot_rename_or_staff_a_shared_org(world):
    api, rival = world.api, world.outsider
    s1 = world.parties["S1"]
    cid = _rival_chain(world)
    api.post(f"/chains/{cid}/members", {"org_id": s1.org_id, "custom_id": "X"}, token=rival.token)
    for row, column in [
        (["HACKED Corp", "supplier", "X", None, None, None, None, None, None], "company"),
        (
            [
                "Steel Works",
                "supplier",
                "X",
                None,
                "evil",
                "evil@rival.example",
                None,
                None,
                "admin",
            ],
            "email",
        ),
    ]:
        r = api.post(
            f"/chains/{cid}/imports", token=rival.token, files={"file": ("p.xlsx", _sheet([row]))}
        )
        assert r.status_code == 422, r.text
        assert column in str(r.json()["errors"]["rows"][0]["column"]).lower().replace(" ", "")
    got = api.get(world.path(f"/members/{s1.org_id}"), token=world.owner.token).json()
    assert got["name"] == "Steel Works"


def test_contacts_org_filter_must_be_an_id(world):
    r = world.api.get(world.path("/contacts?org_id=abc"), token=world.owner.token)
    assert r.status_code == 422 and "org_id" in str(r.json()["errors"])


@pytest.mark.committed  # a run request is checked in the run's own sessions
def test_periods_take_ascii_digits_only(world):
    for label in ("２０２６-10", "٢٠٢٦-10"):
        r = world.api.post(
            world.path("/reconciliation/runs"),
            {"tier": "D1", "period": label},
            token=world.owner.token,
        )
        assert r.status_code == 422, r.text


def test_re_adding_a_member_keeps_its_contacts(world):
    api, t = world.api, world.owner.token
    d1b = world.parties["D1b"]
    assert api.delete(world.path(f"/members/{d1b.org_id}"), token=t).status_code == 204
    back = api.post(
        world.path("/members"),
        {
            "org_id": d1b.org_id,
            "custom_id": "DLR-002",
            "contacts": [{"name": "Shanghai Auto Trade contact", "email": "d1b@sh.example"}],
        },
        token=t,
    )
    assert back.status_code == 201, back.text
    assert [c["email"] for c in back.json()["contacts"]] == ["d1b@sh.example"]
    assert api.get(world.path(), token=d1b.token).status_code == 200
