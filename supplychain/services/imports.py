"""Importing partners and their people from an Excel sheet: the whole sheet is validated first
(every bad cell reported by Excel row and column), then applied in bulk, all or nothing.

Companies are keyed by the chain's custom id, people by email, or by their org and mobile when
they have none (the WeCom-compatible import names people by mobile). The chain's current members,
groups and the people named in the sheet are loaded in a few queries, the plan is computed in
memory, and the new rows go in with executemany: the cost grows with the sheet, never with a
query per row. Services only flush: the request commits once or rolls back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict
from supplychain.excel.importer import read_import_sheet
from supplychain.excel.template import import_template
from supplychain.models import Chain, Contact, Group, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.services.audit import record_event
from supplychain.services.bulk import among, insert_rows
from supplychain.services.chains import bump_graph_version, lock_chain
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.groups import next_group_numbers
from supplychain.services.import_rows import (
    CONTROL_CHARS,
    RowErrors,
    SheetCompany,
    SheetPerson,
    read_rows,
)
from supplychain.services.invitations import Invitee, fresh_code, record_invitations
from supplychain.services.members import member_event_data
from supplychain.services.shared_orgs import SHARED_ORG, orgs_shared_beyond


class Problems(Protocol):
    """Where the plan reports what only the database can show: by the row the company or person
    came from and the field at fault (Excel columns for a sheet, WeCom fields for the JSON)."""

    def add(self, row: int, key: str, message: str) -> None: ...

    def raise_if_any(self) -> None: ...


@dataclass
class Invite:
    """A person the import created or listed anew, with its single-use invitation code."""

    email: str | None
    invite_code: str
    custom_id: str
    mobile: str | None = None
    # Filled in once the person's row exists: its id and the code's salt (the invitation's).
    user_id: int | None = None
    salt: str = ""


@dataclass
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    contacts_created: int
    groups_created: int
    invites: list[Invite] = field(default_factory=list)


@dataclass
class _Current:
    """A current member of the chain named by a custom id in the sheet."""

    member_id: int
    org_id: int
    custom_id: str
    name: str
    kind: str
    group: str | None


@dataclass
class _User:
    id: int
    org_id: int
    activated: bool


@dataclass
class _Plan:
    new_companies: list[SheetCompany] = field(default_factory=list)
    renamed: list[tuple[_Current, str]] = field(default_factory=list)
    regrouped: list[tuple[_Current, str]] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    new_people: list[SheetPerson] = field(default_factory=list)
    listed_people: list[tuple[SheetPerson, _User]] = field(default_factory=list)
    org_ids: dict[str, int] = field(default_factory=dict)  # by custom id: current, then new
    group_ids: dict[str, int] = field(default_factory=dict)
    new_groups: list[str] = field(default_factory=list)


def template_workbook(access: ChainAccess) -> bytes:
    """The xlsx template for partner imports; owner admins only."""
    access.require_owner_admin()
    return import_template()


def import_partners(
    session: Session,
    access: ChainAccess,
    stream: IO[bytes],
    *,
    dry_run: bool = False,
    filename: str | None = None,
    send_invites: bool = True,
) -> ImportResult:
    """Upsert partners (custom id) and people (email) from a sheet, all or nothing; owner admins."""
    access.require_owner_admin()
    sheet = read_import_sheet(stream)
    errors = RowErrors(sheet)
    companies, people = read_rows(sheet, errors)
    return import_directory(
        session,
        access,
        companies,
        people,
        errors,
        rows=len(sheet.rows),
        dry_run=dry_run,
        send_invites=send_invites,
        source=lambda: {
            "filename": CONTROL_CHARS.sub("", filename or "")[:200] or None,
            "sha256": _sha256(stream),
        },
    )


def import_directory(
    session: Session,
    access: ChainAccess,
    companies: dict[str, SheetCompany],
    people: list[SheetPerson],
    errors: Problems,
    *,
    rows: int,
    dry_run: bool,
    source: Any,
    send_invites: bool = True,
) -> ImportResult:
    """Upsert checked companies and people, all or nothing, whatever they were read from (a
    sheet, a WeCom import_chain_contact call); owner admins. `source()` describes the input
    for the audit event. People given a code are mailed their invitation (with an email
    address, unless `send_invites` is False)."""
    access.require_owner_admin()
    chain = access.chain
    if not dry_run:
        lock_chain(session, chain)  # the plan must still hold when it is applied
    plan = _plan(session, chain, companies, people, errors)
    errors.raise_if_any()
    result = ImportResult(
        dry_run=dry_run,
        rows=rows,
        created=len(plan.new_companies),
        updated=plan.updated,
        unchanged=plan.unchanged,
        contacts_created=len(plan.new_people) + len(plan.listed_people),
        groups_created=len(plan.new_groups),
    )
    if dry_run:
        return result
    try:
        result.invites = _apply(session, chain, plan)
    except IntegrityError:
        # A concurrent request (another chain's import, a sign-up) took one of the same emails.
        raise Conflict("A concurrent change took some of the same people; nothing was saved.")
    record_invitations(
        session,
        chain_id=chain.id,
        inviter_org_id=access.actor.org_id,
        invited_by=access.actor.user_id,
        invitees=[Invitee(i.user_id, i.email, i.salt) for i in result.invites if i.user_id],
        send=send_invites,
    )
    if plan.new_companies:
        bump_graph_version(session, chain)
    _publish_directory_events(session, chain, plan)
    record_event(
        session,
        access.actor,
        "import.apply",
        "chain",
        chain.id,
        chain_id=chain.id,
        data={
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "contacts_created": result.contacts_created,
            "groups_created": result.groups_created,
            **source(),
        },
    )
    return result


def _publish_directory_events(session: Session, chain: Chain, plan: _Plan) -> None:
    """Tell the chain owner (only, as for a member added by hand) of every company the import
    added (`member.joined`) or renamed or regrouped (`member.updated`), in bulk statements."""
    owner = (chain.owner_org_id,)
    events = [
        NewEvent(
            "member.joined",
            "org",
            plan.org_ids[company.custom_id],
            member_event_data(
                plan.org_ids[company.custom_id], company.name, company.custom_id, company.group
            ),
            owner,
        )
        for company in plan.new_companies
    ]
    changed: dict[int, tuple[_Current, dict[str, Any]]] = {}
    for member, name in plan.renamed:
        changed.setdefault(member.member_id, (member, {}))[1]["name"] = {
            "from": member.name,
            "to": name,
        }
    for member, path in plan.regrouped:
        changed.setdefault(member.member_id, (member, {}))[1]["group"] = {
            "from": member.group,
            "to": path,
        }
    for member, changes in changed.values():
        name = changes["name"]["to"] if "name" in changes else member.name
        group = changes["group"]["to"] if "group" in changes else member.group
        events.append(
            NewEvent(
                "member.updated",
                "org",
                member.org_id,
                member_event_data(member.org_id, name, member.custom_id, group)
                | {"changes": changes},
                owner,
            )
        )
    publish_many(session, chain_id=chain.id, events=events)


def _sha256(stream: IO[bytes]) -> str:
    stream.seek(0)
    hasher = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        hasher.update(chunk)
    return hasher.hexdigest()


# --- planning against the chain ---------------------------------------------------------------


def _current_members(session: Session, chain_id: int, custom_ids: list[str]) -> dict[str, _Current]:
    current: dict[str, _Current] = {}
    for clause in among(session, Member.custom_id, custom_ids):
        rows = session.execute(
            select(Member.id, Member.org_id, Member.custom_id, Org.name, Org.kind, Group.path)
            .join(Org, Org.id == Member.org_id)
            .outerjoin(Group, Group.id == Member.group_id)
            .where(Member.chain_id == chain_id, Member.is_current, clause)
        )
        for member_id, org_id, custom_id, name, kind, path in rows:
            current[custom_id] = _Current(member_id, org_id, custom_id, name, kind, path)
    return current


def _users(session: Session, emails: list[str]) -> dict[str, _User]:
    users: dict[str, _User] = {}
    lowered = func.lower(User.email, type_=User.email.type)
    for clause in among(session, lowered, emails):
        rows = session.execute(
            select(User.id, User.org_id, lowered, User.password_hash.is_not(None)).where(clause)
        )
        for user_id, org_id, email, activated in rows:
            users[email] = _User(user_id, org_id, bool(activated))
    return users


def _users_by_mobile(
    session: Session, wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], _User]:
    """People without email, keyed by (org, mobile), for the wanted pairs."""
    users: dict[tuple[int, str], _User] = {}
    org_ids = sorted({org_id for org_id, _ in wanted})
    for clause in among(session, User.org_id, org_ids):
        rows = session.execute(
            select(User.id, User.org_id, User.mobile, User.password_hash.is_not(None)).where(
                clause, User.email.is_(None), User.mobile.is_not(None)
            )
        )
        for user_id, org_id, mobile, activated in rows:
            if (org_id, mobile) in wanted:
                users[org_id, mobile] = _User(user_id, org_id, bool(activated))
    return users


def _listed(session: Session, chain_id: int, user_ids: list[int]) -> set[int]:
    listed: set[int] = set()
    for clause in among(session, Contact.user_id, user_ids):
        listed.update(
            session.scalars(select(Contact.user_id).where(Contact.chain_id == chain_id, clause))
        )
    return listed


def _plan(
    session: Session,
    chain: Chain,
    companies: dict[str, SheetCompany],
    people: list[SheetPerson],
    errors: RowErrors,
) -> _Plan:
    """Match the sheet against the chain: which companies are new, changed or the same, which
    people are new or to be listed, which groups are missing; and the problems only the
    database can show (kinds that differ, emails of other orgs)."""
    plan = _Plan()
    current = _current_members(session, chain.id, list(companies))
    shared_orgs = orgs_shared_beyond(
        session, [m.org_id for m in current.values()], chain.owner_org_id
    )
    wanted_groups: set[str] = set()
    for custom_id, company in companies.items():
        member = current.get(custom_id)
        if member is None:
            plan.new_companies.append(company)
            if company.group:
                wanted_groups.add(company.group)
            continue
        if member.org_id == chain.owner_org_id:
            errors.add(
                company.row, "custom_id", "The chain owner's own custom id: import partners only."
            )
            continue
        if company.kind is not None and member.kind != company.kind:
            errors.add(
                company.row,
                "kind",
                f"Custom id {custom_id!r} is {member.name!r}, a {member.kind}: an import "
                "cannot change the kind of an org.",
            )
            continue
        plan.org_ids[custom_id] = member.org_id
        changed = False
        if member.name != company.name:
            if member.org_id in shared_orgs:
                errors.add(
                    company.row,
                    "company_name",
                    "This org also belongs to other chains: its name is not yours to change.",
                )
                continue
            plan.renamed.append((member, company.name))
            changed = True
        if company.group is not None and company.group != member.group:
            plan.regrouped.append((member, company.group))
            wanted_groups.add(company.group)
            changed = True
        plan.updated += changed
        plan.unchanged += not changed

    users = _users(session, [person.email for person in people if person.email is not None])
    by_mobile = _users_by_mobile(
        session,
        {
            (current[person.custom_id].org_id, person.mobile)
            for person in people
            if person.email is None and person.mobile and person.custom_id in current
        },
    )
    listed = _listed(
        session, chain.id, [user.id for user in [*users.values(), *by_mobile.values()]]
    )
    shared = shared_orgs
    for person in people:
        member = current.get(person.custom_id)
        if person.email is not None:
            user = users.get(person.email)
        elif member is not None and person.mobile:
            user = by_mobile.get((member.org_id, person.mobile))
        else:
            user = None
        if (
            member is not None
            and member.org_id in shared
            and (user is None or (user.id not in listed and not user.activated))
        ):
            errors.add(person.row, "email", SHARED_ORG)
        elif user is None:
            plan.new_people.append(person)
        elif member is None or user.org_id != member.org_id:
            errors.add(person.row, "email", "This email belongs to a person of another org.")
        elif user.id not in listed:
            plan.listed_people.append((person, user))

    groups = session.execute(select(Group.path, Group.id).where(Group.chain_id == chain.id))
    plan.group_ids = {path: group_id for path, group_id in groups}
    missing = {
        "/".join(segments[:depth])
        for path in wanted_groups
        for segments in [path.split("/")]
        for depth in range(1, len(segments) + 1)
    } - plan.group_ids.keys()
    plan.new_groups = sorted(missing, key=lambda path: (path.count("/"), path))
    return plan


# --- applying the plan ------------------------------------------------------------------------


def _apply(session: Session, chain: Chain, plan: _Plan) -> list[Invite]:
    """Write the plan with one bulk insert per table; the invitation codes of new contacts."""
    now = utcnow()
    _create_groups(session, chain.id, plan, now)
    orgs, members, users, contacts = (
        Org.__table__,
        Member.__table__,
        User.__table__,
        Contact.__table__,
    )
    if plan.new_companies:
        created = insert_rows(
            session,
            orgs,
            [{"name": c.name, "kind": _kind(c), "created_at": now} for c in plan.new_companies],
            orgs.c.id,
            orgs.c.name,
            orgs.c.kind,
        )
        # New ids are matched by content: orgs of the same name and kind are alike.
        alike: dict[tuple[str, str], list[int]] = {}
        for org_id, name, kind in created:
            alike.setdefault((name, kind), []).append(org_id)
        for company in plan.new_companies:
            plan.org_ids[company.custom_id] = alike[company.name, _kind(company)].pop()
        insert_rows(
            session,
            members,
            [
                {
                    "chain_id": chain.id,
                    "org_id": plan.org_ids[c.custom_id],
                    "custom_id": c.custom_id,
                    "group_id": plan.group_ids[c.group] if c.group else None,
                    "joined_at": now,
                }
                for c in plan.new_companies
            ],
        )
    if plan.renamed:
        session.execute(
            update(Org), [{"id": member.org_id, "name": name} for member, name in plan.renamed]
        )
    if plan.regrouped:
        session.execute(
            update(Member),
            [
                {"id": member.member_id, "group_id": plan.group_ids[path]}
                for member, path in plan.regrouped
            ],
        )

    invites: list[Invite] = []
    new_users = []
    for person in plan.new_people:
        fresh = fresh_code()
        invites.append(
            Invite(person.email, fresh.code, person.custom_id, person.mobile, salt=fresh.salt)
        )
        new_users.append(
            {
                "org_id": plan.org_ids[person.custom_id],
                "email": person.email,
                "name": person.name,
                "mobile": person.mobile,
                "title": person.title,
                "role": person.role,
                "invite_code_hash": fresh.hash,
                "created_at": now,
            }
        )
    created_users = insert_rows(
        session, users, new_users, users.c.id, users.c.email, users.c.org_id, users.c.mobile
    )
    # New people are matched by their key: the email, or (org, mobile) without one.
    user_ids = {
        email or (org_id, mobile): user_id for user_id, email, org_id, mobile in created_users
    }
    listed = [
        {
            "chain_id": chain.id,
            "org_id": row["org_id"],
            "user_id": user_ids[row["email"] or (row["org_id"], row["mobile"])],
        }
        for row in new_users
    ]
    for invite, row in zip(invites, listed, strict=True):
        invite.user_id = row["user_id"]
    fresh_codes = []
    for person, user in plan.listed_people:
        listed.append({"chain_id": chain.id, "org_id": user.org_id, "user_id": user.id})
        if not user.activated:
            # As when a contact is added by hand: a new listing gets a fresh code.
            fresh = fresh_code()
            invites.append(
                Invite(
                    person.email,
                    fresh.code,
                    person.custom_id,
                    person.mobile,
                    user_id=user.id,
                    salt=fresh.salt,
                )
            )
            fresh_codes.append({"id": user.id, "invite_code_hash": fresh.hash})
    if fresh_codes:
        session.execute(update(User), fresh_codes)
    insert_rows(session, contacts, [{**row, "created_at": now} for row in listed])
    return invites


def _kind(company: SheetCompany) -> str:
    """A new org's kind: as given, else `other` (a WeCom import names no kind)."""
    return company.kind or "other"


def _create_groups(session: Session, chain_id: int, plan: _Plan, now: Any) -> None:
    """Insert the missing groups level by level, so each knows its parent's id."""
    groups = Group.__table__
    by_depth: dict[int, list[str]] = {}
    for path in plan.new_groups:
        by_depth.setdefault(path.count("/"), []).append(path)
    numbers = iter(next_group_numbers(session, chain_id, len(plan.new_groups)))
    for depth in sorted(by_depth):
        rows = [
            {
                "chain_id": chain_id,
                "parent_id": plan.group_ids[path.rsplit("/", 1)[0]] if depth else None,
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "number": next(numbers),
                "created_at": now,
            }
            for path in by_depth[depth]
        ]
        created = insert_rows(session, groups, rows, groups.c.id, groups.c.path)
        plan.group_ids.update((path, group_id) for group_id, path in created)
