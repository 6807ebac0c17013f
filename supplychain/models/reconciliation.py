"""Reconciliation schedules and runs (one claimed row per chain, tier, period and revision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, intpk, str50
from supplychain.models.columns import chain_fk, timestamp_now, user_fk

RUN_STATUSES = ("queued", "running", "succeeded", "failed")
FREQUENCIES = ("monthly", "weekly")


class ReconciliationSchedule(Base):
    """When a chain's tier workbooks are produced: monthly (day, hour) or weekly (weekday, hour)."""

    __tablename__ = "reconciliation_schedules"

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(unique=True)
    frequency: Mapped[str50]
    day: Mapped[int] = mapped_column(Integer)
    hour: Mapped[int] = mapped_column(Integer)
    tiers: Mapped[list[Any] | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[user_fk | None]
    updated_at: Mapped[timestamp_now]


class ReconciliationRun(Base):
    """One workbook for (chain, tier, period, revision); claiming the row makes a run exactly-once."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        UniqueConstraint("chain_id", "tier", "period", "revision"),
        Index("ix_reconciliation_runs_chain_period", "chain_id", "period", "tier"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    tier: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    trigger: Mapped[str] = mapped_column(String(20), default="api")
    requested_by: Mapped[user_fk | None]
    rows: Mapped[int | None] = mapped_column(Integer)
    orgs: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    path: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp_now]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Who may produce it now: a token given at each claim (and taking over). A producer whose
    # token is no longer the row's lost the run and records nothing.
    claim: Mapped[str | None] = mapped_column(String(32))
