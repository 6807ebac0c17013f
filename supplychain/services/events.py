"""Events written with the change (the transactional outbox): the event, the orgs it is addressed
to and its deliveries, in a fixed number of statements however many orgs it reaches; the pull
feed; people's email preferences.

`publish` is called by every service that changes something someone must be told of, in the
same transaction as the change and its audit event: nothing is announced that did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.models import Chain, User
from supplychain.models.base import utcnow
from supplychain.models.events import (
    EVENT_TYPES,
    Delivery,
    Event,
    EventRecipient,
    NotificationSetting,
    WebhookEndpoint,
)
from supplychain.models.invitations import PRE_ACTIVATION_EVENTS
from supplychain.services.bulk import among_ids, insert_rows, is_postgres
from supplychain.services.notification_settings import DEFAULT_EVENTS
from supplychain.services.pagination import Page, paginate

DIGEST_HOUR = 8


def next_digest_at(now: datetime, timezone: str) -> datetime:
    """The next 08:00 in the chain's timezone strictly after `now`: when daily mail is due."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    due = datetime.combine(local.date(), time(DIGEST_HOUR), tzinfo=zone)
    if due <= local:
        due = datetime.combine(local.date() + timedelta(days=1), time(DIGEST_HOUR), tzinfo=zone)
    return due.astimezone(now.tzinfo)


def _json_list_has(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """SQL: the JSON list in `column` holds one of `values` (strings or SQL expressions;
    portable across both databases)."""
    if is_postgres(session):
        elements = func.json_array_elements_text(column).table_valued("value")
    else:
        elements = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value.in_(values)))


def _json_absent(session: Session, column: Any) -> ColumnElement[bool]:
    """SQL: `column` holds no JSON value: SQL NULL or a JSON null."""
    typeof = "json_typeof" if is_postgres(session) else "json_type"
    return func.coalesce(getattr(func, typeof)(column), "null") == "null"


def publish(
    session: Session,
    *,
    chain_id: int,
    type: str,
    subject_type: str,
    subject_id: int | None,
    data: dict[str, Any],
    org_ids: Iterable[int] | Select,
) -> Event:
    """Record an event addressed to `org_ids` (ids, or a SELECT of them) and queue its
    deliveries: one per matching enabled webhook endpoint of an addressed org, one per person
    of an addressed org whose email preference wants it. Four statements, however many orgs."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    now = utcnow()
    event = Event(
        chain_id=chain_id,
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        occurred_at=now,
    )
    session.add(event)
    session.flush()
    if isinstance(org_ids, Select):
        source = org_ids.subquery()
        session.execute(
            insert(EventRecipient).from_select(
                ["event_id", "org_id", "chain_id"],
                select(literal(event.id), source.c[0], literal(chain_id)).distinct(),
            )
        )
    else:
        ids = sorted({int(org_id) for org_id in org_ids})
        if ids:
            session.execute(
                insert(EventRecipient),
                [{"event_id": event.id, "org_id": o, "chain_id": chain_id} for o in ids],
            )
    _queue_deliveries(session, chain_id, EventRecipient.event_id == event.id, now)
    return event


@dataclass(frozen=True)
class NewEvent:
    """One event of a batch for `publish_many`: what `publish` takes, for one chain."""

    type: str
    subject_type: str
    subject_id: int
    data: dict[str, Any]
    org_ids: tuple[int, ...]


def publish_about(
    session: Session,
    subject_type: str,
    subject: Any,
    *,
    type: str,
    data: dict[str, Any],
    org_ids: Iterable[int] | Select,
) -> Event:
    """`publish` an event about one row of a chain (an order, a notice...): its chain and id
    are the row's `chain_id` and `id`."""
    return publish(
        session,
        chain_id=subject.chain_id,
        type=type,
        subject_type=subject_type,
        subject_id=subject.id,
        data=data,
        org_ids=org_ids,
    )


def publish_many(session: Session, *, chain_id: int, events: Sequence[NewEvent]) -> int:
    """Record many events of one chain at once (an import's new members), each addressed to
    its own orgs, and queue their deliveries as `publish` does: five bulk statements however
    many events and orgs (on SQLite the events' executemany goes in pages of 1 000 rows).
    Events are told apart by (type, subject): one of each per batch. Returns how many events
    were written."""
    if not events:
        return 0
    keys = [(e.type, e.subject_type, e.subject_id) for e in events]
    if len(set(keys)) != len(keys):
        raise ValueError("one event per type and subject in a batch")
    unknown = {e.type for e in events} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)!r}")
    now = utcnow()
    table = Event.__table__
    written = insert_rows(
        session,
        table,
        [
            {
                "chain_id": chain_id,
                "type": e.type,
                "subject_type": e.subject_type,
                "subject_id": e.subject_id,
                "data": e.data,
                "occurred_at": now,
            }
            for e in events
        ],
        table.c.id,
        table.c.type,
        table.c.subject_type,
        table.c.subject_id,
    )
    ids = {
        (type, subject_type, subject_id): event_id
        for event_id, type, subject_type, subject_id in written
    }
    event_ids = [ids[key] for key in keys]
    insert_rows(
        session,
        EventRecipient.__table__,
        [
            {"event_id": event_id, "org_id": org_id, "chain_id": chain_id}
            for event_id, e in zip(event_ids, events, strict=True)
            for org_id in sorted(set(e.org_ids))
        ],
    )
    _queue_deliveries(
        session, chain_id, among_ids(session, EventRecipient.event_id, event_ids), now
    )
    return len(event_ids)


def _queue_deliveries(
    session: Session, chain_id: int, addressed: ColumnElement[bool], now: datetime
) -> None:
    """Queue the deliveries of the events whose addressing rows `addressed` selects."""
    _queue_webhooks(session, addressed, now)
    chain = session.get(Chain, chain_id)
    timezone = chain.timezone if chain is not None else "UTC"
    _queue_emails(session, addressed, now, next_digest_at(now, timezone))


def _queue_webhooks(session: Session, addressed: ColumnElement[bool], now: datetime) -> None:
    """One delivery per enabled, live endpoint of an addressed org that takes the event's type."""
    endpoints = (
        select(Event.id, Event.chain_id, literal("webhook"), WebhookEndpoint.id)
        .select_from(EventRecipient)
        .join(Event, Event.id == EventRecipient.event_id)
        .join(
            WebhookEndpoint,
            and_(
                WebhookEndpoint.org_id == EventRecipient.org_id,
                WebhookEndpoint.chain_id == Event.chain_id,
            ),
        )
        .where(
            addressed,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.deleted_at.is_(None),
            _json_list_has(session, WebhookEndpoint.events, (Event.type, literal("*"))),
        )
    )
    insert_pending_deliveries(session, endpoints, "endpoint_id", now)


def _queue_emails(
    session: Session, addressed: ColumnElement[bool], now: datetime, digest_at: datetime
) -> None:
    """One delivery per signed-up person of an addressed org whose preference wants the type:
    due now for `immediate`, at the next digest for `daily`, none for `off`; and per invited,
    not yet activated person for notices and orders (services.invitations)."""
    mode = func.coalesce(NotificationSetting.email, "immediate")
    # No list (SQL NULL, or a JSON null) means the default types.
    wants = case(
        (
            _json_absent(session, NotificationSetting.events),
            Event.type.in_(sorted(DEFAULT_EVENTS)),
        ),
        else_=_json_list_has(session, NotificationSetting.events, (Event.type,)),
    )
    due = case(
        (mode == "daily", literal(digest_at, Delivery.next_attempt_at.type)),
        else_=literal(now, Delivery.next_attempt_at.type),
    )
    people = (
        select(Event.id, Event.chain_id, literal("email"), User.id)
        .select_from(EventRecipient)
        .join(Event, Event.id == EventRecipient.event_id)
        .join(User, User.org_id == EventRecipient.org_id)
        .outerjoin(NotificationSetting, NotificationSetting.user_id == User.id)
        .where(
            addressed,
            or_(
                User.password_hash.is_not(None),
                # Invited, not yet activated: told of notices and orders in a short message.
                and_(
                    User.invite_code_hash.is_not(None),
                    Event.type.in_(PRE_ACTIVATION_EVENTS),
                ),
            ),
            User.email.is_not(None),
            mode != "off",
            wants,
        )
    )
    insert_pending_deliveries(session, people, "user_id", now, due=due)


def insert_pending_deliveries(
    session: Session,
    rows: Select,
    recipient: str,
    now: datetime,
    *,
    due: ColumnElement[datetime] | None = None,
) -> None:
    """One pending delivery, in one INSERT ... SELECT, per row of `rows`: (event id, chain id,
    channel, the recipient's id: the `recipient` column, `endpoint_id` or `user_id`); first due
    at `due` (an SQL expression over the rows; None: now)."""
    if due is None:
        due = literal(now, Delivery.next_attempt_at.type)
    session.execute(
        insert(Delivery).from_select(
            ["event_id", "chain_id", "channel", recipient]
            + ["status", "attempts", "next_attempt_at", "created_at"],
            rows.add_columns(
                literal("pending"), literal(0), due, literal(now, Delivery.created_at.type)
            ),
            include_defaults=False,
        )
    )


def publish_ping(session: Session, endpoint: WebhookEndpoint) -> Event:
    """A `ping` addressed to the endpoint's org with exactly one delivery: to that endpoint."""
    now = utcnow()
    event = Event(
        chain_id=endpoint.chain_id,
        type="ping",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        data={"endpoint_id": str(endpoint.id)},
        occurred_at=now,
    )
    session.add(event)
    session.flush()
    session.execute(
        insert(EventRecipient),
        [{"event_id": event.id, "org_id": endpoint.org_id, "chain_id": endpoint.chain_id}],
    )
    session.add(
        Delivery(
            event_id=event.id,
            chain_id=endpoint.chain_id,
            channel="webhook",
            endpoint_id=endpoint.id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return event


# --- the pull feed ----------------------------------------------------------------------------


def feed_page(
    session: Session,
    access: ChainAccess,
    after: int | None,
    type: str | None,
    page: int,
    page_size: int,
) -> Page:
    """Events of the chain addressed to the caller's org, oldest first; `after` an event id."""
    stmt = (
        select(Event)
        .join(
            EventRecipient,
            and_(
                EventRecipient.event_id == Event.id,
                EventRecipient.org_id == access.actor.org_id,
                EventRecipient.chain_id == access.chain_id,
            ),
        )
        .where(Event.chain_id == access.chain_id)
        .order_by(Event.id)
    )
    if after is not None:
        stmt = stmt.where(Event.id > after)
    if type:
        stmt = stmt.where(Event.type == type)
    return paginate(session, stmt, page, page_size)
