"""Audit events and stored responses for Idempotency-Key replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, intpk, str50, str200, utcnow
from supplychain.models.columns import chain_fk, org_fk, timestamp_now, user_fk


class AuditEvent(Base):
    """One state change: who, from which org, did what to which target, when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_chain_at", "chain_id", "at"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk | None]
    at: Mapped[timestamp_now]
    user_id: Mapped[user_fk | None]
    org_id: Mapped[org_fk | None]
    action: Mapped[str50]
    target_type: Mapped[str50]
    target_id: Mapped[str50 | None]
    data: Mapped[dict[str, Any]]


class IdempotencyRecord(Base):
    """The first response to a (user, Idempotency-Key) pair, replayed for identical retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[intpk]
    user_id: Mapped[user_fk]
    key: Mapped[str200]
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    # Headers a replay must carry too (a 202's Location).
    response_headers: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
