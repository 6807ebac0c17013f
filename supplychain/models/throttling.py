"""Failed sign-in attempts, counted in the database so a limit holds across workers and hosts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, intpk


class SignInAttempt(Base):
    """One sign-in attempt counted against one key: an email or a client address.

    The key is stored as the SHA-256 of its kind and value (`email:a@b.example`), so a very long
    or odd email costs 64 characters and the table names no person or address. A row is written
    before the password is checked and deleted again if the attempt succeeds: what stays are
    failures, each its own row, so concurrent attempts lose no counts."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_key_at", "key_hash", "attempted_at"),)

    id: Mapped[intpk]
    key_hash: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(index=True)
