"""Invitation pages: the mail's activation link, an expired code explained with whom to ask,
a contact's invitation status and resend on the member page, and the owner's "not yet activated"
filter with its resend-to-all."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models.base import utcnow
from supplychain.models.invitations import Invitation
from tests.conftest import PASSWORD


def _contact(world, email: str) -> dict:
    r = world.api.post(
        world.path(f"/members/{world.parties['D1a'].org_id}/contacts"),
        {"name": "New person", "email": email},
        token=world.owner.token,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _age(app, user_id: str, **values) -> None:
    with app.app_context():
        db.session.execute(
            update(Invitation).where(Invitation.user_id == int(user_id)).values(**values)
        )
        db.session.commit()


def test_the_mail_link_fills_the_code_in_and_activates(world, web):
    contact = _contact(world, "link@bj.example")
    browser = web()
    page = browser.get(f"/activate/{contact['invite_code']}")
    assert page.status_code == 200
    assert f'value="{contact["invite_code"]}"' in page.text
    done = browser.post(
        "/activate",
        {"invite_code": contact["invite_code"], "password": PASSWORD, "password2": PASSWORD},
    )
    assert done.status_code == 200 and "Your account is active" in done.text


def test_an_expired_code_is_explained_with_whom_to_ask(app, world, web):
    contact = _contact(world, "late@bj.example")
    _age(app, contact["user_id"], expires_at=utcnow() - timedelta(minutes=1))
    browser = web()
    browser.get(f"/activate/{contact['invite_code']}")
    form = {"invite_code": contact["invite_code"], "password": PASSWORD, "password2": PASSWORD}
    page = browser.post("/activate", form)
    assert page.status_code == 404
    assert "This invitation code has expired." in page.text
    assert "Ask Acme Motors for a new invitation" in page.text
    assert 'href="mailto:admin@acme.example?subject=' in page.text
    chinese = browser.post("/activate", form, headers={"Accept-Language": "zh-CN"})
    assert "此邀请码已过期。" in chinese.text and "向 Acme Motors 索取新的邀请" in chinese.text
    # Nothing was activated.
    assert (
        world.api.post(
            "/auth/login", {"email": "late@bj.example", "password": PASSWORD}
        ).status_code
        == 401
    )


def test_the_member_page_shows_the_invitation_and_resends_it(app, world, web):
    contact = _contact(world, "again@bj.example")
    browser = web()
    browser.login(world.owner.email)
    member = f"/chains/{world.chain_id}/members/{world.parties['D1a'].org_id}"
    page = browser.get(member)
    assert "code valid until" in page.text and "mailed" in page.text
    resend = f"{member}/contacts/{contact['user_id']}/invite"
    too_soon = browser.post(resend)
    assert too_soon.status_code == 200  # back on the member page, saying why
    assert "less than an hour ago" in too_soon.text
    _age(app, contact["user_id"], issued_at=utcnow() - timedelta(hours=2))
    sent = browser.post(resend)
    assert "A new invitation was sent" in sent.text


def test_the_owner_filters_the_not_yet_activated_and_resends_to_all(app, world, web):
    contact = _contact(world, "all@bj.example")
    _age(app, contact["user_id"], issued_at=utcnow() - timedelta(hours=2))
    browser = web()
    browser.login(world.owner.email)
    members = f"/chains/{world.chain_id}/members"
    filtered = browser.get(f"{members}?not_activated=1")
    assert "Beijing Motors Sales" in filtered.text and "Shanghai Auto Trade" not in filtered.text
    assert "Send a new invitation to everyone not yet activated" in filtered.text
    done = browser.post(f"/chains/{world.chain_id}/invitations/resend")
    assert "New invitations sent: 1; sent less than an hour ago, skipped: 0." in done.text
    # A partner's admin sees no such button and may not use it.
    dealer = web()
    dealer.login(world.parties["D1a"].email)
    assert "Send a new invitation to everyone" not in dealer.get(f"{members}?not_activated=1").text
    refused = dealer.post(f"/chains/{world.chain_id}/invitations/resend")
    assert "Only the chain owner&#39;s people may do this." in refused.text


def test_the_import_page_mails_invitations_unless_unchecked(app, world, web):
    from tests.api.test_imports import xlsx
    from tests.api.test_invitations import invitation_deliveries, sheet_rows

    browser = web()
    browser.login(world.owner.email)
    page = browser.get(f"/chains/{world.chain_id}/import")
    assert re.search(r'name="send_invites" value="1" checked', page.text)
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    mailed = browser.post(
        f"/chains/{world.chain_id}/import",
        {"send_invites": "1"},
        files={"file": ("a.xlsx", xlsx(sheet_rows(2, "PGA")), mime)},
    )
    assert "is also mailed the invitation" in mailed.text
    assert len(invitation_deliveries(app)) == 2
    held = browser.post(
        f"/chains/{world.chain_id}/import",
        {},
        files={"file": ("b.xlsx", xlsx(sheet_rows(2, "PGB")), mime)},
    )
    assert "Imported" in held.text and "is also mailed the invitation" not in held.text
    assert len(invitation_deliveries(app)) == 2
