"""The rows a partner import writes, read back from the database: a mixed sheet of new and existing
companies and people gives exactly these orgs, members, groups, users, contacts, invitations,
queued mails, events and audit, whether SQLite's bulk inserts go through json_each or, as
before, executemany (PostgreSQL's unnest either way)."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import (
    AuditEvent,
    Contact,
    Delivery,
    Event,
    Group,
    Invitation,
    Member,
    Org,
    User,
)
from supplychain.services import bulk
from supplychain.services.invite_codes import code_from_salt, code_hash
from tests.api.test_imports import upload, xlsx

NEW_NAME = 'Hangzhou "Parts" Co\'s \\ R&D 杭州'
ROWS = [
    # Renamed and moved; its contact already listed.
    ["Beijing Motors Group", "dealer", "DLR-001", "Dealers/North China/Haidian"]
    + ["X", "d1a@bj.example", None, None, None],
    # A new person of that existing member.
    ["Beijing Motors Group", "dealer", "DLR-001", "Dealers/North China/Haidian"]
    + ["Wang Fang", "Wang@BJ.example", "+86 138 0000 0009", "Buyer", "admin"],
    # Unchanged, no contact.
    ["Shanghai Auto Trade", "dealer", "DLR-002", None, None, None, None, None, None],
    # Unchanged; a person known in another chain of the owner's, listed here with a fresh code.
    ["Steel Works", "supplier", "SUP-001", None, "Sun Li", "sun@steel.example", None, None, None],
    # A new company with two people, and one without any.
    [NEW_NAME, "dealer", "NEW-1", "Dealers/East China/Hangzhou"]
    + ["王芳 Wáng", "new1@hz.example", None, "R&D \\ QA", "staff"],
    [NEW_NAME, "dealer", "NEW-1", "Dealers/East China/Hangzhou"]
    + ["Li Si", "new2@hz.example", 13800000003, None, "admin"],
    ["Ningbo Bearings", "supplier", "NEW-2", None, None, None, None, None, None],
]
INVITED = ["wang@bj.example", "new1@hz.example", "new2@hz.example", "sun@steel.example"]


@pytest.mark.parametrize("writes", ["json_each", "executemany"])
def test_a_mixed_sheet_writes_exactly_these_rows(world, app, monkeypatch, writes):
    if writes == "executemany":
        monkeypatch.setattr(bulk, "_json_rows", lambda *args: None)
    api, owner = world.api, world.owner
    other = api.post("/chains", {"name": "Parts suppliers"}, token=owner.token).json()["id"]
    elsewhere = api.post(
        f"/chains/{other}/members",
        {
            "org_id": world.parties["S1"].org_id,
            "custom_id": "P-1",
            "contacts": [{"name": "Sun Li", "email": "sun@steel.example"}],
        },
        token=owner.token,
    )
    assert elsewhere.status_code == 201, elsewhere.text
    with app.app_context():
        before = {
            "events": db.session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)),
            "contacts": set(
                db.session.scalars(
                    select(Contact.user_id).where(Contact.chain_id == int(world.chain_id))
                )
            ),
        }
        db.session.remove()

    r = upload(world, xlsx(ROWS))
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: v for k, v in body.items() if k != "invites"} == {
        "dry_run": False,
        "rows": 7,
        "created": 2,
        "updated": 1,
        "unchanged": 2,
        "contacts_created": 4,
        "groups_created": 2,
    }
    assert [(i["email"], i["custom_id"]) for i in body["invites"]] == [
        ("wang@bj.example", "DLR-001"),
        ("new1@hz.example", "NEW-1"),
        ("new2@hz.example", "NEW-1"),
        ("sun@steel.example", "SUP-001"),
    ]
    codes = {i["email"]: i["invite_code"] for i in body["invites"]}
    chain_id, d1a = int(world.chain_id), world.parties["D1a"]

    with app.app_context():
        s = db.session
        members = {
            custom_id: (name, kind, path, org_id)
            for custom_id, name, kind, path, org_id in s.execute(
                select(Member.custom_id, Org.name, Org.kind, Group.path, Org.id)
                .join(Org, Org.id == Member.org_id)
                .outerjoin(Group, Group.id == Member.group_id)
                .where(Member.chain_id == chain_id, Member.is_current)
            )
        }
        assert {k: v[:3] for k, v in members.items()} == {
            "SUP-001": ("Steel Works", "supplier", "Suppliers/Steel"),
            "DLR-001": ("Beijing Motors Group", "dealer", "Dealers/North China/Haidian"),
            "DLR-002": ("Shanghai Auto Trade", "dealer", "Dealers/East China"),
            "DLR-101": ("Tianjin Sub-dealer", "dealer", "Dealers/North China/Tianjin"),
            "NEW-1": (NEW_NAME, "dealer", "Dealers/East China/Hangzhou"),
            "NEW-2": ("Ningbo Bearings", "supplier", None),
            None: ("Acme Motors", "manufacturer", None),  # the owner
        }
        assert members["DLR-001"][3] == int(d1a.org_id)
        org_of = {custom_id: row[3] for custom_id, row in members.items()}
        groups = dict(
            s.execute(select(Group.path, Group.parent_id).where(Group.chain_id == chain_id)).all()
        )
        group_ids = dict(
            s.execute(select(Group.path, Group.id).where(Group.chain_id == chain_id)).all()
        )
        assert groups["Dealers/North China/Haidian"] == group_ids["Dealers/North China"]
        assert groups["Dealers/East China/Hangzhou"] == group_ids["Dealers/East China"]

        users = {u.email: u for u in s.scalars(select(User).where(User.email.in_(INVITED)))}
        assert {
            email: (u.name, u.mobile, u.title, u.role, u.org_id, u.password_hash)
            for email, u in users.items()
        } == {
            "wang@bj.example": (
                "Wang Fang",
                "+86 138 0000 0009",
                "Buyer",
                "admin",
                org_of["DLR-001"],
                None,
            ),
            "new1@hz.example": ("王芳 Wáng", None, "R&D \\ QA", "staff", org_of["NEW-1"], None),
            "new2@hz.example": ("Li Si", "13800000003", None, "admin", org_of["NEW-1"], None),
            "sun@steel.example": ("Sun Li", None, None, "staff", org_of["SUP-001"], None),
        }
        assert all(u.invite_code_hash == code_hash(codes[e]) for e, u in users.items())

        contacts = set(
            s.execute(select(Contact.user_id, Contact.org_id).where(Contact.chain_id == chain_id))
        )
        new_contacts = {pair for pair in contacts if pair[0] not in before["contacts"]}
        assert new_contacts == {(u.id, u.org_id) for u in users.values()}

        secret = app.config["SECRET_KEY"]
        invitations = s.scalars(
            select(Invitation).where(Invitation.user_id.in_([u.id for u in users.values()]))
        ).all()
        by_user = {u.id: e for e, u in users.items()}
        assert sorted(by_user[i.user_id] for i in invitations) == sorted(INVITED)
        for i in invitations:
            assert code_from_salt(secret, i.salt) == codes[by_user[i.user_id]]
            assert (i.chain_id, i.inviter_org_id, i.invited_by) == (
                chain_id,
                int(owner.org_id),
                int(owner.user_id),
            )
            assert i.sent_at == i.issued_at and i.expires_at - i.issued_at == timedelta(days=14)

        events = s.scalars(
            select(Event).where(Event.id > before["events"]).order_by(Event.id)
        ).all()
        summary = sorted((e.type, e.subject_id) for e in events)
        assert summary == sorted(
            [
                ("contact.invited", chain_id),
                ("member.joined", org_of["NEW-1"]),
                ("member.joined", org_of["NEW-2"]),
                ("member.updated", org_of["DLR-001"]),
            ]
        )
        [invited] = [e for e in events if e.type == "contact.invited"]
        assert invited.data == {"people": 4}
        [updated] = [e for e in events if e.type == "member.updated"]
        assert updated.data["changes"] == {
            "name": {"from": "Beijing Motors Sales", "to": "Beijing Motors Group"},
            "group": {"from": "Dealers/North China/Beijing", "to": "Dealers/North China/Haidian"},
        }
        [joined] = [e for e in events if e.subject_id == org_of["NEW-1"]]
        assert (joined.data["name"], joined.data["custom_id"]) == (NEW_NAME, "NEW-1")
        mails = s.execute(
            select(Delivery.user_id, Delivery.status, Delivery.attempts).where(
                Delivery.event_id == invited.id, Delivery.channel == "email"
            )
        ).all()
        assert sorted(mails) == sorted((u.id, "pending", 0) for u in users.values())

        [audit] = s.scalars(select(AuditEvent).where(AuditEvent.action == "import.apply")).all()
        assert audit.data["filename"] == "partners.xlsx" and len(audit.data["sha256"]) == 64
        assert {k: audit.data[k] for k in body if k not in ("invites", "dry_run")} == {
            k: v for k, v in body.items() if k not in ("invites", "dry_run")
        }
        db.session.remove()


def test_the_cycle_collector_runs_again_after_any_import(world):
    """An import pauses Python's cycle collector while it runs, never longer: after a good
    import, a refused sheet, a dry run; and one left off by someone else stays off."""
    assert gc.isenabled()
    good = [["Ningbo Bearings", "supplier", "NEW-9"] + [None] * 6]
    assert upload(world, xlsx(good), dry_run=True).status_code == 200
    assert gc.isenabled()
    assert upload(world, xlsx([["No kind", None, "NEW-8"] + [None] * 6])).status_code == 422
    assert gc.isenabled()
    assert upload(world, xlsx(good)).status_code == 201
    assert gc.isenabled()
    gc.disable()
    try:
        assert upload(world, xlsx(good)).status_code == 201
        assert not gc.isenabled()
    finally:
        gc.enable()
