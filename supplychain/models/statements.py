"""Partners' statements (对账确认): each org's answer for a period (confirmed, disputed) and
its disputes with their lines and resolutions.

A statement row exists once something happened to (chain, org, period): the tier run that made
it ready, a confirmation or a dispute. No row reads as `open`. Its figures are never stored as
the truth: they are computed from the orders each time, and `confirmed_version` (their digest
when the partner confirmed) tells whether they changed since (`changed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supplychain.models.base import Base, BigId, intpk
from supplychain.models.columns import chain_fk, order_fk, org_fk, timestamp_now, user_fk

# Stored answers; `changed` is read, never stored (a confirmed version that is no longer current).
STATEMENT_STATES = ("open", "confirmed", "disputed")
STATEMENT_STATUSES = ("open", "confirmed", "disputed", "changed")
DISPUTE_STATUSES = ("open", "accepted", "rejected")
DISPUTE_FIELDS = ("qty", "price", "shipped", "received", "other")
RESOLUTIONS = ("accepted", "rejected")


class Statement(Base):
    """One org's statement for one period of a chain: its answer and when it was made ready."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("chain_id", "period", "org_id"),
        Index("ix_statements_ready", "ready_at"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    org_id: Mapped[org_fk]
    period: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open")
    # When a tier run last made it ready (statement.ready): reminders count from here.
    ready_at: Mapped[datetime | None]
    confirmed_version: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[user_fk | None]
    # The figures as confirmed ({"totals": ..., "lines": {...}}), so a change shows before/after.
    confirmed_figures: Mapped[dict[str, Any] | None]
    updated_at: Mapped[timestamp_now]

    def status_for(self, current_version: str) -> str:
        """The status a reader sees: `changed` when the confirmed figures are no longer current."""
        if self.state == "confirmed" and self.confirmed_version != current_version:
            return "changed"
        return self.state


class Dispute(Base):
    """A partner's objection to lines of its statement; the owner accepts or rejects it."""

    __tablename__ = "statement_disputes"
    __table_args__ = (Index("ix_statement_disputes_statement", "statement_id", "status"),)

    id: Mapped[intpk]
    statement_id: Mapped[int] = mapped_column(BigId, ForeignKey("statements.id"))
    chain_id: Mapped[chain_fk]
    org_id: Mapped[org_fk]
    period: Mapped[str] = mapped_column(String(10))
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[user_fk]
    opened_at: Mapped[timestamp_now]
    resolved_by: Mapped[user_fk | None]
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[list[DisputeLine]] = relationship(
        back_populates="dispute", order_by="DisputeLine.id", lazy="selectin"
    )


class DisputeLine(Base):
    """One disputed line: which order line, which figure, what the partner expected and why."""

    __tablename__ = "statement_dispute_lines"

    id: Mapped[intpk]
    dispute_id: Mapped[int] = mapped_column(BigId, ForeignKey("statement_disputes.id"), index=True)
    order_id: Mapped[order_fk]
    order_number: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(20))
    expected: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text)
    dispute: Mapped[Dispute] = relationship(back_populates="lines")
