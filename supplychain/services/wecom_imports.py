"""WeCom's import jobs (batch import of partner corps): the partner import (`services.imports`)
run on WeCom's shapes, its outcome kept for getresult, failures in WeCom's words.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.excel.importer import SheetRow
from supplychain.models.base import utcnow
from supplychain.models.wecom import WeComImportJob
from supplychain.services.import_rows import MAX_REPORTED_ERRORS, read_rows
from supplychain.services.imports import ImportResult, import_directory
from supplychain.services.invitations import stored_invite_list
from supplychain.services.wecom import owned_chain

# WeCom's task states (getresult `status`) and our import outcomes (`import_status`).
JOB_STARTED, JOB_RUNNING, JOB_DONE = 1, 2, 3
IMPORTED_ALL, IMPORTED_NONE = 1, 3
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
