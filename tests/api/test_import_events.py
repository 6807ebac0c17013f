"""An Excel import tells the chain owner, and only the owner, of every member it adds or changes,
with the deliveries people and endpoints asked for; in bulk statements whatever the sheet's size;
nothing at all when the import fails or is a dry run."""

from __future__ import annotations

import pytest

from tests.api.test_events import _addressed, _deliveries, _endpoint, _types
from tests.api.test_imports import upload, xlsx


def _companies(n: int, start: int = 0, group: str = "Dealers/Imported") -> list[list]:
    return [
        [
            f"Imported Dealer {i}",
            "dealer",
            f"IMP-{i:03d}",
            group,
            f"Person {i}",
            f"p{i}@imported.example",
            None,
            None,
            None,
        ]
        for i in range(start, start + n)
    ]


def _want_directory_mail(world) -> None:
    """The owner's admin asks for directory events by email (they are off by default)."""
    r = world.api.put(
        "/me/notifications",
        {"email": "immediate", "events": ["member.joined", "member.updated"]},
        token=world.owner.token,
    )
    assert r.status_code == 200, r.text


def test_import_tells_the_owner_only_of_each_new_and_changed_member(world, app):
    w = world
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    _want_directory_mail(w)
    owner_hook = _endpoint(app, w.chain_id, w.owner.org_id, w.owner.user_id, ["member.joined"])
    owner_all = _endpoint(app, w.chain_id, w.owner.org_id, w.owner.user_id, ["*"])
    _endpoint(app, w.chain_id, w.owner.org_id, w.owner.user_id, ["notice.published"])
    partner_hook = _endpoint(app, w.chain_id, d1a.org_id, d1a.user_id, ["*"])
    before = set(_addressed(app, "member.joined"))  # the world's own four members

    renamed = ["Beijing Motors Group", "dealer", "DLR-001", None, None, None, None, None, None]
    r = upload(w, xlsx([*_companies(3), renamed]))
    assert r.status_code == 201, r.text
    assert (r.json()["created"], r.json()["updated"]) == (3, 1)

    joined = {k: v for k, v in _addressed(app, "member.joined").items() if k not in before}
    assert len(joined) == 3
    assert all(orgs == {w.owner.org_id} for orgs in joined.values())
    feed = _types(w, w.owner, "member.joined")[-3:]
    by_custom_id = {e["data"]["custom_id"]: e["data"] for e in feed}
    assert sorted(by_custom_id) == ["IMP-000", "IMP-001", "IMP-002"]
    members = w.api.get(w.path("/members?page_size=500"), token=w.owner.token).json()["items"]
    org_ids = {m["custom_id"]: m["org_id"] for m in members}
    assert by_custom_id["IMP-001"] == {
        "org_id": org_ids["IMP-001"],
        "name": "Imported Dealer 1",
        "custom_id": "IMP-001",
        "group": "Dealers/Imported",
    }
    updated = _addressed(app, "member.updated")
    assert list(updated.values()) == [{w.owner.org_id}]
    change = _types(w, w.owner, "member.updated")[0]["data"]
    assert change["org_id"] == d1a.org_id and change["name"] == "Beijing Motors Group"
    assert change["changes"] == {
        "name": {"from": "Beijing Motors Sales", "to": "Beijing Motors Group"}
    }
    # No partner, the renamed one included, hears of the directory.
    for party in (d1a, d1b):
        assert not _types(w, party, "member.joined") and not _types(w, party, "member.updated")

    hooks = [d.endpoint_id for d in _deliveries(app, "member.joined", "webhook")]
    # The world's four members joined before the endpoints existed: only the import's count.
    assert sorted(hooks) == sorted([owner_hook] * 3 + [owner_all] * 3)
    assert [d.endpoint_id for d in _deliveries(app, "member.updated", "webhook")] == [owner_all]
    assert partner_hook not in hooks
    mails = _deliveries(app, "member.joined", "email")
    # The owner's admin asked for them; its staff keeps the defaults (no directory mail).
    assert [d.user_id for d in mails] == [int(w.owner.user_id)] * 3
    assert {d.event_id for d in mails} == set(joined)
    assert [d.user_id for d in _deliveries(app, "member.updated", "email")] == [
        int(w.owner.user_id)
    ]


def test_a_failed_or_dry_run_import_raises_no_event(world, app):
    w = world
    _want_directory_mail(w)
    _endpoint(app, w.chain_id, w.owner.org_id, w.owner.user_id, ["*"])
    before = set(_addressed(app, "member.joined"))
    bad = [*_companies(2), ["Broken", "bank", "IMP-900", None, None, None, None, None, None]]
    r = upload(w, xlsx(bad))
    assert r.status_code == 422, r.text
    r = upload(w, xlsx(_companies(2)), dry_run=True)
    assert r.status_code == 200, r.text
    assert set(_addressed(app, "member.joined")) == before
    assert not _deliveries(app, "member.joined", "webhook")
    assert not _deliveries(app, "member.joined", "email")


def test_import_events_cost_the_same_statements_for_any_number_of_rows(world, app, count_queries):
    w = world
    _want_directory_mail(w)
    _endpoint(app, w.chain_id, w.owner.org_id, w.owner.user_id, ["*"])
    upload(w, xlsx(_companies(1, start=900)))  # warm caches; the group exists from here on
    counts = []
    for start, n in ((0, 2), (100, 40)):
        with count_queries() as counter:
            r = upload(w, xlsx(_companies(n, start=start)))
        assert r.status_code == 201, r.text
        counts.append(counter.count)
        inserts = [s.split("(")[0].strip() for s in counter.statements if s.startswith("INSERT")]
        # The members' events (one bulk insert, with their recipients and deliveries) and the
        # new contacts' invitation: one contact.invited event and one insert of its mail.
        assert inserts.count("INSERT INTO events") == 2, inserts
        assert inserts.count("INSERT INTO event_recipients") == 1, inserts
        assert inserts.count("INSERT INTO deliveries") == 3, inserts
    assert counts[0] == counts[1], counts
    assert len(_deliveries(app, "member.joined", "webhook")) == 43
    assert len(_deliveries(app, "member.joined", "email")) == 43


def test_publish_many_addresses_each_event_to_its_own_orgs(world, app):
    from sqlalchemy import select

    from supplychain.extensions import db
    from supplychain.models.events import Event, EventRecipient
    from supplychain.services.events import NewEvent, publish_many

    w = world
    d1a, s1 = w.parties["D1a"], w.parties["S1"]
    d1a_hook = _endpoint(app, w.chain_id, d1a.org_id, d1a.user_id, ["link.created"])
    # Takes member.updated, but that event of the batch is addressed to the owner only.
    _endpoint(app, w.chain_id, s1.org_id, s1.user_id, ["member.updated"])
    batch = [
        NewEvent("link.created", "link", 901, {"id": "901"}, (int(d1a.org_id), int(s1.org_id))),
        NewEvent("member.updated", "org", 902, {"org_id": "902"}, (int(w.owner.org_id),)),
        NewEvent("link.created", "link", 903, {"id": "903"}, (int(s1.org_id), int(s1.org_id))),
    ]
    with app.app_context():
        assert publish_many(db.session, chain_id=int(w.chain_id), events=batch) == 3
        rows = db.session.execute(
            select(Event.subject_id, Event.type, Event.data, EventRecipient.org_id)
            .join(EventRecipient, EventRecipient.event_id == Event.id)
            .where(Event.subject_id.in_([901, 902, 903]))
        ).all()
        with pytest.raises(ValueError, match="one event per type and subject"):
            publish_many(db.session, chain_id=int(w.chain_id), events=[batch[0], batch[0]])
        with pytest.raises(ValueError, match="unknown event types"):
            publish_many(
                db.session,
                chain_id=int(w.chain_id),
                events=[NewEvent("order.teleported", "order", 1, {}, (1,))],
            )
        db.session.commit()
        db.session.remove()
    addressed: dict[int, set[str]] = {}
    for subject_id, type_, data, org_id in rows:
        assert data == ({"org_id": "902"} if type_ == "member.updated" else {"id": str(subject_id)})
        addressed.setdefault(subject_id, set()).add(str(org_id))
    assert addressed == {901: {d1a.org_id, s1.org_id}, 902: {w.owner.org_id}, 903: {s1.org_id}}
    (hook,) = _deliveries(app, "link.created", "webhook")
    assert hook.endpoint_id == d1a_hook and _addressed(app, "link.created")[hook.event_id] == {
        d1a.org_id,
        s1.org_id,
    }
    assert _deliveries(app, "member.updated", "webhook") == []
