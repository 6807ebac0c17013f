"""Planning a partner import against the chain (imports.py applies the plan): which companies
are new, changed or the same, which people are new or to be listed, which groups are missing,
and the problems only the database can show. A few queries whatever the sheet's size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplychain.models import Chain, Contact, Group, Member, Org, User
from supplychain.services.bulk import among
from supplychain.services.import_rows import SheetCompany, SheetPerson
from supplychain.services.shared_orgs import SHARED_ORG, orgs_shared_beyond


class Problems(Protocol):
    """Where the plan reports what only the database can show: by the row the company or person
    came from and the field at fault (Excel columns for a sheet, WeCom fields for the JSON)."""

    def add(self, row: int, key: str, message: str) -> None: ...

    def raise_if_any(self) -> None: ...


@dataclass
class Current:
    """A current member of the chain named by a custom id in the sheet."""

    member_id: int
    org_id: int
    custom_id: str
    name: str
    kind: str
    group: str | None


@dataclass
class KnownUser:
    id: int
    org_id: int
    activated: bool


@dataclass
class Plan:
    new_companies: list[SheetCompany] = field(default_factory=list)
    renamed: list[tuple[Current, str]] = field(default_factory=list)
    regrouped: list[tuple[Current, str]] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    new_people: list[SheetPerson] = field(default_factory=list)
    listed_people: list[tuple[SheetPerson, KnownUser]] = field(default_factory=list)
    org_ids: dict[str, int] = field(default_factory=dict)  # by custom id: current, then new
    group_ids: dict[str, int] = field(default_factory=dict)
    new_groups: list[str] = field(default_factory=list)


def _current_members(session: Session, chain_id: int, custom_ids: list[str]) -> dict[str, Current]:
    current: dict[str, Current] = {}
    for clause in among(session, Member.custom_id, custom_ids):
        rows = session.execute(
            select(Member.id, Member.org_id, Member.custom_id, Org.name, Org.kind, Group.path)
            .join(Org, Org.id == Member.org_id)
            .outerjoin(Group, Group.id == Member.group_id)
            .where(Member.chain_id == chain_id, Member.is_current, clause)
        )
        for member_id, org_id, custom_id, name, kind, path in rows:
            current[custom_id] = Current(member_id, org_id, custom_id, name, kind, path)
    return current


def _users(session: Session, emails: list[str]) -> dict[str, KnownUser]:
    users: dict[str, KnownUser] = {}
    lowered = func.lower(User.email, type_=User.email.type)
    for clause in among(session, lowered, emails):
        rows = session.execute(
            select(User.id, User.org_id, lowered, User.password_hash.is_not(None)).where(clause)
        )
        for user_id, org_id, email, activated in rows:
            users[email] = KnownUser(user_id, org_id, bool(activated))
    return users


def _users_by_mobile(
    session: Session, wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], KnownUser]:
    """People without email, keyed by (org, mobile), for the wanted pairs."""
    users: dict[tuple[int, str], KnownUser] = {}
    org_ids = sorted({org_id for org_id, _ in wanted})
    for clause in among(session, User.org_id, org_ids):
        rows = session.execute(
            select(User.id, User.org_id, User.mobile, User.password_hash.is_not(None)).where(
                clause, User.email.is_(None), User.mobile.is_not(None)
            )
        )
        for user_id, org_id, mobile, activated in rows:
            if (org_id, mobile) in wanted:
                users[org_id, mobile] = KnownUser(user_id, org_id, bool(activated))
    return users


def _listed(session: Session, chain_id: int, user_ids: list[int]) -> set[int]:
    listed: set[int] = set()
    for clause in among(session, Contact.user_id, user_ids):
        listed.update(
            session.scalars(select(Contact.user_id).where(Contact.chain_id == chain_id, clause))
        )
    return listed


def plan_directory(
    session: Session,
    chain: Chain,
    companies: dict[str, SheetCompany],
    people: list[SheetPerson],
    errors: Problems,
) -> Plan:
    """Match the sheet against the chain: which companies are new, changed or the same, which
    people are new or to be listed, which groups are missing; and the problems only the
    database can show (kinds that differ, emails of other orgs)."""
    plan = Plan()
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
