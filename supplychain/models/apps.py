"""Custom apps of a chain and grants that share apps with partners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, intpk, str50, str200, str500
from supplychain.models.columns import chain_fk, timestamp_now, user_fk

GRANT_SCOPES = ("all", "tier", "group", "org")


class App(Base):
    """A custom app the owner registers (name + URL), listed to partners it is granted to."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("chain_id", "key"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    key: Mapped[str50]
    name: Mapped[str200]
    url: Mapped[str500]
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[timestamp_now]


class Grant(Base):
    """ "App X is shared with scope S" (all partners, a tier, a group with subgroups, one org)."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_chain_app", "chain_id", "app_key"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    app_key: Mapped[str50]
    scope_type: Mapped[str50]
    scope_value: Mapped[str500 | None]
    created_by: Mapped[user_fk | None]
    created_at: Mapped[timestamp_now]
    revoked_at: Mapped[datetime | None]
