"""Supply and demand notices, their recipients (one row per org) and quantity responses."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import AMOUNT, Base, BigId, intpk, money, str50, str200
from supplychain.models.columns import chain_fk, key_part, org_fk, timestamp_now, user_fk

NOTICE_KINDS = ("supply", "demand")


class Notice(Base):
    """A broadcast from one org to an audience of member orgs, with items and optional ack."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_chain_sender", "chain_id", "sender_org_id", "id"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    sender_org_id: Mapped[org_fk]
    sender_user_id: Mapped[user_fk]
    kind: Mapped[str50]
    title: Mapped[str200]
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict[str, Any]]
    requires_ack: Mapped[bool] = mapped_column(Boolean, default=False)
    ack_due: Mapped[datetime | None]
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[timestamp_now]
    withdrawn_at: Mapped[datetime | None]


class NoticeItem(Base):
    """One line of a notice: what is available or needed."""

    __tablename__ = "notice_items"
    __table_args__ = (UniqueConstraint("notice_id", "sku"),)

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(500))
    qty: Mapped[money]
    unit: Mapped[str | None] = mapped_column(String(20))
    unit_price: Mapped[Decimal | None] = mapped_column(AMOUNT)
    available_from: Mapped[date | None]
    available_until: Mapped[date | None]


class NoticeRecipient(Base):
    """One recipient org of a notice, with its read, ack and response state.

    The fan-out table: a notice to a whole tier writes one row per org in one statement, so a
    row costs as little as it can. The key is (notice_id, org_id); `chain_id` is the notice's,
    copied so an org's inbox in one chain is counted and paged from one index without reading
    notices. There are deliberately no foreign keys on notice_id, org_id and chain_id: on
    PostgreSQL each is a per-row trigger that reads and share-locks the parent row, three
    quarters of a 10 000-org fan-out (`make bench notices`). The one writer of these rows, the
    fan-out, takes the org ids from the chain's live members and the notice id it has just
    inserted, in the same transaction, and neither notices nor orgs are ever deleted.
    """

    __tablename__ = "notice_recipients"
    __table_args__ = (
        Index("ix_notice_recipients_org_chain_notice", "org_id", "chain_id", "notice_id"),
    )

    notice_id: Mapped[key_part]
    org_id: Mapped[key_part]
    chain_id: Mapped[int] = mapped_column(BigId)
    read_at: Mapped[datetime | None]
    read_by: Mapped[user_fk | None]
    acked_at: Mapped[datetime | None]
    acked_by: Mapped[user_fk | None]
    ack_note: Mapped[str | None] = mapped_column(String(2000))
    responded_at: Mapped[datetime | None]


class NoticeResponse(Base):
    """A recipient org's answer with quantities; a newer answer supersedes the org's previous one."""

    __tablename__ = "notice_responses"
    __table_args__ = (Index("ix_notice_responses_notice_org", "notice_id", "org_id"),)

    id: Mapped[intpk]
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id"))
    org_id: Mapped[org_fk]
    user_id: Mapped[user_fk]
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[timestamp_now]
    superseded_at: Mapped[datetime | None]


class NoticeResponseLine(Base):
    """A quantity for one sku in a response."""

    __tablename__ = "notice_response_lines"
    __table_args__ = (Index("ix_notice_response_lines_notice_sku", "notice_id", "sku"),)

    id: Mapped[intpk]
    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("notice_responses.id"), index=True)
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id"))
    sku: Mapped[str] = mapped_column(String(64))
    qty: Mapped[money]
    current: Mapped[bool] = mapped_column(Boolean, default=True)
