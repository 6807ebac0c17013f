"""Members and their contacts: adding, moving and removing partners, the pages of members and
contacts the caller may see, and who may create people in orgs shared with other owners. How a
person is listed as a contact (created, invited) is in contacts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from supplychain import graph as chain_graphs
from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import Contact, Group, Link, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.models.directory import MAX_CUSTOM_ID, ORG_KINDS, USER_ROLES, valid_custom_id
from supplychain.services.audit import record_action, record_event
from supplychain.services.chains import bump_graph_version, chain_graph, lock_chain
from supplychain.services.contacts import (
    AddedContact,
    NewContact,
    attach_contact,
    check_unique_emails,
)
from supplychain.services.events import publish
from supplychain.services.groups import ensure_group, normalise_group_path, paths_within
from supplychain.services.invitations import not_activated_contacts
from supplychain.services.notification_settings import MAIL_LANGUAGES
from supplychain.services.pagination import Page, paginate
from supplychain.services.shared_orgs import orgs_shared_beyond
from supplychain.services.visibility import visible_members_clause


@dataclass
class MemberView:
    """A member as the API shows it, with its computed tier and optionally its contacts."""

    member: Member
    tier: str
    contacts: list[Any] = field(default_factory=list)


def _member_base(access: ChainAccess) -> Select:
    return (
        select(Member)
        .join(Org, Org.id == Member.org_id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Member.chain_id == access.chain_id, Member.is_current)
    )


def require_member(session: Session, access: ChainAccess, org_id: int | None) -> Member:
    """A current member that the caller may see; 404 otherwise."""
    stmt = _member_base(access).where(Member.org_id == org_id)
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    member = session.scalar(stmt) if org_id is not None else None
    if member is None:
        raise NotFound("No such member in this chain.")
    return member


def _check_custom_id_free(
    session: Session, chain_id: int, custom_id: str, org_id: int | None
) -> None:
    holder = session.scalar(
        select(Member.org_id).where(
            Member.chain_id == chain_id, Member.custom_id == custom_id, Member.is_current
        )
    )
    if holder is not None and holder != org_id:
        raise Conflict(
            "This custom id belongs to another member.", {"custom_id": ["Already in use."]}
        )


def add_member(
    session: Session,
    access: ChainAccess,
    *,
    org_id: int | None,
    new_org: dict[str, str] | None,
    custom_id: str,
    group_path: str | None,
    contacts: list[NewContact],
) -> tuple[MemberView, list[AddedContact]]:
    """Add a partner org (new or existing) with its contacts; custom_id unique per chain."""
    access.require_owner_admin()
    _check_member_fields(custom_id, new_org, contacts)
    if (org_id is None) == (new_org is None):
        raise Invalid("Give either org or org_id.", {"org": ["Give exactly one of org, org_id."]})
    check_unique_emails(contacts, "contacts")
    chain = access.chain
    lock_chain(session, chain)
    from supplychain.services.app_sessions import AccessWatch

    watch = AccessWatch(session, chain)
    if org_id is not None:
        org = session.get(Org, org_id)
        if org is None:
            raise Invalid("Unknown org.", {"org_id": ["No org with this id."]})
    else:
        assert new_org is not None
        org = Org(name=new_org["name"], kind=new_org["kind"])
        session.add(org)
        session.flush()
    _check_custom_id_free(session, chain.id, custom_id, org.id)
    group = None
    if group_path:
        group, _ = ensure_group(session, chain.id, normalise_group_path(group_path, "group"))
    member = session.scalar(
        select(Member).where(Member.chain_id == chain.id, Member.org_id == org.id)
    )
    if member is not None and member.is_current:
        raise Conflict(
            "This org is a member of the chain already.", {"org_id": ["Already a member."]}
        )
    if member is None:
        member = Member(chain_id=chain.id, org_id=org.id)
        session.add(member)
    member.removed_at = None
    member.joined_at = utcnow()
    member.custom_id = custom_id
    member.group_id = group.id if group else None
    session.flush()
    may_issue = org_id is None or org.id not in orgs_shared_beyond(
        session, [org.id], chain.owner_org_id
    )
    added = [
        attach_contact(
            session, access, org.id, spec, f"contacts.{i}", may_issue=may_issue, relist=True
        )
        for i, spec in enumerate(contacts)
    ]
    bump_graph_version(session, chain)
    session.refresh(member)
    watch.finish("member.added")
    record_event(
        session,
        access.actor,
        "member.add",
        "org",
        org.id,
        chain_id=chain.id,
        data={
            "custom_id": custom_id,
            "group": group.path if group else None,
            "contacts": [a.contact.user_id for a in added],
        },
    )
    publish_member_event(session, access, "member.joined", member)
    # A new or re-added member has no links yet (removal deletes them): no graph rebuild needed.
    return MemberView(member=member, tier=chain_graphs.UNLINKED, contacts=added), added


def _check_member_fields(
    custom_id: str, new_org: dict[str, str] | None, contacts: list[NewContact]
) -> None:
    """The rules the API schemas check, enforced here too for every other caller (imports, seeds)."""
    errors: dict[str, Any] = {}
    if not valid_custom_id(custom_id):
        errors["custom_id"] = [f"1 to {MAX_CUSTOM_ID} characters."]
    if new_org is not None and new_org.get("kind") not in ORG_KINDS:
        errors["org"] = {"kind": [f"One of: {', '.join(ORG_KINDS)}."]}
    for i, spec in enumerate(contacts):
        if spec.role not in USER_ROLES:
            errors.setdefault("contacts", {})[str(i)] = {"role": ["admin or staff."]}
        if spec.language not in (None, *MAIL_LANGUAGES):
            errors.setdefault("contacts", {}).setdefault(str(i), {})["language"] = ["en or zh."]
    if errors:
        raise Invalid("Invalid member.", errors)


def members_page(
    session: Session,
    access: ChainAccess,
    *,
    tier: str | None,
    group: str | None,
    kind: str | None,
    q: str | None,
    page: int,
    page_size: int,
    not_activated: bool = False,
) -> Page:
    """Members the caller may see, filtered; tiers come from the cached graph (no rebuild).
    `not_activated`: only members with a contact invited and not yet activated."""
    stmt = _member_base(access)
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    if not_activated:
        waiting = not_activated_contacts(access.chain_id, with_email=False).with_only_columns(
            Contact.org_id
        )
        stmt = stmt.where(Member.org_id.in_(waiting))
    if group:
        stmt = stmt.where(paths_within(Group.path, [normalise_group_path(group, "group")]))
    if kind:
        stmt = stmt.where(Org.kind == kind)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(Org.name.ilike(pattern, escape="\\"), Member.custom_id.ilike(pattern, escape="\\"))
        )
    stmt = stmt.order_by(Org.name, Member.org_id)
    graph = chain_graph(session, access.chain)
    if tier is None:
        result = paginate(session, stmt, page, page_size)
    else:
        # Filter on the cached tier index: one light query for candidate ids, one for the page.
        in_tier = graph.orgs_in_tier(tier)
        ids = [
            org_id
            for org_id in session.scalars(stmt.with_only_columns(Member.org_id))
            if org_id in in_tier
        ]
        wanted = ids[(page - 1) * page_size : page * page_size]
        rows = (
            {
                m.org_id: m
                for m in session.scalars(_member_base(access).where(Member.org_id.in_(wanted)))
            }
            if wanted
            else {}
        )
        result = Page(
            items=[rows[i] for i in wanted], total=len(ids), page=page, page_size=page_size
        )
    result.items = [MemberView(member=m, tier=graph.tier_of(m.org_id)) for m in result.items]
    return result


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def member_detail(session: Session, access: ChainAccess, org_id: int | None) -> MemberView:
    """One visible member with its tier and contacts."""
    member = require_member(session, access, org_id)
    contacts = session.scalars(
        select(Contact)
        .where(Contact.chain_id == access.chain_id, Contact.org_id == member.org_id)
        .order_by(Contact.id)
    ).all()
    tier = chain_graph(session, access.chain).tier_of(member.org_id)
    return MemberView(member=member, tier=tier, contacts=list(contacts))


def update_member(
    session: Session,
    access: ChainAccess,
    org_id: int | None,
    *,
    group_path: str | None,
    custom_id: str | None,
    clear_group: bool = False,
) -> MemberView:
    """Move a member to another group or give it a new custom id; owner admins only."""
    access.require_owner_admin()
    member = require_member(session, access, org_id)
    lock_chain(session, access.chain)
    changes: dict[str, Any] = {}
    if custom_id is not None and not valid_custom_id(custom_id):
        raise Invalid("Invalid custom id.", {"custom_id": [f"1 to {MAX_CUSTOM_ID} characters."]})
    if custom_id is not None and custom_id != member.custom_id:
        _check_custom_id_free(session, access.chain_id, custom_id, member.org_id)
        changes["custom_id"] = {"from": member.custom_id, "to": custom_id}
        member.custom_id = custom_id
    from supplychain.services.app_sessions import AccessWatch

    watch = AccessWatch(session, access.chain, scopes=["group"])
    if group_path is not None or clear_group:
        group = None
        if group_path is not None:
            group, _ = ensure_group(
                session, access.chain_id, normalise_group_path(group_path, "group")
            )
        old = member.group.path if member.group else None
        if (group.path if group else None) != old:
            changes["group"] = {"from": old, "to": group.path if group else None}
            member.group_id = group.id if group else None
    session.flush()
    watch.finish("member.updated")
    if changes:
        # Tiers do not depend on groups or codes, so the cached graph stays valid; group-scoped
        # rules and grants are evaluated per request and follow the move at once.
        record_action(session, access, "member.update", "org", member.org_id, data=changes)
        publish_member_event(session, access, "member.updated", member, {"changes": changes})
    session.refresh(member)
    return member_detail(session, access, member.org_id)


def remove_member(session: Session, access: ChainAccess, org_id: int | None) -> None:
    """Remove a partner: its access ends at once and its links go; its history stays."""
    access.require_owner_admin()
    member = require_member(session, access, org_id)
    if member.org_id == access.chain.owner_org_id:
        raise Conflict("The chain owner cannot be removed.")
    lock_chain(session, access.chain)
    from supplychain.services.app_sessions import AccessWatch

    watch = AccessWatch(session, access.chain)
    link_ids = list(
        session.scalars(
            select(Link.id).where(
                Link.chain_id == access.chain_id,
                or_(Link.supplier_id == member.org_id, Link.customer_id == member.org_id),
            )
        )
    )
    if link_ids:
        session.execute(delete(Link).where(Link.id.in_(link_ids)))
    member.removed_at = utcnow()
    session.flush()
    bump_graph_version(session, access.chain)
    watch.finish("member.removed")
    record_action(
        session,
        access,
        "member.remove",
        "org",
        member.org_id,
        data={"links_removed": [str(i) for i in link_ids]},
    )
    publish_member_event(
        session, access, "member.removed", member, {"links_removed": [str(i) for i in link_ids]}
    )


def publish_member_event(
    session: Session,
    access: ChainAccess,
    type: str,
    member: Member,
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell the chain owner (only: directory events are its business) of a membership change."""
    group = session.get(Group, member.group_id) if member.group_id else None
    publish(
        session,
        chain_id=access.chain_id,
        type=type,
        subject_type="org",
        subject_id=member.org_id,
        data=member_event_data(
            member.org_id, member.org.name, member.custom_id, group.path if group else None
        )
        | (extra or {}),
        org_ids=[access.chain.owner_org_id],
    )


def member_event_data(
    org_id: int, name: str, custom_id: str | None, group: str | None
) -> dict[str, Any]:
    """The `data` of a directory event about a member: who it is and where it sits."""
    return {"org_id": str(org_id), "name": name, "custom_id": custom_id, "group": group}


# --- contacts ---------------------------------------------------------------------------------


def add_contact(
    session: Session, access: ChainAccess, org_id: int | None, spec: NewContact
) -> AddedContact:
    """Add a person to a member org's contacts: owner admins, or that org's own admins."""
    member = require_member(session, access, org_id)
    own_org_admin = access.actor.org_id == member.org_id and access.actor.is_admin
    if not (own_org_admin or (access.is_owner and access.actor.is_admin)):
        raise Forbidden("Only the chain owner's admins or this org's admins may add contacts.")
    may_issue = own_org_admin or member.org_id not in orgs_shared_beyond(
        session, [member.org_id], access.chain.owner_org_id
    )
    added = attach_contact(session, access, member.org_id, spec, "json", may_issue=may_issue)
    record_action(
        session,
        access,
        "contact.add",
        "user",
        added.contact.user_id,
        data={"org_id": str(member.org_id)},
    )
    return added


def contacts_page(
    session: Session,
    access: ChainAccess,
    *,
    org_id: int | None,
    q: str | None,
    page: int,
    page_size: int,
    filter_org: bool,
) -> Page:
    """Contacts of current members that the caller may see, optionally of one org or matching q."""
    stmt = (
        select(Contact)
        .join(User, User.id == Contact.user_id)
        .join(
            Member,
            (Member.chain_id == Contact.chain_id)
            & (Member.org_id == Contact.org_id)
            & Member.is_current,
        )
        .outerjoin(Group, Group.id == Member.group_id)
        .where(Contact.chain_id == access.chain_id)
    )
    clause = visible_members_clause(session, access)
    if clause is not None:
        stmt = stmt.where(clause)
    if filter_org:
        stmt = stmt.where(Contact.org_id == (org_id or 0))
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(User.name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\"))
        )
    return paginate(session, stmt.order_by(Contact.org_id, User.name, Contact.id), page, page_size)


def org_kinds() -> tuple[str, ...]:
    """The org kinds API.md allows."""
    return ORG_KINDS
