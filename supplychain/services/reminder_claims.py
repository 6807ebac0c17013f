"""Reminder claims: every reminder is claimed before it is sent.

A `ReminderClaim` row is inserted with `ON CONFLICT DO NOTHING` in the transaction that publishes
the reminder. The unique constraint (kind, subject, due) is the lock, so two schedulers (or two
clicks) that run at once send each reminder once: the second insert waits for the first
transaction and then inserts nothing. Notices' and orders' reminders (`services.reminders`) and
statements' (`services.reconciliation.board`) claim here.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from supplychain.models.base import utcnow
from supplychain.models.events import ReminderClaim


def claim_reminder(session: Session, kind: str, subject_id: int, due_key: str) -> bool:
    """Insert the claim for one reminder; False when another transaction holds it already."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = session.execute(
        dialect.insert(ReminderClaim)
        .values(kind=kind, subject_id=subject_id, due_key=due_key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["kind", "subject_id", "due_key"])
        # The returned id, not `rowcount`: on PostgreSQL (psycopg 3, implicit RETURNING) a skipped
        # insert reported rowcount 1.
        .returning(ReminderClaim.id)
    )
    return result.scalar() is not None


def unclaimed(kind: str, subject: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: no reminder of `kind` was claimed for `subject` yet (any due key)."""
    return ~exists().where(ReminderClaim.kind == kind, ReminderClaim.subject_id == subject)
