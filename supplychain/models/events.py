"""Events and their deliveries (the transactional outbox), webhook endpoints, people's
notification settings, password resets and reminder claims.

An event is written in the same transaction as the change it tells of, with one addressing row per
org that may see it and one delivery row per matching webhook endpoint or mailbox. Workers claim
due deliveries with a lease, send outside any transaction and record the outcome; nothing here
needs a message broker.

Like `notice_recipients`, the fan-out tables (`event_recipients`, `deliveries`) carry no foreign
keys: a notice to 10 000 orgs writes its events' rows in bulk `INSERT ... SELECT` statements, and on
PostgreSQL every foreign key is a per-row trigger that reads and share-locks its parent. Their only
writers take the ids from rows they read in the same transaction, and nothing they point at is
ever deleted (webhook endpoints are disabled and soft-deleted, never removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, BigId, intpk, str50, str200, str500
from supplychain.models.columns import chain_fk, key_part, org_fk, timestamp_now, user_fk

EVENT_TYPES = (
    "notice.published",
    "notice.withdrawn",
    "notice.acknowledged",
    "notice.responded",
    "notice.reminder",
    "order.issued",
    "order.acknowledged",
    "order.amended",
    "order.cancelled",
    "order.shipped",
    "order.received",
    "order.reminder",
    "ship_notice.issued",
    "ship_notice.cancelled",
    "ship_notice.received",
    "statement.ready",
    "statement.confirmed",
    "statement.disputed",
    "dispute.resolved",
    "statement.reminder",
    "invoice.submitted",
    "invoice.approved",
    "invoice.rejected",
    "reconciliation.run.succeeded",
    "reconciliation.run.failed",
    "member.joined",
    "member.updated",
    "member.removed",
    "link.created",
    "link.deleted",
    "app.shared",
    "app.unshared",
    "ping",
)
WEBHOOK_KINDS = ("standard", "wecom_robot")
WEBHOOK_LANGUAGES = ("zh", "en")
DELIVERY_CHANNELS = ("webhook", "email", "logout")
DELIVERY_STATUSES = ("pending", "succeeded", "failed")
EMAIL_MODES = ("immediate", "daily", "off")


class Event(Base):
    """A fact worth telling someone, written with the change; `data` is the body's `data`."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_chain_id_id", "chain_id", "id"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    type: Mapped[str50]
    subject_type: Mapped[str50]
    subject_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, Any]]
    occurred_at: Mapped[timestamp_now]

    @property
    def public_id(self) -> str:
        """The id receivers see (`evt_...`): the same on every retry of every delivery."""
        return f"evt_{self.id}"


class EventRecipient(Base):
    """An org an event is addressed to: the pull feed reads these, and only these."""

    __tablename__ = "event_recipients"
    __table_args__ = (
        Index("ix_event_recipients_org_chain_event", "org_id", "chain_id", "event_id"),
    )

    event_id: Mapped[key_part]
    org_id: Mapped[key_part]
    chain_id: Mapped[int] = mapped_column(BigId)


class WebhookEndpoint(Base):
    """Where an org's admins want its events posted: a Standard Webhooks receiver or a WeCom
    group robot. The secret signs every delivery; the API shows it once, at creation."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_chain_org", "chain_id", "org_id"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk]
    org_id: Mapped[org_fk]
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(20), default="standard")
    language: Mapped[str] = mapped_column(String(5), default="zh")
    events: Mapped[list[Any]]
    description: Mapped[str500 | None]
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[user_fk]
    created_at: Mapped[timestamp_now]
    updated_at: Mapped[timestamp_now]
    deleted_at: Mapped[datetime | None]


class Delivery(Base):
    """One attempt-tracked send of one event to one webhook endpoint or one person's mailbox.

    `pending` deliveries are due at `next_attempt_at`; a worker claims one by setting
    `lease_until` (and `leased_by`), sends outside any transaction and records the outcome. A
    lease that expires (the worker died) makes the delivery claimable again.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_endpoint_id", "endpoint_id", "id"),
        Index("ix_deliveries_event_id", "event_id"),
    )

    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(BigId)
    chain_id: Mapped[int] = mapped_column(BigId)
    channel: Mapped[str] = mapped_column(String(10))
    endpoint_id: Mapped[int | None] = mapped_column(BigId)
    user_id: Mapped[int | None] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[timestamp_now]
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(100))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str500 | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[timestamp_now]


class NotificationSetting(Base):
    """A person's email preference; no row means the default (`immediate`, default events)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[user_fk] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(10), default="immediate")
    events: Mapped[list[Any] | None]
    updated_at: Mapped[timestamp_now]


class PasswordReset(Base):
    """A single-use password reset link: only the SHA-256 of its token is stored."""

    __tablename__ = "password_resets"

    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp_now]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ReminderClaim(Base):
    """Makes a reminder exactly-once across schedulers: the first to insert (kind, subject, due)
    sends it; every other process hits the unique constraint and skips."""

    __tablename__ = "reminder_claims"
    __table_args__ = (UniqueConstraint("kind", "subject_id", "due_key"),)

    id: Mapped[intpk]
    kind: Mapped[str50]
    subject_id: Mapped[int] = mapped_column(BigId)
    due_key: Mapped[str200]
    created_at: Mapped[timestamp_now]
