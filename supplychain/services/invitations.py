"""Invitations: a contact's single-use code, mailed through the outbox, resent, expiring.

Every contact created with an email (by hand, by an Excel import, by WeCom's
`import_chain_contact`) is mailed an invitation unless held back (`send_invite: false`,
`?send_invites=false`). The mail is an email delivery of a `contact.invited` event that is
addressed to no org (so no feed, no webhook sees it): the worker writes it, in the person's
language, with the link `/activate/<code>`.

Codes are never stored: `invite_codes` derives them again from a salt kept on the invitation.
A new code (a resend) replaces the salt and the hash at once: the old code stops working, and
mail still queued carries the new one.

Codes expire SUPPLYCHAIN_INVITE_DAYS after they were issued; a person may be sent a new one at
most once an hour (RESEND_INTERVAL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound, TooSoon
from supplychain.models import Contact, Delivery, Event, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.models.invitations import Invitation
from supplychain.services.audit import record_action
from supplychain.services.bulk import among_ids, insert_rows
from supplychain.services.invite_codes import app_secret_key, current_code, fresh_code
from supplychain.services.shared_orgs import SHARED_ORG, orgs_shared_beyond

INVITATION_EVENT = "contact.invited"
RESEND_INTERVAL = timedelta(hours=1)
DEFAULT_INVITE_DAYS = 14
NO_EMAIL = (
    "This person has no email address: they activate with the invitation code handed out by "
    "hand (the import's answer), so there is no invitation mail to send."
)


def invite_days() -> int:
    """How long a code lives (SUPPLYCHAIN_INVITE_DAYS, default 14)."""
    if has_app_context():
        return int(current_app.config.get("INVITE_DAYS", DEFAULT_INVITE_DAYS))
    return DEFAULT_INVITE_DAYS


@dataclass(frozen=True)
class Invitee:
    """A person just given a code: who, their address (None: no mail) and the code's salt."""

    user_id: int
    email: str | None
    salt: str


def record_invitations(
    session: Session,
    *,
    chain_id: int,
    inviter_org_id: int,
    invited_by: int | None,
    invitees: list[Invitee],
    send: bool,
    now: datetime | None = None,
) -> int:
    """Keep the invitations of people whose codes were just set (replacing earlier ones) and,
    with `send`, queue the invitation mail of those with an email address: four statements
    however many people. Returns how many mails were queued."""
    if not invitees:
        return 0
    now = now or utcnow()
    expires = now + timedelta(days=invite_days())
    mailed = [i.user_id for i in invitees if send and i.email]
    mailed_set = set(mailed)
    ids = [i.user_id for i in invitees]
    session.execute(
        delete(Invitation)
        .where(among_ids(session, Invitation.user_id, ids))
        .execution_options(synchronize_session=False)
    )
    insert_rows(
        session,
        Invitation.__table__,
        [
            {
                "user_id": i.user_id,
                "chain_id": chain_id,
                "inviter_org_id": inviter_org_id,
                "invited_by": invited_by,
                "salt": i.salt,
                "issued_at": now,
                "sent_at": now if i.user_id in mailed_set else None,
                "expires_at": expires,
            }
            for i in invitees
        ],
    )
    _queue_invitation_mail(session, chain_id, mailed, now)
    # Objects already loaded must not show the rows replaced above (a request loads few).
    replaced = set(ids)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Invitation) and loaded.user_id in replaced:
            session.expire(loaded)
    return len(mailed)


def _queue_invitation_mail(
    session: Session, chain_id: int, user_ids: list[int], now: datetime
) -> None:
    """One `contact.invited` event (addressed to no org) and one email delivery per person."""
    if not user_ids:
        return
    event = Event(
        chain_id=chain_id,
        type=INVITATION_EVENT,
        subject_type="chain",
        subject_id=chain_id,
        data={"people": len(user_ids)},
        occurred_at=now,
    )
    session.add(event)
    session.flush()
    insert_rows(
        session,
        Delivery.__table__,
        [
            {
                "event_id": event.id,
                "chain_id": chain_id,
                "channel": "email",
                "user_id": user_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for user_id in user_ids
        ],
    )


def invite_new_contact(
    session: Session,
    access: ChainAccess,
    user: User,
    *,
    send: bool,
    now: datetime | None = None,
) -> str:
    """Give a not yet activated contact a fresh code (the old one dies), keep the invitation and
    queue its mail (with `send` and an email address); the code, for the caller's answer."""
    fresh = fresh_code()
    user.invite_code_hash = fresh.hash
    session.flush()
    record_invitations(
        session,
        chain_id=access.chain_id,
        inviter_org_id=access.actor.org_id,
        invited_by=access.actor.user_id,
        invitees=[Invitee(user.id, user.email, fresh.salt)],
        send=send,
        now=now,
    )
    return fresh.code


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationStatus:
    """What contact answers and the members page show of a person's invitation."""

    status: str  # pending | activated | expired
    sent_at: datetime | None
    expires_at: datetime | None


def status_of(user: User, invitation: Invitation | None, now: datetime) -> InvitationStatus | None:
    """pending, activated or expired, with the mail's time and the code's expiry; None for a
    person never invited (nothing to show)."""
    sent = invitation.sent_at if invitation else None
    expires = invitation.expires_at if invitation else None
    if user.password_hash is not None or user.activated_at is not None:
        return InvitationStatus("activated", sent, expires)
    if user.invite_code_hash is None:
        return None
    if expires is not None and expires <= now:
        return InvitationStatus("expired", sent, expires)
    return InvitationStatus("pending", sent, expires)


def statuses_of(session: Session, users: list[User]) -> dict[int, InvitationStatus | None]:
    """The invitation status of many people, in one query."""
    if not users:
        return {}
    rows = {
        row.user_id: row
        for row in session.scalars(
            select(Invitation).where(Invitation.user_id.in_([u.id for u in users]))
        )
    }
    now = utcnow()
    return {u.id: status_of(u, rows.get(u.id), now) for u in users}


# --- resending --------------------------------------------------------------------------------


def _may_issue_in(session: Session, access: ChainAccess, org_id: int) -> bool:
    """Owner admins issue codes in orgs that are the owner's partners alone; an org's own admins
    always (see shared_orgs.orgs_shared_beyond)."""
    if access.actor.org_id == org_id:
        return True
    return org_id not in orgs_shared_beyond(session, [org_id], access.chain.owner_org_id)


def resend_invitation(
    session: Session, access: ChainAccess, org_id: int | None, user_id: int | None
) -> Contact:
    """Send a contact a new code (the old one stops working): the chain owner's admins, or the
    contact's own org's admins; at most once per RESEND_INTERVAL per person."""
    contact = None
    if org_id is not None and user_id is not None:
        contact = session.scalar(
            select(Contact)
            .join(Member, (Member.chain_id == Contact.chain_id) & (Member.org_id == Contact.org_id))
            .where(
                Contact.chain_id == access.chain_id,
                Contact.org_id == org_id,
                Contact.user_id == user_id,
                Member.is_current,
            )
        )
    own_org = contact is not None and access.actor.org_id == contact.org_id
    if contact is None or not (access.is_owner or own_org):
        # Another org's people are not the caller's business: not found, as outside the chain.
        raise NotFound("No such contact in this chain.")
    if not access.actor.is_admin:
        raise Forbidden("Only the chain owner's admins or this org's admins may send invitations.")
    if not _may_issue_in(session, access, contact.org_id):
        raise Forbidden(SHARED_ORG)
    user = session.scalars(select(User).where(User.id == contact.user_id).with_for_update()).one()
    if user.password_hash is not None or user.activated_at is not None:
        raise Conflict("This person has activated their account already.")
    if user.email is None:
        raise Invalid(NO_EMAIL, {"email": [NO_EMAIL]})
    now = utcnow()
    invitation = session.get(Invitation, user.id)
    if invitation is not None and invitation.issued_at > now - RESEND_INTERVAL:
        wait = invitation.issued_at + RESEND_INTERVAL - now
        raise TooSoon(
            "An invitation was sent to this person less than an hour ago; try again later.",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )
    invite_new_contact(session, access, user, send=True, now=now)
    record_action(
        session, access, "contact.invite", "user", user.id, data={"org_id": str(contact.org_id)}
    )
    return contact


@dataclass(frozen=True)
class ResendSummary:
    """What a resend to every not yet activated contact did."""

    resent: int
    too_soon: int
    shared: int


def not_activated_contacts(chain_id: int, *, with_email: bool = True) -> Any:
    """SELECT (user id, org id) of the chain's current contacts invited and not yet activated
    (`with_email`: only those with an email address)."""
    stmt = (
        select(User.id, Contact.org_id)
        .join(Contact, Contact.user_id == User.id)
        .join(Member, (Member.chain_id == Contact.chain_id) & (Member.org_id == Contact.org_id))
        .where(
            Contact.chain_id == chain_id,
            Member.is_current,
            User.password_hash.is_(None),
            User.activated_at.is_(None),
            User.invite_code_hash.is_not(None),
        )
    )
    return stmt.where(User.email.is_not(None)) if with_email else stmt


def resend_all(session: Session, access: ChainAccess) -> ResendSummary:
    """A new code for every contact of the chain not yet activated (owner admins), except those
    sent one less than an hour ago and those of orgs shared with another owner (their own
    admins invite them): a fixed number of statements however many people."""
    access.require_owner_admin()
    # The people are locked (PostgreSQL; SQLite's writers are serial already): a second resend
    # at the same moment, or a single one, waits and then finds their invitations too recent.
    rows = session.execute(not_activated_contacts(access.chain_id).with_for_update(of=User)).all()
    now = utcnow()
    org_ids = sorted({org_id for _, org_id in rows})
    shared = orgs_shared_beyond(session, org_ids, access.chain.owner_org_id)
    candidates = [user_id for user_id, org_id in rows if org_id not in shared]
    recent = set()
    if candidates:
        recent = set(
            session.scalars(
                select(Invitation.user_id).where(
                    among_ids(session, Invitation.user_id, candidates),
                    Invitation.issued_at > now - RESEND_INTERVAL,
                )
            )
        )
    chosen = [user_id for user_id in dict.fromkeys(candidates) if user_id not in recent]
    emails: dict[int, str | None] = {}
    if chosen:
        emails = dict(
            session.execute(
                select(User.id, User.email).where(among_ids(session, User.id, chosen))
            ).all()
        )
    secret_key = app_secret_key()
    fresh = {user_id: fresh_code(secret_key) for user_id in chosen}
    if fresh:
        session.execute(
            update(User),
            [{"id": user_id, "invite_code_hash": f.hash} for user_id, f in fresh.items()],
        )
    record_invitations(
        session,
        chain_id=access.chain_id,
        inviter_org_id=access.actor.org_id,
        invited_by=access.actor.user_id,
        invitees=[Invitee(user_id, emails.get(user_id), f.salt) for user_id, f in fresh.items()],
        send=True,
        now=now,
    )
    summary = ResendSummary(
        resent=len(chosen),
        too_soon=len(recent),
        shared=sum(1 for _, org_id in rows if org_id in shared),
    )
    record_action(
        session,
        access,
        "contact.invite_all",
        "chain",
        access.chain_id,
        data={"resent": summary.resent, "too_soon": summary.too_soon, "shared": summary.shared},
    )
    return summary


# --- activation -------------------------------------------------------------------------------


def end_invitation_mail(session: Session, user_id: int) -> None:
    """A person who activated is sent no invitation still waiting in the outbox: those
    deliveries, never tried, are dropped (one statement; one being sent right now is refused
    by the sender, which finds the person active)."""
    invitation_events = select(Event.id).where(Event.type == INVITATION_EVENT)
    session.execute(
        delete(Delivery)
        .where(
            Delivery.user_id == user_id,
            Delivery.channel == "email",
            Delivery.status == "pending",
            Delivery.lease_until.is_(None),
            Delivery.event_id.in_(invitation_events),
        )
        .execution_options(synchronize_session=False)
    )


class InvitationExpired(NotFound):
    """A known code past its expiry: 404 as any dead code, naming whom to ask for a new one."""

    def __init__(
        self, expired_at: datetime, inviter_org: str | None, inviter: tuple[str, str] | None
    ) -> None:
        who = f" Ask {inviter_org} for a new one." if inviter_org else " Ask for a new one."
        message = "This invitation code has expired." + who
        super().__init__(message, {"invite_code": [message]})
        self.expired_at = expired_at
        self.inviter_org = inviter_org
        self.inviter = inviter  # (name, email) of the person who sent it, when known


def refuse_expired(session: Session, user: User) -> None:
    """Raise InvitationExpired when the person's code is past its expiry."""
    invitation = session.get(Invitation, user.id)
    if invitation is None or invitation.expires_at > utcnow():
        return
    org = session.get(Org, invitation.inviter_org_id) if invitation.inviter_org_id else None
    sender = session.get(User, invitation.invited_by) if invitation.invited_by else None
    inviter = (sender.name, sender.email) if sender is not None and sender.email else None
    raise InvitationExpired(invitation.expires_at, org.name if org else None, inviter)


# --- codes shown again to their owner ---------------------------------------------------------


def stored_invite_list(session: Session, invites: list[Any]) -> list[dict[str, Any]]:
    """What a WeCom import job keeps of the people it invited (imports.Invite): who, and which
    invitation (its issue time), never the code itself."""
    ids = [i.user_id for i in invites if i.user_id is not None]
    issued = {}
    if ids:
        issued = dict(
            session.execute(
                select(Invitation.user_id, Invitation.issued_at).where(
                    among_ids(session, Invitation.user_id, ids)
                )
            ).all()
        )
    return [
        {
            "custom_id": i.custom_id,
            "mobile": i.mobile,
            "email": i.email,
            "user_id": i.user_id,
            "issued_at": issued[i.user_id].isoformat() if i.user_id in issued else None,
        }
        for i in invites
    ]


def shown_invite_list(session: Session, stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A job's invite list as getresult shows it to the owner's org: each person's code while
    that very invitation is the live one (since activated, expired or sent a new code: null).
    Lists kept before revision 0019 have had their codes removed: null too."""
    wanted = {
        item["user_id"]: item.get("issued_at")
        for item in stored
        if isinstance(item.get("user_id"), int)
    }
    codes: dict[int, str] = {}
    if wanted:
        rows = session.execute(
            select(Invitation, User)
            .join(User, User.id == Invitation.user_id)
            .where(among_ids(session, Invitation.user_id, list(wanted)))
        ).all()
        secret_key = app_secret_key()
        now = utcnow()
        for invitation, user in rows:
            live = status_of(user, invitation, now)
            if invitation.issued_at.isoformat() != wanted.get(user.id) or live is None:
                continue
            code = current_code(secret_key, invitation, user)
            if code is not None and live.status == "pending":
                codes[user.id] = code
    return [
        {
            "custom_id": item.get("custom_id"),
            "mobile": item.get("mobile"),
            "email": item.get("email"),
            "invite_code": codes.get(item.get("user_id")),  # type: ignore[arg-type]
        }
        for item in stored
    ]
