"""Statements confirmation (对账确认): a partner confirms exactly the version of its statement
it saw (stale: 409). (Reading it: `statement_view`; disputes: `disputes`; the owner's board,
readiness and reminders: `board`.)

Every answer is audited and published (addressed to the owner and the statement's org) in the
transaction of the change; a confirmation keeps its version and a snapshot of what it
confirmed, so a later change reads `changed` (`statement_view`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden
from supplychain.models import Chain, Statement
from supplychain.models.base import utcnow
from supplychain.periods import Period
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_action
from supplychain.services.events import publish
from supplychain.services.reconciliation.ledger import (
    StatementScope,
    check_period,
    statement_rows,
    statement_scope,
)
from supplychain.services.reconciliation.statement_view import (
    APP,
    judged_answer,
    snapshot,
    statement_for_update,
    version_of,
    view_of,
)


def _answering_subject(access: ChainAccess, org_id: int | None) -> int:
    """Whose statement the caller answers for: only the partner's own people may (403 else)."""
    if access.is_owner:
        raise Forbidden("Only the partner's people may confirm or dispute its statement.")
    if org_id is not None and org_id != access.actor.org_id:
        raise Forbidden("A partner may answer only for its own statement.")
    return access.actor.org_id


def publish_answer(
    session: Session,
    access: ChainAccess,
    statement: Statement,
    version: str,
    about: tuple[str, int],
    extra: dict[str, Any],
) -> None:
    """Tell the statement's org and the chain owner that the org answered its statement: an
    event `statement.<the statement's new state>` (confirmed, disputed) about `about` (subject
    type and id) that carries the statement's org and period, that state, the `version`
    answered, and `extra`."""
    subject_type, subject_id = about
    publish(
        session,
        chain_id=access.chain_id,
        type=f"statement.{statement.state}",
        subject_type=subject_type,
        subject_id=subject_id,
        data={
            "org_id": str(statement.org_id),
            "period": statement.period,
            "status": statement.state,
            "version": version,
        }
        | extra,
        org_ids=to_org_and_owner(access.chain, statement.org_id),
    )


def to_org_and_owner(chain: Chain, org_id: int) -> list[int]:
    """Who hears of an answer: the statement's org and the chain's owner."""
    return [org_id, chain.owner_org_id]


@dataclass(frozen=True)
class CurrentStatement:
    """The partner's statement as it is now, for an answer to it."""

    subject: int
    period: Period
    rows: list[tuple[Any, ...]]
    version: str
    scope: StatementScope


def current_statement(
    session: Session, access: ChainAccess, period_label: str, org_id: int | None, version: str
) -> CurrentStatement:
    """The partner's statement as it is now; 409 when `version` is not it."""
    require_app(session, access, APP)
    subject = _answering_subject(access, org_id)
    period = check_period(period_label, ZoneInfo(access.chain.timezone))
    scope = statement_scope(session, access.chain)
    rows = statement_rows(session, access.chain, period, subject, scope)
    current = version_of(access.chain_id, period, subject, rows, scope)
    if version != current:
        raise Conflict(
            "The statement changed since you saw it: read it again and confirm the new version.",
            {"version": [f"Current version is {current}."]},
        )
    return CurrentStatement(subject, period, rows, current, scope)


def _audit_confirmation(
    session: Session, access: ChainAccess, statement: Statement, version: str, **extra: Any
) -> None:
    session.flush()
    record_action(
        session,
        access,
        "statement.confirm",
        "statement",
        statement.id,
        data={"org_id": statement.org_id, "period": statement.period, "version": version} | extra,
    )


def confirm_statement(
    session: Session,
    access: ChainAccess,
    period_label: str,
    version: str,
    org_id: int | None = None,
) -> dict[str, Any]:
    """The partner confirms the version of its statement it saw: 409 if the figures changed
    since, or while a dispute is open; confirming a statement that reads `confirmed` again
    raises no second event. One that reads `confirmed` only within the statement's scope now
    (its stored confirmation also held orders the scope no longer gives it) is brought to the
    version confirmed now: the stored version and lines become the statement's (audited), the
    first confirmation's time and person are kept, no event."""
    now_is = current_statement(session, access, period_label, org_id, version)
    subject, period, rows, current = now_is.subject, now_is.period, now_is.rows, now_is.version
    statement = statement_for_update(session, access.chain_id, subject, period.label)
    if statement.state == "disputed":
        raise Conflict("A dispute on this statement is open: it must be resolved first.")
    judged = judged_answer(
        session, access.chain_id, period, subject, statement, current, now_is.scope
    )
    if judged is None or judged.status != "confirmed":
        now = utcnow()
        statement.state = "confirmed"
        statement.confirmed_version = current
        statement.confirmed_at = now
        statement.confirmed_by = access.actor.user_id
        statement.confirmed_figures = snapshot(rows)
        statement.updated_at = now
        _audit_confirmation(session, access, statement, current)
        confirmed = {"confirmed_at": now.isoformat(), "confirmed_by": str(access.actor.user_id)}
        publish_answer(session, access, statement, current, ("statement", statement.id), confirmed)
    elif statement.confirmed_version != current:
        # Stands within the scope now: what the partner confirmed now is kept instead, so its
        # answer names the version it sent and later reads need not judge it again.
        statement.confirmed_version = current
        statement.confirmed_figures = snapshot(rows)
        statement.updated_at = utcnow()
        _audit_confirmation(session, access, statement, current, rescoped=True)
    return view_of(session, access, period, subject, rows, current, now_is.scope)
