"""Importing partners and their people from an Excel sheet: the whole sheet is validated first
(every bad cell reported by Excel row and column), then applied in bulk, all or nothing.

Companies are keyed by the chain's custom id, people by email, or by their org and mobile when
they have none (the WeCom-compatible import names people by mobile). The chain's current members,
groups and the people named in the sheet are loaded in a few queries, the plan is computed in
memory (import_plan.py), and the new rows go in with one bulk statement per table (bulk.py): the
cost grows with the sheet, never with a query per row, and no ORM object is made for a new row.
Services only flush: the request commits once or rolls back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.collector import collector_paused
from supplychain.errors import Conflict
from supplychain.excel.importer import read_import_sheet
from supplychain.excel.template import import_template
from supplychain.models import Chain, Contact, Group, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.services.app_sessions import AccessWatch
from supplychain.services.audit import record_event
from supplychain.services.bulk import insert_rows
from supplychain.services.chains import bump_graph_version, lock_chain
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.groups import next_group_numbers
from supplychain.services.import_plan import Current, Plan, Problems, plan_directory
from supplychain.services.import_rows import (
    CONTROL_CHARS,
    RowErrors,
    SheetCompany,
    SheetPerson,
    read_rows,
)
from supplychain.services.invitations import Invitee, record_invitations
from supplychain.services.invite_codes import fresh_codes
from supplychain.services.members import member_event_data

_COUNTS = ("rows", "created", "updated", "unchanged", "contacts_created", "groups_created")


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

    def counts(self) -> dict[str, int]:
        """The figures of the import (its audit event's data with the source)."""
        return {key: getattr(self, key) for key in _COUNTS}


def template_workbook(access: ChainAccess) -> bytes:
    """The xlsx template for partner imports; owner admins only."""
    access.require_owner_admin()
    return import_template()


# A 20 000-row sheet allocates a few hundred thousand containers that live until the import
# ends: with the collector on, one or two full collections per 10 000 rows (about 150 ms apiece
# in the benchmark's process) found nothing.
@collector_paused()
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


@collector_paused()
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
    plan = plan_directory(session, chain, companies, people, errors)
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
    # Members added or moved may gain or lose the chain's shared apps: watched over just those
    # orgs (the moved now, the added once they exist), as every other membership change is. The
    # orgs are read lazily: nothing is when no custom app has a live grant that could change.
    watch = AccessWatch(
        session,
        chain,
        scopes=["group", "all", "tier"] if plan.new_companies else ["group"],
        orgs=(member.org_id for member, _ in plan.regrouped),
    )
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
    watch.finish("import.apply", joined=(plan.org_ids[c.custom_id] for c in plan.new_companies))
    _publish_directory_events(session, chain, plan)
    record_event(
        session,
        access.actor,
        "import.apply",
        "chain",
        chain.id,
        chain_id=chain.id,
        data=result.counts() | source(),
    )
    return result


def _publish_directory_events(session: Session, chain: Chain, plan: Plan) -> None:
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
    changed: dict[int, tuple[Current, dict[str, Any]]] = {}
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


# --- applying the plan ------------------------------------------------------------------------


def _apply(session: Session, chain: Chain, plan: Plan) -> list[Invite]:
    """Write the plan with one bulk insert per table; the invitation codes of new contacts."""
    now, chain_id = utcnow(), chain.id
    _create_groups(session, chain_id, plan, now)
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
                    "chain_id": chain_id,
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

    codes = iter(fresh_codes(len(plan.new_people) + len(plan.listed_people)))
    invites: list[Invite] = []
    new_users = []
    for person in plan.new_people:
        fresh = next(codes)
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
            "chain_id": chain_id,
            "org_id": row["org_id"],
            "user_id": user_ids[row["email"] or (row["org_id"], row["mobile"])],
        }
        for row in new_users
    ]
    for invite, row in zip(invites, listed, strict=True):
        invite.user_id = row["user_id"]
    new_hashes = []
    for person, user in plan.listed_people:
        listed.append({"chain_id": chain_id, "org_id": user.org_id, "user_id": user.id})
        if not user.activated:
            # As when a contact is added by hand: a new listing gets a fresh code.
            fresh = next(codes)
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
            new_hashes.append({"id": user.id, "invite_code_hash": fresh.hash})
    if new_hashes:
        session.execute(update(User), new_hashes)
    insert_rows(session, contacts, [{**row, "created_at": now} for row in listed])
    return invites


def _kind(company: SheetCompany) -> str:
    """A new org's kind: as given, else `other` (a WeCom import names no kind)."""
    return company.kind or "other"


def _create_groups(session: Session, chain_id: int, plan: Plan, now: Any) -> None:
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
