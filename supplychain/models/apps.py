"""Custom apps of a chain and grants that share apps with partners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, BigId, intpk, str50, str200, str500, utcnow

GRANT_SCOPES = ("all", "tier", "group", "org")


class App(Base):
    """A custom app the owner registers (name + URL), listed to partners it is granted to."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("chain_id", "key"),)

    id: Mapped[intpk]
    chain_id: Mapped[int] = mapped_column(BigId, ForeignKey("chains.id"), index=True)
    key: Mapped[str50]
    name: Mapped[str200]
    url: Mapped[str500]
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Grant(Base):
    """ "App X is shared with scope S" (all partners, a tier, a group with subgroups, one org)."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_chain_app", "chain_id", "app_key"),)

    id: Mapped[intpk]
    chain_id: Mapped[int] = mapped_column(BigId, ForeignKey("chains.id"))
    app_key: Mapped[str50]
    scope_type: Mapped[str50]
    scope_value: Mapped[str500 | None]
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
