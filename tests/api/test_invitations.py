"""Invitations (issue 22): mailed to every contact created with an email, through the outbox and a
real SMTP server; resent with a new code (the old one dies, at most hourly); expiring; notices and
orders reaching invited people before they activate; codes kept nowhere in clear."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from supplychain.extensions import db
from supplychain.models import Contact, Delivery, Event, IdempotencyRecord, User
from supplychain.models.base import utcnow
from supplychain.models.invitations import Invitation
from supplychain.outbound.worker import Worker
from supplychain.services.invitations import INVITATION_EVENT
from supplychain.services.invite_codes import code_hash
from tests.api.test_imports import upload, xlsx
from tests.conftest import PASSWORD, activate
from tests.mailserver import Collector, app_mailing_to_server

BASE = "https://sc.example"
ACTIVATE_LINK = re.compile(re.escape(BASE) + r"/activate/([A-Z0-9-]{19})")
HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture
def smtp(app, monkeypatch) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, BASE) as collector:
        yield collector


def drain(app) -> int:
    """Run one worker until nothing is due; how many deliveries it handled."""
    worker, handled = Worker(app), 0
    while done := worker.run_once():
        handled += done
    return handled


def sheet_rows(count: int, prefix: str = "INV") -> list[list]:
    """`count` contacts, two per company."""
    return [
        [
            f"Dealer {i // 2}",
            "dealer",
            f"{prefix}-{i // 2:03d}",
            f"New {prefix}",
            f"Person {i}",
            f"p{i}@{prefix.lower()}.example",
            None,
            None,
            "admin" if i % 2 == 0 else "staff",
        ]
        for i in range(count)
    ]


def add_contact(world, org_id: str, email: str, token: str | None = None, **extra):
    return world.api.post(
        world.path(f"/members/{org_id}/contacts"),
        {"name": email.split("@")[0], "email": email, **extra},
        token=token or world.owner.token,
    )


def resend(world, org_id: str, user_id: str, token: str | None = None):
    return world.api.post(
        world.path(f"/members/{org_id}/contacts/{user_id}/invite"),
        None,
        token=token or world.owner.token,
    )


def invitation_deliveries(app) -> list[Delivery]:
    with app.app_context():
        found = db.session.scalars(
            select(Delivery)
            .join(Event, Event.id == Delivery.event_id)
            .where(Event.type == INVITATION_EVENT)
            .order_by(Delivery.id)
        ).all()
        db.session.expunge_all()
        db.session.remove()
    return list(found)


def age_invitation(app, user_id: str, *, issued: timedelta, expires: timedelta | None = None):
    """Move a person's invitation into the past (issued `issued` ago; expiring `expires` from
    now), as time passing would."""
    values = {"issued_at": utcnow() - issued}
    if expires is not None:
        values["expires_at"] = utcnow() + expires
    with app.app_context():
        db.session.execute(
            update(Invitation).where(Invitation.user_id == int(user_id)).values(**values)
        )
        db.session.commit()


def codes_in(received) -> list[str]:
    return ACTIVATE_LINK.findall(received.part("plain"))


# --- invitation mail -------------------------------------------------------------------------


@pytest.mark.committed
def test_an_import_of_50_contacts_mails_50_invitations_whose_links_activate(app, world, smtp):
    r = upload(world, xlsx(sheet_rows(50)))
    assert r.status_code == 201, r.text
    answered = {i["email"]: i["invite_code"] for i in r.json()["invites"]}
    assert len(answered) == 50
    # A contact added by hand in English, for the other language.
    english = add_contact(world, world.parties["D1a"].org_id, "en@bj.example", language="en")
    assert english.status_code == 201, english.text

    assert drain(app) == 51
    assert len(smtp.messages) == 51
    by_rcpt = {m.recipients[0]: m for m in smtp.messages}
    assert set(by_rcpt) == set(answered) | {"en@bj.example"}
    for email, code in answered.items():
        received = by_rcpt[email]
        assert received.message["Content-Language"] == "zh-CN"
        assert "Acme Motors 邀请您加入供应链 Acme dealers" in received.message["Subject"]
        text, html = received.part("plain"), received.part("html")
        # The chain, the inviting org and the person's own org, and the link with the code.
        dealer = f"Dealer {int(email[1:].split('@')[0]) // 2}"
        for body in (text, html):
            assert "Acme dealers" in body and "Acme Motors" in body and dealer in body
            assert f"{BASE}/activate/{code}" in body
        assert codes_in(received) == [code]
        assert str(received.message["List-Unsubscribe"]).strip().startswith(f"<{BASE}/unsub")
    en = by_rcpt["en@bj.example"]
    assert en.message["Content-Language"] == "en"
    assert en.message["Subject"] == "Acme Motors invites you to the supply chain Acme dealers"
    assert "Beijing Motors Sales" in en.part("plain")
    assert codes_in(en) == [english.json()["invite_code"]]

    # Every mailed link activates its person (here a sample, both languages).
    for received in (by_rcpt["p0@inv.example"], by_rcpt["p49@inv.example"], en):
        [code] = codes_in(received)
        assert activate(world.api, code)
    # And the invitations are no longer pending.
    statuses = {
        c["email"]: c["invitation"]["status"]
        for c in world.api.get(
            world.path("/contacts?page_size=500"), token=world.owner.token
        ).json()["items"]
        if c["invitation"]
    }
    assert statuses["p0@inv.example"] == statuses["en@bj.example"] == "activated"
    assert statuses["p1@inv.example"] == "pending"


def test_an_import_is_a_fixed_number_of_statements_whatever_its_size(world, app, count_queries):
    """Invitations add the same few statements to a small and a big import."""
    counts = []
    for prefix, size in (("AAA", 4), ("BBB", 60)):
        with count_queries() as counter:
            assert upload(world, xlsx(sheet_rows(size, prefix))).status_code == 201
        counts.append(counter.count)
    assert counts[0] == counts[1]
    assert len(invitation_deliveries(app)) == 64


def test_send_invite_false_holds_the_mail_back(world, app):
    r = upload(world, xlsx(sheet_rows(4)), token=None)
    assert r.status_code == 201
    held = world.api.request(
        "POST",
        world.path("/imports"),
        files={
            "file": (
                "more.xlsx",
                xlsx(sheet_rows(4, "HLD")),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
        params={"send_invites": "false"},
        token=world.owner.token,
    )
    assert held.status_code == 201, held.text
    assert all(i["invite_code"] for i in held.json()["invites"])
    by_hand = add_contact(world, world.parties["D1a"].org_id, "quiet@bj.example", send_invite=False)
    assert by_hand.status_code == 201, by_hand.text
    assert by_hand.json()["invite_code"]
    assert by_hand.json()["invitation"]["status"] == "pending"
    assert by_hand.json()["invitation"]["sent_at"] is None
    mailed = {d.user_id for d in invitation_deliveries(app)}
    assert len(mailed) == 4
    assert int(by_hand.json()["user_id"]) not in mailed


def test_contact_answers_show_the_invitation(world):
    r = add_contact(world, world.parties["D1b"].org_id, "new@sh.example")
    assert r.status_code == 201, r.text
    invitation = r.json()["invitation"]
    assert invitation["status"] == "pending"
    sent = invitation["sent_at"]
    expires = invitation["expires_at"]
    from datetime import datetime

    assert datetime.fromisoformat(expires) - datetime.fromisoformat(sent) == timedelta(days=14)
    detail = world.api.get(
        world.path(f"/members/{world.parties['D1b'].org_id}"), token=world.owner.token
    ).json()
    by_email = {c["email"]: c["invitation"] for c in detail["contacts"]}
    assert by_email["new@sh.example"]["status"] == "pending"
    assert by_email["d1b@sh.example"]["status"] == "activated"
    waiting = world.api.get(world.path("/members?not_activated=true"), token=world.owner.token)
    assert [m["org_id"] for m in waiting.json()["items"]] == [world.parties["D1b"].org_id]


# --- resend and expiry ------------------------------------------------------------------------


@pytest.mark.committed
def test_resend_kills_the_old_code(app, world, smtp):
    org_id = world.parties["D1a"].org_id
    first = add_contact(world, org_id, "late@bj.example", language="en")
    assert first.status_code == 201
    user_id, old = first.json()["user_id"], first.json()["invite_code"]
    age_invitation(app, user_id, issued=timedelta(hours=2))

    r = resend(world, org_id, user_id)
    assert r.status_code == 200, r.text
    assert r.json()["invite_code"] is None  # the new code travels in the mail only
    assert r.json()["invitation"]["status"] == "pending"
    drain(app)
    # The first mail and the second were both waiting: one message, with the new code.
    [received] = smtp.messages
    [new] = codes_in(received)
    assert new != old
    refused = world.api.post("/auth/activate", {"invite_code": old, "password": PASSWORD})
    assert refused.status_code == 404
    assert activate(world.api, new)


def test_resend_at_most_hourly_with_retry_after(world, app):
    org_id = world.parties["D1a"].org_id
    user_id = add_contact(world, org_id, "soon@bj.example").json()["user_id"]
    r = resend(world, org_id, user_id)
    assert r.status_code == 409
    assert 3500 <= int(r.headers["Retry-After"]) <= 3600
    assert "hour" in r.json()["message"]
    age_invitation(app, user_id, issued=timedelta(minutes=59))
    r = resend(world, org_id, user_id)
    assert r.status_code == 409 and 1 <= int(r.headers["Retry-After"]) <= 60
    age_invitation(app, user_id, issued=timedelta(minutes=61))
    assert resend(world, org_id, user_id).status_code == 200
    assert resend(world, org_id, user_id).status_code == 409


def test_resend_refusals(world, app):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    user_id = add_contact(world, d1a.org_id, "x@bj.example").json()["user_id"]
    age_invitation(app, user_id, issued=timedelta(hours=2))
    # Already active: 409.
    active = resend(world, d1a.org_id, d1a.user_id)
    assert active.status_code == 409 and "activated" in active.json()["message"]
    # Outside the chain, or another org's admin: 404 (as if there were no such contact).
    assert resend(world, d1a.org_id, user_id, token=world.outsider.token).status_code == 404
    assert resend(world, d1a.org_id, user_id, token=d1b.token).status_code == 404
    # The contact named under another org, or nobody: 404.
    assert resend(world, d1b.org_id, user_id).status_code == 404
    assert resend(world, d1a.org_id, "999999").status_code == 404
    assert resend(world, d1a.org_id, "not-an-id").status_code == 404
    # The owner's staff: 403.
    assert resend(world, d1a.org_id, user_id, token=world.owner_staff.token).status_code == 403
    # Nothing of that changed the invitation.
    assert not [d for d in invitation_deliveries(app) if d.user_id == int(user_id)][1:]
    # The org's own admin may.
    assert resend(world, d1a.org_id, user_id, token=d1a.token).status_code == 200


def test_a_contact_without_email_is_422_explaining_the_handed_out_code(world, app):
    d1a = world.parties["D1a"]
    with app.app_context():
        user = User(
            org_id=int(d1a.org_id),
            email=None,
            name="Mobile only",
            mobile="13800000009",
            invite_code_hash=code_hash("AAAA-BBBB-CCCC-DDDD"),
        )
        db.session.add(user)
        db.session.flush()
        db.session.add(
            Contact(chain_id=int(world.chain_id), org_id=int(d1a.org_id), user_id=user.id)
        )
        db.session.commit()
        user_id = str(user.id)
    r = resend(world, d1a.org_id, user_id)
    assert r.status_code == 422
    assert "handed out by hand" in r.json()["message"]
    assert "email" in r.json()["errors"]


def test_an_expired_code_is_refused_saying_whom_to_ask(world, app):
    r = add_contact(world, world.parties["D1a"].org_id, "old@bj.example")
    user_id, code = r.json()["user_id"], r.json()["invite_code"]
    age_invitation(app, user_id, issued=timedelta(days=15), expires=timedelta(seconds=-1))
    refused = world.api.post("/auth/activate", {"invite_code": code, "password": PASSWORD})
    assert refused.status_code == 404
    assert refused.json()["message"] == (
        "This invitation code has expired. Ask Acme Motors for a new one."
    )
    detail = world.api.get(
        world.path(f"/members/{world.parties['D1a'].org_id}"), token=world.owner.token
    ).json()
    [mine] = [c for c in detail["contacts"] if c["email"] == "old@bj.example"]
    assert mine["invitation"]["status"] == "expired"
    # A new invitation makes a person with an expired code able to activate again.
    assert resend(world, world.parties["D1a"].org_id, user_id).status_code == 200


def test_resend_to_everyone_not_yet_activated(world, app):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    early = add_contact(world, d1a.org_id, "a@bj.example").json()["user_id"]
    add_contact(world, d1b.org_id, "b@sh.example")
    age_invitation(app, early, issued=timedelta(hours=3))
    path = world.path("/invitations/resend")
    assert world.api.post(path, None, token=d1a.token).status_code == 403
    assert world.api.post(path, None, token=world.outsider.token).status_code == 404
    r = world.api.post(path, None, token=world.owner.token)
    assert r.status_code == 200, r.text
    assert r.json() == {"resent": 1, "too_soon": 1, "shared": 0}
    again = world.api.post(path, None, token=world.owner.token)
    assert again.json() == {"resent": 0, "too_soon": 2, "shared": 0}


# --- reach before activation ------------------------------------------------------------------


def _notice(world, org_id: str) -> dict:
    r = world.api.post(
        world.path("/notices"),
        {
            "kind": "supply",
            "title": "Allocation for new dealers",
            "body": "Secret allocation details",
            "items": [{"sku": "MX-100", "qty": "12"}],
            "audience": {"orgs": [org_id]},
            "requires_ack": True,
            "ack_due": (utcnow() + timedelta(days=3)).isoformat(),
        },
        token=world.owner.token,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.committed
def test_a_notice_reaches_a_freshly_imported_pending_contact(app, world, smtp):
    r = world.api.request(
        "POST",
        world.path("/imports"),
        files={
            "file": (
                "one.xlsx",
                xlsx(sheet_rows(1, "NEW")),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
        params={"send_invites": "false"},
        token=world.owner.token,
    )
    assert r.status_code == 201, r.text
    org_id = world.api.get(world.path("/members?q=NEW-000"), token=world.owner.token).json()[
        "items"
    ][0]["org_id"]
    notice = _notice(world, org_id)

    drain(app)
    [received] = smtp.messages
    assert received.recipients == ["p0@new.example"]
    text, html = received.part("plain"), received.part("html")
    for body in (text, html):
        assert "Allocation for new dealers" in body
        assert "Acme Motors" in body  # the sender
        assert f"{BASE}/activate" in body
        assert "Secret allocation details" not in body and "MX-100" not in body
        assert f"/notices/{notice['id']}" not in body
        # No code either: it travels in the invitation mail alone.
        assert not ACTIVATE_LINK.search(body)
    links = set(HREF.findall(html))
    assert all(
        link == f"{BASE}/activate" or link.startswith(f"{BASE}/unsubscribe/") for link in links
    )
    # Without signing in, the notice's page and API answer nothing.
    assert world.api.get(world.path(f"/notices/{notice['id']}"), token=None).status_code == 401


@pytest.mark.committed
def test_an_unsubscribed_pending_person_gets_nothing(app, world, smtp):
    org_id = world.parties["D1b"].org_id
    r = add_contact(world, org_id, "unsub@sh.example")
    user_id = r.json()["user_id"]
    drain(app)
    [invitation] = smtp.messages
    link = str(invitation.message["List-Unsubscribe"]).strip()[1:-1]
    one_click = world.api.transport.send("POST", link.removeprefix(BASE), headers={})
    assert one_click.status_code == 200

    _notice(world, org_id)
    age_invitation(app, user_id, issued=timedelta(hours=2))
    assert resend(world, org_id, user_id).status_code == 200
    drain(app)
    # The invitation before unsubscribing, nothing after (the org's active admin got the notice).
    assert [m.recipients[0] for m in smtp.messages] == ["unsub@sh.example", "d1b@sh.example"]
    with app.app_context():
        outcomes = db.session.execute(
            select(Delivery.status, Delivery.last_error).where(Delivery.user_id == int(user_id))
        ).all()
        db.session.remove()
    assert ("failed", "Not sent: the person turned this mail off.") in outcomes
    assert all(status != "pending" for status, _ in outcomes)


# --- codes kept nowhere in clear --------------------------------------------------------------


def test_replays_of_creation_answers_carry_no_code(world, app):
    headers = {"Idempotency-Key": "member-with-contact"}
    body = {
        "org": {"name": "Replay Dealer", "kind": "dealer"},
        "custom_id": "DLR-RPL",
        "contacts": [{"name": "R", "email": "r@replay.example"}],
    }
    first = world.api.post(world.path("/members"), body, token=world.owner.token, headers=headers)
    assert first.status_code == 201
    code = first.json()["contacts"][0]["invite_code"]
    assert code
    again = world.api.post(world.path("/members"), body, token=world.owner.token, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["contacts"][0]["invite_code"] is None
    with app.app_context():
        stored = db.session.scalars(select(IdempotencyRecord.response_body)).all()
        hashes = db.session.scalars(select(User.invite_code_hash)).all()
        db.session.remove()
    assert not any(code in answer for answer in stored)
    assert code_hash(code) in hashes and code not in hashes
    assert activate(world.api, code)


def test_a_wecom_import_mails_those_with_email_and_getresult_shows_live_codes(world, app):
    from tests.api.test_wecom import WeCom

    wecom = WeCom(world)
    wecom.login(world.owner.token, world.owner.org_id)
    started = wecom.post(
        "corpgroup/import_chain_contact",
        {
            "chain_id": world.chain_id,
            "contact_list": [
                {
                    "corp_name": "Harbin Trading",
                    "custom_id": "DLR-900",
                    "contact_info_list": [
                        {"name": "Mobile", "mobile": "13000000001"},
                        {"name": "Wang", "mobile": "13000000003", "email": "wang@harbin.example"},
                    ],
                }
            ],
        },
    )
    assert started["errcode"] == 0, started

    def invite_list() -> dict[str, dict]:
        result = wecom.get("corpgroup/getresult", jobid=started["jobid"])
        return {i["mobile"]: i for i in result["result"]["invite_list"]}

    invites = invite_list()
    assert all(invites[m]["invite_code"] for m in ("13000000001", "13000000003"))
    with app.app_context():
        job_result = db.session.execute(text("SELECT result FROM wecom_import_jobs")).scalar_one()
        db.session.remove()
    for invite in invites.values():
        assert invite["invite_code"] not in str(job_result)  # kept nowhere in clear
    # Mail for the person with an email only.
    wang = world.api.get(world.path("/contacts?q=wang"), token=world.owner.token).json()["items"]
    [mailed] = invitation_deliveries(app)[-1:]
    assert str(mailed.user_id) == wang[0]["user_id"]
    assert len([d for d in invitation_deliveries(app) if d.user_id == mailed.user_id]) == 1
    # A new code for Wang: getresult no longer shows the old one; the mobile-only code stays.
    age_invitation(app, wang[0]["user_id"], issued=timedelta(hours=2))
    assert resend(world, wang[0]["org_id"], wang[0]["user_id"]).status_code == 200
    again = invite_list()
    assert again["13000000003"]["invite_code"] is None
    assert again["13000000001"]["invite_code"] == invites["13000000001"]["invite_code"]
    assert activate(world.api, again["13000000001"]["invite_code"])
    assert invite_list()["13000000001"]["invite_code"] is None


@pytest.mark.committed
def test_two_resends_to_everyone_at_once_send_each_person_one_new_code(world, app):
    """The first resend holds its transaction open; the second, started meanwhile, waits for it
    and then finds every invitation too recent (without the lock it would resend them all)."""
    import threading

    from supplychain.access import actor_in_chain
    from supplychain.services.invitations import resend_all

    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    for org_id, email in ((d1a.org_id, "a@bj.example"), (d1b.org_id, "b@sh.example")):
        user_id = add_contact(world, org_id, email).json()["user_id"]
        age_invitation(app, user_id, issued=timedelta(hours=3))
    second: dict = {}

    def resend_meanwhile() -> None:
        r = world.api.post(world.path("/invitations/resend"), None, token=world.owner.token)
        second["answer"] = r.status_code, r.json()

    with app.app_context():
        _, access = actor_in_chain(db.session, world.owner.token, int(world.chain_id))
        assert access is not None
        first = resend_all(db.session, access)
        assert (first.resent, first.too_soon) == (2, 0)
        other = threading.Thread(target=resend_meanwhile)
        other.start()
        other.join(timeout=1.0)
        waited = other.is_alive()
        db.session.commit()
        db.session.remove()
    other.join(timeout=30)
    assert waited, "the second resend did not wait for the first"
    assert second["answer"] == (200, {"resent": 0, "too_soon": 2, "shared": 0})
