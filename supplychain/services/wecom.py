"""What the WeCom-compatible /cgi-bin API needs beyond the directory services it calls: its
access tokens (gettoken), the chains an org owns, groups by their stable numbers, members page
by page after a cursor, and import jobs that run the partner import and keep its outcome.

No rule of the chain lives here: member removal, visibility rules and the import are the
directory services' (members, visibility, imports), called as they are by /api/v1. What is here
is the mapping of WeCom's shapes onto them: how a WeCom rule (`owner_corp_range`,
`member_corp_range`) becomes a visibility rule and reads back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess, chain_access, memberships
from supplychain.auth import Actor, digest
from supplychain.errors import Conflict, Invalid, NotFound, Unauthorized
from supplychain.excel.importer import SheetRow
from supplychain.models import (
    ApiToken,
    Chain,
    Contact,
    Group,
    Member,
    Org,
    User,
    VisibilityRule,
    WeComAccessToken,
)
from supplychain.models.base import utcnow
from supplychain.models.directory import ROOT_GROUP_NUMBER
from supplychain.models.wecom import WeComImportJob
from supplychain.schemas.common import parse_id
from supplychain.services.audit import record_event
from supplychain.services.groups import groups_query, paths_within
from supplychain.services.import_rows import MAX_REPORTED_ERRORS, read_rows
from supplychain.services.imports import ImportResult, import_directory
from supplychain.services.invitations import stored_invite_list
from supplychain.services.visibility import create_rule

ACCESS_TOKEN_SECONDS = 7200  # as WeCom's
MAX_PAGE = 1000  # get_chain_corpinfo_list's largest `limit`
# WeCom's task states (getresult `status`) and our import outcomes (`import_status`).
JOB_STARTED, JOB_RUNNING, JOB_DONE = 1, 2, 3
IMPORTED_ALL, IMPORTED_NONE = 1, 3


class UnknownCorp(Unauthorized):
    """gettoken: no org has this `corpid`."""


class BadSecret(Unauthorized):
    """gettoken: the `corpsecret` is no live API token of an admin of the org."""


class AccessTokenExpired(Unauthorized):
    """The access token was good once and its 7 200 s are over."""


@dataclass
class IssuedAccessToken:
    """A new access token: the secret (shown once) and its lifetime in seconds."""

    secret: str
    expires_in: int


def issue_access_token(session: Session, corpid: int | None, corpsecret: str) -> IssuedAccessToken:
    """An access token for org `corpid`, acting as the admin whose live API token (not a sign-in
    token) is `corpsecret`; it expires after ACCESS_TOKEN_SECONDS and dies with that API token."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(corpsecret), ApiToken.is_live)
    ).first()
    if corpid is None or session.get(Org, corpid) is None:
        raise UnknownCorp("invalid corpid")
    if row is None or row[0].kind != "api":
        raise BadSecret("invalid credential: corpsecret is no live API token")
    api_token, user = row
    if user.org_id != corpid:
        raise BadSecret("invalid credential: corpsecret is not of this corpid")
    if user.role != "admin":
        raise BadSecret("invalid credential: corpsecret is not an admin's")
    secret = "wc_" + secrets.token_urlsafe(32)
    now = utcnow()
    # Tokens of this API token that expired a day ago or more go (until then an expired one
    # still answers "expired", 42001, rather than "unknown").
    session.execute(
        delete(WeComAccessToken).where(
            WeComAccessToken.api_token_id == api_token.id,
            WeComAccessToken.expires_at < now - timedelta(days=1),
        )
    )
    token = WeComAccessToken(
        user_id=user.id,
        api_token_id=api_token.id,
        token_hash=digest(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS),
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        Actor(user=user, token_id=api_token.id),
        "wecom.token.issue",
        "api_token",
        api_token.id,
    )
    return IssuedAccessToken(secret, ACCESS_TOKEN_SECONDS)


def actor_from_access_token(session: Session, secret: str | None) -> Actor:
    """The admin an access token acts as. Unknown, or its API token revoked: Unauthorized;
    past its 7 200 s: AccessTokenExpired."""
    row = None
    if secret:
        row = session.execute(
            select(WeComAccessToken, User)
            .join(ApiToken, ApiToken.id == WeComAccessToken.api_token_id)
            .join(User, User.id == WeComAccessToken.user_id)
            .where(WeComAccessToken.token_hash == digest(secret), ApiToken.is_live)
        ).first()
    if row is None:
        raise Unauthorized("invalid access_token")
    token, user = row
    if token.expires_at <= utcnow():
        raise AccessTokenExpired("access_token expired")
    return Actor(user=user, token_id=token.api_token_id)


# --- chains and groups ---------------------------------------------------------------------------


def owned_chains(session: Session, actor: Actor) -> list[Chain]:
    """The chains the caller's org owns (WeCom lists only the chains a corp created)."""
    return [access.chain for access in memberships(session, actor) if access.is_owner]


def owned_chain(session: Session, actor: Actor, chain_id: int | None) -> ChainAccess:
    """The caller's standing in a chain its org owns; NotFound for any other (unknown, or
    someone else's, or one where the org is only a partner: nothing tells them apart)."""
    try:
        access = chain_access(session, actor, chain_id)
    except NotFound:
        raise NotFound("not a chain this corp owns")
    if not access.is_owner:
        raise NotFound("not a chain this corp owns")
    return access


def chain_groups(session: Session, access: ChainAccess) -> list[Group]:
    """The chain's groups, ordered by path (a parent before its children)."""
    return list(session.scalars(groups_query(access)))


def group_numbered(session: Session, access: ChainAccess, number: int) -> Group | None:
    """The group with this number (None for the root, ROOT_GROUP_NUMBER); Invalid if none."""
    if number == ROOT_GROUP_NUMBER:
        return None
    group = session.scalar(
        select(Group).where(Group.chain_id == access.chain_id, Group.number == number)
    )
    if group is None:
        raise Invalid("No such group.", {"groupid": [f"No group {number} in this chain."]})
    return group


def groups_numbered(session: Session, access: ChainAccess, numbers: list[int]) -> list[str]:
    """The paths of the groups with these numbers (the root is no group: Invalid)."""
    paths = []
    for number in numbers:
        group = group_numbered(session, access, number) if number != ROOT_GROUP_NUMBER else None
        if group is None:
            raise Invalid("No such group.", {"groupids": [f"No group {number} in this chain."]})
        paths.append(group.path)
    return paths


def group_numbers(session: Session, access: ChainAccess, paths: list[str]) -> list[int]:
    """The numbers of the groups at these paths."""
    if not paths:
        return []
    rows = session.execute(
        select(Group.path, Group.number).where(
            Group.chain_id == access.chain_id, Group.path.in_(paths)
        )
    )
    by_path: dict[str, int] = {path: number for path, number in rows}
    return [by_path[path] for path in paths if path in by_path]


# --- members ---------------------------------------------------------------------------------------


def _partners(access: ChainAccess) -> ColumnElement[bool]:
    return (
        (Member.chain_id == access.chain_id)
        & Member.is_current
        & (Member.org_id != access.chain.owner_org_id)
    )


def members_after(
    session: Session,
    access: ChainAccess,
    *,
    group: Group | None,
    with_subgroups: bool,
    after: int,
    limit: int,
) -> tuple[list[Member], bool]:
    """Up to `limit` current partners of the chain after member row `after`, in a stable order
    (the cursor), in `group` (None: the root) or also below it; and whether more follow."""
    access.require_owner_admin()
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid("Bad limit.", {"limit": [f"1 to {MAX_PAGE}."]})
    stmt = select(Member).where(_partners(access), Member.id > after)
    if group is not None and with_subgroups:
        stmt = stmt.join(Group, Group.id == Member.group_id).where(
            paths_within(Group.path, [group.path])
        )
    elif group is not None:
        stmt = stmt.where(Member.group_id == group.id)
    elif not with_subgroups:
        stmt = stmt.where(Member.group_id.is_(None))
    rows = list(session.scalars(stmt.order_by(Member.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def partner(session: Session, access: ChainAccess, org_id: int | None) -> Member:
    """One current partner of the chain (not the owner itself); NotFound otherwise."""
    access.require_owner_admin()
    member = None
    if org_id is not None:
        member = session.scalar(select(Member).where(_partners(access), Member.org_id == org_id))
    if member is None:
        raise NotFound("No such corp in this chain.")
    return member


# --- import jobs -----------------------------------------------------------------------------------


# Sheet columns by the WeCom field they come from, for messages in WeCom's words.
_WECOM_FIELDS = {
    "company_name": "corp_name",
    "custom_id": "custom_id",
    "group_path": "group_path",
    "kind": "kind",
    "contact_name": "name",
    "email": "email",
    "mobile": "mobile",
    "role": "identity_type",
    "title": "title",
}
_COMPANY_KEYS = frozenset({"company_name", "custom_id", "group_path", "kind"})
INVALID_PARAMETER = 40058  # WeCom's errcode for a bad parameter, used per failed entry
NOT_ALLOWED = 60020  # WeCom's "not allowed", for a list refused as a whole
# identity_type: 1 a contact, 2 the person in charge (an admin of the partner org).
IDENTITY_ROLES = {1: "staff", 2: "admin"}


class ImportProblems:
    """The problems of an import_chain_contact list in WeCom's fail_list shape: each row the
    import reads is one contact of one company (or a company without contacts), and each
    problem lands on that company, or on that contact within it."""

    def __init__(self, contact_list: list[dict[str, Any]]) -> None:
        self.contact_list = contact_list
        self.rows: list[tuple[int, int | None]] = []
        self.found: dict[int, dict[str, Any]] = {}

    def sheet_rows(self) -> list[SheetRow]:
        """The rows the partner import reads: one per contact, as the Excel sheet has them."""
        rows = []
        for index, corp in enumerate(self.contact_list):
            company = {
                "company_name": corp.get("corp_name"),
                "custom_id": corp.get("custom_id"),
                "group_path": corp.get("group_path"),
                "kind": corp.get("kind"),
            }
            contacts = corp.get("contact_info_list") or []
            for position, contact in enumerate(contacts or [None]):
                values = dict(company)
                if contact is not None:
                    values |= {
                        "contact_name": contact.get("name"),
                        "email": contact.get("email"),
                        "mobile": contact.get("mobile"),
                        "role": IDENTITY_ROLES[contact.get("identity_type") or 1],
                    }
                self.rows.append((index, position if contact is not None else None))
                rows.append(SheetRow(len(self.rows), {k: _blank(v) for k, v in values.items()}))
        return rows

    def add(self, row: int, key: str, message: str) -> None:
        """Record one problem on the company or the contact of row `row` (1-based)."""
        company, contact = self.rows[row - 1]
        entry = self._entry(company)
        name = _WECOM_FIELDS.get(key, key)
        if contact is None or key in _COMPANY_KEYS:
            problem = f"{name}: {message}"
            if problem not in entry["problems"]:
                entry["problems"].append(problem)
            return
        given = self.contact_list[company]["contact_info_list"][contact]
        failed = {
            "errcode": INVALID_PARAMETER,
            "errmsg": f"contact_info_list.{contact}.{name}: {message}",
        }
        if given.get("mobile"):
            failed["mobile"] = given["mobile"]
        entry["contact_info_list"].append(failed)

    def _entry(self, company: int) -> dict[str, Any]:
        entry = self.found.get(company)
        if entry is None:
            given = self.contact_list[company]
            entry = self.found[company] = {
                "corp_name": given.get("corp_name") or "",
                "custom_id": given.get("custom_id") or "",
                "problems": [],
                "contact_info_list": [],
            }
        return entry

    def fail_list(self) -> list[dict[str, Any]]:
        """The failed companies in list order, each with its failed contacts; the first
        MAX_REPORTED_ERRORS companies, as the Excel import lists its first problems."""
        failed = []
        for company in sorted(self.found)[:MAX_REPORTED_ERRORS]:
            entry = self.found[company]
            problems = entry["problems"] or ["invalid contact_info_list"]
            failed.append(
                {
                    "corp_name": entry["corp_name"],
                    "custom_id": entry["custom_id"],
                    "errcode": INVALID_PARAMETER,
                    "errmsg": f"contact_list.{company}: " + "; ".join(problems),
                    "contact_info_list": entry["contact_info_list"],
                }
            )
        return failed

    def raise_if_any(self) -> None:
        """Invalid when anything was found (the import then saves nothing)."""
        if self.found:
            raise Invalid(f"Problems in {len(self.found)} corp(s); nothing was imported.")


def _blank(value: Any) -> str | None:
    """A value as the sheet reader gives cells: stripped text, None when blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def run_import_job(
    session: Session, access: ChainAccess, contact_list: list[dict[str, Any]]
) -> WeComImportJob:
    """Run an import_chain_contact list through the partner import (all or nothing, as the
    Excel import, the same checks on every value) inside a savepoint, and keep the outcome as a
    job for getresult: done before the call answers (status 3), every company imported
    (import_status 1) or none (3, with the fail_list)."""
    access.require_owner_admin()
    problems = ImportProblems(contact_list)
    rows = problems.sheet_rows()
    job = WeComImportJob(
        jobid=secrets.token_urlsafe(24),
        chain_id=access.chain_id,
        org_id=access.actor.org_id,
        user_id=access.actor.user_id,
        status=JOB_RUNNING,
    )
    session.add(job)
    session.flush()
    outcome: dict[str, Any]
    try:
        with session.begin_nested():
            companies, people = read_rows(rows, problems, kind_required=False, mobile_keys=True)
            done: ImportResult = import_directory(
                session,
                access,
                companies,
                people,
                problems,
                rows=len(rows),
                dry_run=False,
                source=lambda: {"source": "wecom", "jobid": job.jobid},
            )
        outcome = {
            "import_status": IMPORTED_ALL,
            "fail_list": [],
            "created": done.created,
            "updated": done.updated,
            "contacts_created": done.contacts_created,
            # WeCom invites by SMS; here people activate with a single-use code, mailed to
            # those with an email: getresult shows each code to the owner's org while it lives
            # (extension). Codes are not kept: getresult works each out again.
            "invite_list": stored_invite_list(session, done.invites),
        }
    except Invalid:
        outcome = {"import_status": IMPORTED_NONE, "fail_list": problems.fail_list()}
    except Conflict as exc:
        # A concurrent change took some of the same people: nothing was saved, for no one
        # entry's fault; said once, for the whole list.
        whole = {"corp_name": "", "custom_id": "", "errcode": NOT_ALLOWED, "errmsg": exc.message}
        outcome = {"import_status": IMPORTED_NONE, "fail_list": [whole | {"contact_info_list": []}]}
    job.status = JOB_DONE
    job.result = outcome
    job.finished_at = utcnow()
    session.flush()
    return job


def import_job(session: Session, actor: Actor, jobid: str | None) -> WeComImportJob:
    """A job the caller's org started; NotFound for any other."""
    job = None
    if jobid:
        job = session.scalar(select(WeComImportJob).where(WeComImportJob.jobid == jobid))
    if job is None or job.org_id != actor.org_id:
        raise NotFound("No such job.")
    # The org may have lost the chain since: its jobs' results go with it.
    owned_chain(session, actor, job.chain_id)
    return job


# --- visibility rules ------------------------------------------------------------------------------

# WeCom's root department: the whole corp. The owner org has no other departments here.
ROOT_DEPARTMENT = 1
_RANGES = {"viewers": "member_corp_range", "visible": "visible_corp_range"}
_SELECTOR_KEYS = {"groups": "groupids", "orgs": "corpids"}


def owner_range(
    session: Session, access: ChainAccess, departmentids: list[int], userids: list[str]
) -> dict[str, list] | None:
    """WeCom's `owner_corp_range` (the owner's people the members may see and contact) checked
    against the chain, duplicates dropped, order kept; None when it names nothing.
    `departmentids`: only 1, WeCom's root department (the whole owner org: it has no other
    departments here). `userids`: user ids of the owner's contacts in this chain."""
    departments = list(dict.fromkeys(departmentids))
    unknown = [str(d) for d in departments if d != ROOT_DEPARTMENT]
    if unknown:
        raise Invalid(
            "Bad rule.",
            {
                "rule_info": {
                    "owner_corp_range": {
                        "departmentids": [
                            f"No department {', '.join(unknown)}: the owner corp has only "
                            f"department {ROOT_DEPARTMENT}, all its people."
                        ]
                    }
                }
            },
        )
    given = list(dict.fromkeys(userids))
    ids = {userid: parse_id(userid) for userid in given}
    contacts = set(
        session.scalars(
            select(Contact.user_id).where(
                Contact.chain_id == access.chain_id,
                Contact.org_id == access.chain.owner_org_id,
                Contact.user_id.in_([i for i in ids.values() if i is not None]),
            )
        )
    )
    strangers = [userid for userid, i in ids.items() if i not in contacts]
    if strangers:
        raise Invalid(
            "Bad rule.",
            {
                "rule_info": {
                    "owner_corp_range": {
                        "userids": [
                            f"Not contacts of the owner corp in this chain: {', '.join(strangers)}"
                        ]
                    }
                }
            },
        )
    if not departments and not given:
        return None
    return {"departmentids": departments, "userids": [str(ids[u]) for u in given]}


def add_rule(
    session: Session,
    access: ChainAccess,
    viewers: dict[str, list],
    visible: dict[str, list] | None,
    owner: dict[str, list] | None,
) -> VisibilityRule:
    """A WeCom rule as a visibility rule: the members of `viewers` (member_corp_range) see the
    owner's people of `owner` (owner_corp_range) and the members of `visible` (our extension
    visible_corp_range). The owner's side is the owner org in `visible`: partners see every
    owner contact already, so it grants nothing more; it is kept to be echoed."""
    access.require_owner_admin()
    visible = visible or {"groups": [], "orgs": []}
    if owner is None and not visible["groups"] and not visible["orgs"]:
        raise Invalid(
            "Empty rule.",
            {
                "rule_info": {
                    "owner_corp_range": [
                        "Name departmentids or userids (or members in visible_corp_range)."
                    ]
                }
            },
        )
    if owner is not None:
        visible = {**visible, "orgs": [*visible["orgs"], access.chain.owner_org_id]}
    try:
        return create_rule(session, access, viewers, visible, owner_range=owner)
    except Invalid as exc:
        # The visibility service names its own fields (viewers.orgs): say WeCom's.
        errors = {
            _RANGES.get(side, side): {_SELECTOR_KEYS.get(k, k): v for k, v in problems.items()}
            if isinstance(problems, dict)
            else problems
            for side, problems in (exc.errors or {}).items()
        }
        raise Invalid(exc.message, {"rule_info": errors}) from exc


def rule_info(session: Session, access: ChainAccess, rule: VisibilityRule) -> dict[str, Any]:
    """A visibility rule in get_rule_info's shape: `owner_corp_range` as add_rule was given it
    (empty for a rule made by POST /rules), `member_corp_range` its viewers, and the extension
    `visible_corp_range` the members it shows (without the owner org a WeCom rule put there)."""
    visible_orgs = list(rule.visible.get("orgs", []))
    if rule.owner_range is not None:
        visible_orgs = [o for o in visible_orgs if o != access.chain.owner_org_id]

    def corp_range(groups: list[str], orgs: list[int]) -> dict[str, list]:
        return {
            "groupids": group_numbers(session, access, groups),
            "corpids": [str(org_id) for org_id in orgs],
        }

    owner = rule.owner_range or {}
    return {
        "owner_corp_range": {
            "departmentids": list(owner.get("departmentids", [])),
            "userids": list(owner.get("userids", [])),
        },
        "member_corp_range": corp_range(
            rule.viewers.get("groups", []), rule.viewers.get("orgs", [])
        ),
        "visible_corp_range": corp_range(rule.visible.get("groups", []), visible_orgs),
    }
