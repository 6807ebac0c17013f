"""Webhook endpoints an org admin registers for its own org in a chain, and their deliveries.

An org's endpoints are its own business: its admins list, change, test and remove them; anyone
else (another org's admin, the chain owner included) finds no such endpoint (404), and the org's
staff may not manage them (403). The secret that signs deliveries is made here and shown once,
by the caller that creates the endpoint.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import Delivery, Event, WebhookEndpoint
from supplychain.models.base import utcnow
from supplychain.models.events import EVENT_TYPES
from supplychain.net.addresses import UrlRefused, check_url
from supplychain.services.audit import record_action
from supplychain.services.events import publish_ping
from supplychain.services.pagination import Page, paginate

ALL_EVENTS = "*"
SECRET_BYTES = 32  # Standard Webhooks: a secret of 24 to 64 random bytes
CHANNEL = "webhook"
_KEEP = object()


@dataclass(frozen=True)
class DeliveryView:
    """One delivery of an endpoint as its log shows it."""

    id: int
    event_id: int
    event_type: str | None
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: `whsec_` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def require_org_admin(access: ChainAccess) -> None:
    """Only the org's admins manage its webhooks."""
    if not access.actor.is_admin:
        raise Forbidden("Only an admin of your org may manage its webhooks.")


def checked_url(url: str, allow_private: bool) -> str:
    """The URL if outbound HTTP may go there (http(s), public address); 422 on `url` if not."""
    try:
        check_url(url, allow_private)
    except UrlRefused as exc:
        raise Invalid("Check the webhook URL.", {"url": [str(exc)]})
    return url


def checked_events(events: list[str]) -> list[str]:
    """Known event types without repeats, or `["*"]` for all; 422 listing unknown ones."""
    unknown = [e for e in dict.fromkeys(events) if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        listed = ", ".join(unknown)
        raise Invalid(
            f"Unknown event types: {listed}", {"events": [f"Unknown event types: {listed}"]}
        )
    if not events:
        raise Invalid("Choose event types.", {"events": ["Choose at least one, or * for all."]})
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(events))


def endpoints_query(access: ChainAccess) -> Select:
    """The caller's org's live endpoints in the chain, oldest first (its admins only)."""
    require_org_admin(access)
    return (
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.chain_id == access.chain_id,
            WebhookEndpoint.org_id == access.actor.org_id,
            WebhookEndpoint.deleted_at.is_(None),
        )
        .order_by(WebhookEndpoint.id)
    )


def get_endpoint(session: Session, access: ChainAccess, endpoint_id: int | None) -> WebhookEndpoint:
    """One of the caller's org's endpoints; 404 for any other (another org's, removed)."""
    found = None
    if endpoint_id is not None:
        found = session.scalar(endpoints_query(access).where(WebhookEndpoint.id == endpoint_id))
    if found is None:
        raise NotFound("No such webhook.")
    return found


def create_endpoint(
    session: Session,
    access: ChainAccess,
    *,
    url: str,
    events: list[str],
    kind: str = "standard",
    language: str = "zh",
    description: str | None = None,
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Register an endpoint for the caller's org (its admins) with a new signing secret."""
    require_org_admin(access)
    endpoint = WebhookEndpoint(
        chain_id=access.chain_id,
        org_id=access.actor.org_id,
        url=checked_url(url, allow_private),
        kind=kind,
        language=language,
        events=checked_events(events),
        description=description,
        secret=new_secret(),
        enabled=True,
        created_by=access.actor.user_id,
    )
    session.add(endpoint)
    session.flush()
    # Never the URL (a WeCom robot's URL is its key) nor the secret: the owner reads the audit.
    _audit(session, access, "webhook.create", endpoint, {"kind": kind, "events": endpoint.events})
    return endpoint


def update_endpoint(
    session: Session,
    access: ChainAccess,
    endpoint_id: int | None,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
    language: str | None = None,
    description: str | object | None = _KEEP,
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Change an endpoint; disabling it fails its pending deliveries (redeliver brings one back)."""
    endpoint = get_endpoint(session, access, endpoint_id)
    changed: list[str] = []
    if url is not None and url != endpoint.url:
        endpoint.url = checked_url(url, allow_private)
        changed.append("url")
    if events is not None:
        endpoint.events = checked_events(events)
        changed.append("events")
    if language is not None:
        endpoint.language = language
        changed.append("language")
    if description is not _KEEP:
        endpoint.description = description  # type: ignore[assignment]
        changed.append("description")
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        changed.append("enabled")
        if not enabled:
            _fail_pending(session, endpoint.id, "The endpoint is disabled.")
    endpoint.updated_at = utcnow()
    session.flush()
    _audit(session, access, "webhook.update", endpoint, {"changed": changed})
    return endpoint


def delete_endpoint(session: Session, access: ChainAccess, endpoint_id: int | None) -> None:
    """Remove an endpoint (kept for its delivery log, never sent to again)."""
    endpoint = get_endpoint(session, access, endpoint_id)
    endpoint.deleted_at = endpoint.updated_at = utcnow()
    endpoint.enabled = False
    _fail_pending(session, endpoint.id, "The endpoint was removed.")
    session.flush()
    _audit(session, access, "webhook.delete", endpoint, {})


def _fail_pending(session: Session, endpoint_id: int, reason: str) -> None:
    """What still waits to go to an endpoint that no longer takes deliveries fails now."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.endpoint_id == endpoint_id,
            Delivery.channel == CHANNEL,
            Delivery.status == "pending",
        )
        .values(status="failed", last_error=reason)
        .execution_options(synchronize_session=False)
    )


def _new_delivery(event_id: int, endpoint: WebhookEndpoint) -> Delivery:
    return Delivery(
        event_id=event_id,
        chain_id=endpoint.chain_id,
        channel=CHANNEL,
        endpoint_id=endpoint.id,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict("This webhook is disabled; enable it first.")


def send_test(session: Session, access: ChainAccess, endpoint_id: int | None) -> DeliveryView:
    """Queue a `ping` to one of the caller's org's enabled endpoints; its delivery."""
    endpoint = get_endpoint(session, access, endpoint_id)
    _require_enabled(endpoint)
    event = publish_ping(session, endpoint)
    _audit(session, access, "webhook.test", endpoint, {"event_id": event.public_id})
    delivery = session.scalar(
        select(Delivery).where(Delivery.event_id == event.id, Delivery.endpoint_id == endpoint.id)
    )
    assert delivery is not None
    return _view(delivery, event.type)


def deliveries_page(
    session: Session,
    access: ChainAccess,
    endpoint_id: int | None,
    status: str | None,
    page: int,
    page_size: int,
) -> Page:
    """An endpoint's deliveries, newest first, optionally of one status."""
    endpoint = get_endpoint(session, access, endpoint_id)
    stmt = (
        select(Delivery, Event.type)
        .outerjoin(Event, Event.id == Delivery.event_id)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.channel == CHANNEL)
        .order_by(Delivery.id.desc())
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    found = paginate(session, stmt, page, page_size, scalars=False)
    found.items = [_view(delivery, event_type) for delivery, event_type in found.items]
    return found


def redeliver(
    session: Session, access: ChainAccess, endpoint_id: int | None, delivery_id: int | None
) -> DeliveryView:
    """Send a delivery's event again (same `webhook-id`): a pending one is made due now, a
    finished one gets a new delivery with a fresh schedule."""
    endpoint = get_endpoint(session, access, endpoint_id)
    _require_enabled(endpoint)
    delivery = None
    if delivery_id is not None:
        delivery = session.scalar(
            select(Delivery).where(
                Delivery.id == delivery_id,
                Delivery.endpoint_id == endpoint.id,
                Delivery.channel == CHANNEL,
            )
        )
    if delivery is None:
        raise NotFound("No such delivery.")
    if delivery.status == "pending":
        delivery.next_attempt_at = utcnow()
        again = delivery
    else:
        again = _new_delivery(delivery.event_id, endpoint)
        session.add(again)
    session.flush()
    event_type = session.scalar(select(Event.type).where(Event.id == delivery.event_id))
    _audit(
        session,
        access,
        "webhook.redeliver",
        endpoint,
        {"event_id": f"evt_{delivery.event_id}", "delivery_id": str(again.id)},
    )
    return _view(again, event_type)


def _view(delivery: Delivery, event_type: str | None) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def _audit(
    session: Session, access: ChainAccess, action: str, endpoint: WebhookEndpoint, data: dict
) -> None:
    record_action(session, access, action, "webhook", endpoint.id, data=data)
