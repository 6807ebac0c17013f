"""Audit trail: one event for every state change, and the owner's view of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.models import AuditEvent


@dataclass(frozen=True)
class Author:
    """Who did it, as plain ids: for work that outlives the request (and its session)."""

    user_id: int
    org_id: int

    @classmethod
    def of(cls, actor: Actor | None) -> Author | None:
        """The actor's ids (None for the system)."""
        return None if actor is None else cls(user_id=actor.user_id, org_id=actor.org_id)


def record_event(
    session: Session,
    actor: Actor | Author | None,
    action: str,
    target_type: str,
    target_id: int | str | None,
    *,
    chain_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction (it commits or rolls back with the change)."""
    event = AuditEvent(
        chain_id=chain_id,
        user_id=actor.user_id if actor else None,
        org_id=actor.org_id if actor else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        data=data or {},
    )
    session.add(event)
    return event


def record_action(
    session: Session,
    access: ChainAccess,
    action: str,
    target_type: str,
    target_id: int | str | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """`record_event` of what a caller did inside its chain: by the caller, in that chain."""
    return record_event(
        session, access.actor, action, target_type, target_id, chain_id=access.chain_id, data=data
    )


def audit_query(chain_id: int, since: datetime | None, action: str | None) -> Select:
    """Events of one chain, oldest first, optionally from `since` and of one action."""
    stmt = select(AuditEvent).where(AuditEvent.chain_id == chain_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return stmt.order_by(AuditEvent.at, AuditEvent.id)
