"""Mail to people invited but not yet activated: the invitation, and short pre-activation notes.

A kind of mail of its own, written by the email sender (sending.py) for a person whose account is
not active yet, whatever their claimed deliveries are:
- `contact.invited` deliveries: the invitation (services.invitations), naming the chain, the
  inviting org and the person's own org, with the link `/activate/<code>` (the code filled in)
  and the code's expiry;
- notice and order deliveries (models.invitations.PRE_ACTIVATION_EVENTS): a short note per
  event (its headline, its sender, its due time) and the activation link without the code, and
  no link to the notice or order: nothing here lets anyone in without activating.
Both carry the one-click unsubscribe link, as all mail does. The code is worked out from the
invitation's salt and SECRET_KEY as the message is written (it is stored nowhere); a code the
settings no longer give (SECRET_KEY changed, a code from before revision 0019) is not sent.

`load_pending` reads what these messages need in the sender's short transaction; `refusal` says
why a delivery is not sent; `pending_message` writes the message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.models import Org, User
from supplychain.models.invitations import PRE_ACTIVATION_EVENTS, Invitation
from supplychain.outbound.deliveries import Claimed
from supplychain.outbound.mail.content import parse_time, render_message
from supplychain.outbound.mail.unsubscribe import unsubscribe_token
from supplychain.outbound.vocabulary import VOCABULARY
from supplychain.services.invitations import INVITATION_EVENT
from supplychain.services.invite_codes import current_code
from supplychain.timefmt import format_datetime as format_local_time

INVITATION_TEMPLATE = "invitation"


@dataclass(frozen=True)
class PendingFacts:
    """What the mail of one not yet activated person needs, read before the session ends."""

    org_name: str
    code: str | None
    inviter_org: str | None
    expires_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class PendingBatch:
    """The batch's not yet activated people and the names of the orgs their events come from."""

    people: dict[int, PendingFacts]
    org_names: dict[int, str]


def _sender_org_id(data: dict[str, Any]) -> int | None:
    """The org a notice or order event comes from (its sender, or the order's issuer)."""
    for key in ("sender_org_id", "issuer_id", "buyer_id"):
        value = data.get(key)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def load_pending(
    session: Session, secret_key: str, users: dict[int, User], claimed: list[Claimed]
) -> PendingBatch:
    """The facts of the batch's not yet activated people, in three queries."""
    waiting = {
        u.id: u for u in users.values() if u.password_hash is None and u.activated_at is None
    }
    if not waiting:
        return PendingBatch({}, {})
    invitations = {
        row.user_id: row
        for row in session.scalars(select(Invitation).where(Invitation.user_id.in_(list(waiting))))
    }
    org_ids = {u.org_id for u in waiting.values()}
    org_ids |= {i.inviter_org_id for i in invitations.values() if i.inviter_org_id}
    org_ids |= {
        org_id
        for c in claimed
        if c.user_id in waiting
        for org_id in [_sender_org_id(c.data)]
        if org_id is not None
    }
    names = dict(session.execute(select(Org.id, Org.name).where(Org.id.in_(org_ids))).all())
    people = {}
    for user_id, user in waiting.items():
        invitation = invitations.get(user_id)
        people[user_id] = PendingFacts(
            org_name=names.get(user.org_id, ""),
            code=current_code(secret_key, invitation, user),
            inviter_org=names.get(invitation.inviter_org_id) if invitation else None,
            expires_at=invitation.expires_at if invitation else None,
            sent_at=invitation.sent_at if invitation else None,
        )
    return PendingBatch(people, names)


def wanted(preference: Any, event_type: str) -> bool:
    """Whether a person's mail preference lets this delivery go: invitations unless all mail
    is off; everything else as the preference says."""
    if event_type == INVITATION_EVENT:
        return preference.email != "off"
    return bool(preference.wants(event_type))


def refusal(claimed: Claimed, user: User, batch: PendingBatch) -> str | None:
    """Why this delivery to `user` is not sent (None: it is): an invitation to someone active
    already or whose code cannot be written; a note on an event a pending person is not told of."""
    facts = batch.people.get(user.id)
    if claimed.event_type == INVITATION_EVENT:
        if facts is None:
            return "the person has activated their account already."
        if facts.code is None:
            return "the invitation's code is no longer live (replaced, used or from before 0019)."
        return None
    if facts is not None and claimed.event_type not in PRE_ACTIVATION_EVENTS:
        return "the person has not activated their account yet."
    return None


def pending_message(writer: Any, person: Any, claimed: list[Claimed], batch: PendingBatch) -> Any:
    """The message to a not yet activated person: the invitation (when one is among `claimed`)
    and a short note per notice or order, in the person's language."""
    facts = batch.people[person.id]
    lang = person.lang
    _: Callable[..., str] = writer.gettext(lang)
    base = writer.base
    config = writer.config
    invited = [c for c in claimed if c.event_type == INVITATION_EVENT]
    events = [c for c in claimed if c.event_type != INVITATION_EVENT]
    first_chain = writer.chains.get(claimed[0].chain_id)
    chain_name = first_chain.name if first_chain else ""
    timezone = first_chain.timezone if first_chain else None

    def local(value: datetime | None) -> str | None:
        return format_local_time(value, timezone, lang) if value is not None else None

    notes = [_short_note(c, writer, batch, lang, _) for c in events]
    invitation = None
    if invited and facts.code is not None:
        chain = writer.chains.get(invited[-1].chain_id)
        invitation = {
            "chain": chain.name if chain else chain_name,
            "inviter": facts.inviter_org or (chain.name if chain else ""),
            "org": facts.org_name,
            "code": facts.code,
            "link": f"{base}/activate/{facts.code}",
            "expires": local(facts.expires_at),
        }
        subject = _(
            "%(inviter)s invites you to the supply chain %(chain)s",
            inviter=invitation["inviter"],
            chain=invitation["chain"],
        )
    elif len(notes) == 1:
        subject = f"[{chain_name}] {notes[0]['headline']}" if chain_name else notes[0]["headline"]
    else:
        subject = _("%(count)s updates from your supply chains", count=len(notes))
    token = unsubscribe_token(config["SECRET_KEY"], person.id)
    return render_message(
        INVITATION_TEMPLATE,
        lang,
        subject,
        (person.name, person.email),
        config["MAIL_FROM"],
        {
            "name": person.name,
            "invitation": invitation,
            "notes": notes,
            "org": facts.org_name,
            "inviter": facts.inviter_org,
            "activate_url": f"{base}/activate",
            "invited_on": local(facts.sent_at),
            "expires": local(facts.expires_at),
        },
        unsubscribe_url=f"{base}/unsubscribe/{token}",
        gettext=_,
    )


def _short_note(
    claimed: Claimed, writer: Any, batch: PendingBatch, lang: str, _: Callable[..., str]
) -> dict[str, Any]:
    """One event as a pending person sees it: headline, chain, sender and due time, no link."""
    data = claimed.data
    chain = writer.chains.get(claimed.chain_id)
    timezone = chain.timezone if chain else None
    words = VOCABULARY.get(claimed.event_type)
    headline = (words.subject if words else None) or ""
    if claimed.event_type.startswith("notice."):
        text = _(headline, title=str(data.get("title") or ""))
    else:
        text = _(headline, number=str(data.get("number") or data.get("id") or ""))
    facts: list[tuple[str, str]] = []
    if chain is not None:
        facts.append((_("Chain"), chain.name))
    sender = _sender_org_id(data)
    if sender is not None and sender in batch.org_names:
        facts.append((_("From"), batch.org_names[sender]))
    due = parse_time(data.get("ack_due"))
    if due is not None:
        facts.append((_("Acknowledge by"), format_local_time(due, timezone, lang)))
    return {"headline": text, "facts": facts}
