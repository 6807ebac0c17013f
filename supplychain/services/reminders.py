"""Reminders: a notice's un-acknowledged recipients before its `ack_due`, the acknowledging side
of orders left unanswered, and the sender's on-demand reminder.

Every reminder is claimed before it is sent (`services.reminder_claims`), so two schedulers (or
two clicks) that run at once send each reminder once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.models import Notice, NoticeRecipient, Order
from supplychain.models.base import utcnow
from supplychain.models.events import ReminderClaim
from supplychain.services.audit import record_action
from supplychain.services.notices import for_sender, publish_notice_event
from supplychain.services.orders import publish_order_event
from supplychain.services.reconciliation.board import send_statement_reminders
from supplychain.services.reminder_claims import claim_reminder, unclaimed

REMIND_STATES = ("unread", "unacked")
MANUAL_INTERVAL = timedelta(hours=1)
NOTICE_DUE_AHEAD = timedelta(hours=24)
ORDER_UNACKED_AFTER = timedelta(hours=48)
MANUAL, NOTICE_DUE, ORDER_UNACKED = "notice.manual", "notice.due", "order.unacked"


@dataclass(frozen=True)
class DueReminders:
    """What one scheduled pass sent: the notices, orders and statements reminded of."""

    notices: list[int]
    orders: list[int]
    statements: list[int] = field(default_factory=list)


def _waiting(notice_id: int, only: str) -> ColumnElement[bool]:
    """SQL: the notice's recipient rows still unread, or still unacknowledged."""
    column = NoticeRecipient.read_at if only == "unread" else NoticeRecipient.acked_at
    return (NoticeRecipient.notice_id == notice_id) & column.is_(None)


def _remind_recipients(session: Session, notice: Notice, only: str) -> int:
    """Publish one `notice.reminder` to the recipients still `only`; how many (0: no event)."""
    count = session.scalar(select(func.count()).where(_waiting(notice.id, only))) or 0
    if count:
        # Not how many were reminded: a recipient must not learn how many others have not
        # read or acknowledged (the sender's answer and audit event say it).
        publish_notice_event(
            session,
            notice,
            "notice.reminder",
            select(NoticeRecipient.org_id).where(_waiting(notice.id, only)),
            {"only": only},
        )
    return count


def remind_notice(
    session: Session, access: ChainAccess, notice_id: int | None, only: str | None
) -> int:
    """The sender reminds the recipients still unacknowledged (the default when the notice asks
    for acknowledgment) or unread (otherwise); at most once an hour per notice; how many.

    Nobody left to remind sends nothing and does not count against the hourly limit."""
    notice = for_sender(session, access, notice_id)
    if notice.withdrawn_at is not None:
        raise Conflict("The notice was withdrawn; it cannot be reminded of.")
    only = only or ("unacked" if notice.requires_ack else "unread")
    if only not in REMIND_STATES:
        raise Invalid("Unknown reminder audience.", {"only": ["One of: unread, unacked."]})
    if only == "unacked" and not notice.requires_ack:
        raise Invalid(
            "This notice asks for no acknowledgment.", {"only": ["Remind the unread instead."]}
        )
    last = session.execute(
        select(ReminderClaim.id, ReminderClaim.created_at)
        .where(ReminderClaim.kind == MANUAL, ReminderClaim.subject_id == notice.id)
        .order_by(ReminderClaim.id.desc())
        .limit(1)
    ).first()
    now = utcnow()
    if last is not None and now - last.created_at < MANUAL_INTERVAL:
        raise Conflict("A reminder was sent less than an hour ago.")
    if not session.scalar(select(exists().where(_waiting(notice.id, only)))):
        return 0
    # Each claim names the one before it: of two requests that both read the same last claim,
    # only one can insert its successor.
    if not claim_reminder(session, MANUAL, notice.id, f"after:{last.id if last else 0}"):
        raise Conflict("A reminder was sent less than an hour ago.")
    count = _remind_recipients(session, notice, only)
    record_action(
        session,
        access,
        "notice.remind",
        "notice",
        notice.id,
        data={"only": only, "reminded": count},
    )
    return count


def send_due_reminders(session: Session, now: datetime) -> DueReminders:
    """The scheduled pass: one `notice.reminder` to the unacknowledged recipients of each live
    notice whose `ack_due` is within 24 h, one `order.reminder` to the acknowledging side of each
    order still `issued` 48 h after it was issued, a `statement.reminder` to each partner that
    has not answered its statement 5 days after it was ready; each once, however many
    schedulers run."""
    notices = session.scalars(
        select(Notice)
        .where(
            Notice.requires_ack.is_(True),
            Notice.withdrawn_at.is_(None),
            Notice.ack_due > now,
            Notice.ack_due <= now + NOTICE_DUE_AHEAD,
            unclaimed(NOTICE_DUE, Notice.id),
        )
        .order_by(Notice.id)
    ).all()
    reminded_notices = []
    for notice in notices:
        assert notice.ack_due is not None
        claimed = claim_reminder(session, NOTICE_DUE, notice.id, notice.ack_due.isoformat())
        if claimed and _remind_recipients(session, notice, "unacked"):
            reminded_notices.append(notice.id)
    orders = session.scalars(
        select(Order)
        .where(
            Order.is_live,
            Order.status == "issued",
            Order.created_at <= now - ORDER_UNACKED_AFTER,
            unclaimed(ORDER_UNACKED, Order.id),
        )
        .order_by(Order.id)
    ).all()
    reminded_orders = []
    for order in orders:
        if not claim_reminder(session, ORDER_UNACKED, order.id, "48h"):
            continue
        publish_order_event(session, order, "order.reminder", to=[order.acknowledger_id])
        reminded_orders.append(order.id)
    statements = send_statement_reminders(session, now)
    return DueReminders(reminded_notices, reminded_orders, statements)
