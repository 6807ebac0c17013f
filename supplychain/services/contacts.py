"""People listed as contacts of a member org: a new contact as callers give it, and listing a
person in the chain (creating the user when new, issuing the invitation code when it may)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.models import Contact, User
from supplychain.services.accounts import find_user_by_email, normalise_email
from supplychain.services.invitations import invite_new_contact
from supplychain.services.shared_orgs import SHARED_ORG


@dataclass
class NewContact:
    """A contact to add: a person of a partner org (or of the owner)."""

    name: str
    email: str
    mobile: str | None = None
    title: str | None = None
    role: str = "staff"
    # The language of the person's mail until they choose one ("en" or "zh"; None: Chinese).
    language: str | None = None
    # False: no invitation mail (the code is still issued, for the caller to hand out).
    send_invite: bool = True


@dataclass
class AddedContact:
    """A contact row with its invitation code, shown once."""

    contact: Contact
    invite_code: str | None


def check_unique_emails(contacts: list[NewContact], field_name: str) -> None:
    """422 naming the first contact whose email (normalised) an earlier one has already."""
    seen: set[str] = set()
    for i, spec in enumerate(contacts):
        email = normalise_email(spec.email)
        if email in seen:
            raise Invalid(
                "Duplicate email.", {field_name: {str(i): {"email": ["Duplicate email."]}}}
            )
        seen.add(email)


def attach_contact(
    session: Session,
    access: ChainAccess,
    org_id: int,
    spec: NewContact,
    field_name: str,
    *,
    may_issue: bool,
    relist: bool = False,
) -> AddedContact:
    """List a person as a contact of `org_id` in the chain, creating the user if new.

    `may_issue`: whether the caller may create this org's people and invitation codes (see
    shared_orgs.orgs_shared_beyond). `relist`: an existing listing (a re-added member's) is kept, not a 409.
    A person given a code is sent the invitation mail unless `spec.send_invite` is False.
    """
    chain_id = access.chain_id
    user = find_user_by_email(session, spec.email)
    code = None
    issue = False
    if user is None and not may_issue:
        raise Forbidden(SHARED_ORG, {field_name: {"email": ["Ask the org's own admins."]}})
    if user is None:
        user = User(
            org_id=org_id,
            email=normalise_email(spec.email),
            name=spec.name,
            mobile=spec.mobile,
            title=spec.title,
            role=spec.role,
            language=spec.language,
        )
        issue = True
        session.add(user)
        session.flush()
    elif user.org_id != org_id:
        raise Conflict(
            "This email belongs to a person of another org.",
            {field_name: {"email": ["Belongs to another org."]}},
        )
    else:
        exists = session.scalar(
            select(Contact).where(Contact.chain_id == chain_id, Contact.user_id == user.id)
        )
        if exists is not None and relist:
            return AddedContact(contact=exists, invite_code=None)
        if exists is not None:
            raise Conflict(
                "This person is a contact already.", {field_name: {"email": ["Already a contact."]}}
            )
        if user.password_hash is None and may_issue:
            issue = True
    contact = Contact(chain_id=chain_id, org_id=org_id, user_id=user.id)
    session.add(contact)
    session.flush()
    if issue:
        code = invite_new_contact(session, access, user, send=spec.send_invite)
    return AddedContact(contact=contact, invite_code=code)
