"""What outbound messages call each event type, and the page each leads to: one table for the
mail and the WeCom robot.

`Words.headline` is the message id of the short headline (the robot's title): keyed
`event.<type>` because its English words ("New notice", "Open") already mean something else on
the pages; en.json and zh.json hold its text. `Words.subject` is the message id of what mail
says, filled in with the event's values (English text, translated in zh.json); an event without
one (or without the values it needs) gets `GENERIC_SUBJECT`. A new event type gets its line here
and its entries in the catalogs (tests/unit/test_mail_headers.py checks both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Words:
    headline: str
    subject: str | None = None


VOCABULARY: dict[str, Words] = {
    "notice.published": Words("event.notice.published", "New notice: %(title)s"),
    "notice.withdrawn": Words("event.notice.withdrawn", "Notice withdrawn: %(title)s"),
    "notice.acknowledged": Words("event.notice.acknowledged", "Notice acknowledged: %(title)s"),
    "notice.responded": Words("event.notice.responded", "Notice answered: %(title)s"),
    "notice.reminder": Words("event.notice.reminder", "Reminder: please acknowledge %(title)s"),
    "order.issued": Words("event.order.issued", "New order %(number)s"),
    "order.acknowledged": Words("event.order.acknowledged", "Order %(number)s acknowledged"),
    "order.amended": Words("event.order.amended", "Order %(number)s amended"),
    "order.cancelled": Words("event.order.cancelled", "Order %(number)s cancelled"),
    "order.shipped": Words("event.order.shipped", "Order %(number)s shipped"),
    "order.received": Words("event.order.received", "Order %(number)s received"),
    "order.reminder": Words(
        "event.order.reminder", "Reminder: order %(number)s awaits acknowledgment"
    ),
    "ship_notice.issued": Words("event.ship_notice.issued", "Ship notice %(number)s issued"),
    "ship_notice.cancelled": Words(
        "event.ship_notice.cancelled", "Ship notice %(number)s cancelled"
    ),
    "ship_notice.received": Words("event.ship_notice.received", "Ship notice %(number)s received"),
    "invoice.submitted": Words("event.invoice.submitted", "Invoice %(number)s submitted"),
    "invoice.approved": Words("event.invoice.approved", "Invoice %(number)s approved"),
    "invoice.rejected": Words("event.invoice.rejected", "Invoice %(number)s rejected"),
    "statement.ready": Words("event.statement.ready", "Statement for %(period)s is ready"),
    "statement.confirmed": Words("event.statement.confirmed", "Statement for %(period)s confirmed"),
    "statement.disputed": Words("event.statement.disputed", "Statement for %(period)s disputed"),
    "dispute.resolved": Words(
        "event.dispute.resolved", "Dispute on the statement for %(period)s resolved"
    ),
    "statement.reminder": Words(
        "event.statement.reminder",
        "Reminder: please confirm or dispute the statement for %(period)s",
    ),
    "reconciliation.run.succeeded": Words("event.reconciliation.run.succeeded"),
    "reconciliation.run.failed": Words("event.reconciliation.run.failed"),
    "member.joined": Words("event.member.joined"),
    "member.updated": Words("event.member.updated"),
    "member.removed": Words("event.member.removed"),
    "link.created": Words("event.link.created"),
    "link.deleted": Words("event.link.deleted"),
    "app.shared": Words("event.app.shared", "App %(app_name)s shared"),
    "app.unshared": Words("event.app.unshared", "App %(app_name)s no longer shared"),
    "ping": Words("event.ping"),
}
OPEN = "event.open"  # the robot's link text
GENERIC_SUBJECT = "Something changed in %(chain)s (%(type)s)"
STATEMENT_EVENTS = (
    "statement.ready",
    "statement.confirmed",
    "statement.disputed",
    "statement.reminder",
    "dispute.resolved",
)
# Event kinds whose objects carry a `number` (else their id) that the subject names.
NUMBERED_KINDS = ("order", "ship_notice", "invoice")
_PERIOD = re.compile(r"^[0-9]{4}-(?:[0-9]{2}|W[0-9]{2})\Z")


def headline_id(event_type: str) -> str:
    """The message id of an event type's short headline (the type itself when unknown)."""
    words = VOCABULARY.get(event_type)
    return words.headline if words else event_type


def statement_path(chain_id: int, data: dict[str, Any]) -> str | None:
    """The page of the statement an event tells of (its period, and its org for the owner's
    people), or None when the data names no period."""
    period = str(data.get("period") or "")
    if not _PERIOD.match(period):
        return None
    org = _plain(data.get("org_id"))
    return f"/chains/{chain_id}/statements/{period}" + (f"?org_id={org}" if org else "")


def page_path(event_type: str, chain_id: int, data: dict[str, Any]) -> str:
    """The page of the event's object, as a path under the site (the chain's page if unknown)."""
    chain = f"/chains/{chain_id}"
    ident = _plain(data.get("id"))
    if event_type.startswith("notice.") and ident:
        return f"{chain}/notices/{ident}"
    if event_type.startswith("order.") and ident:
        return f"{chain}/orders/{ident}"
    if event_type.startswith("invoice.") and ident:
        return f"{chain}/invoices/{ident}"
    if event_type.startswith("ship_notice.") and ident:
        return f"{chain}/ship-notices/{ident}"
    if event_type in STATEMENT_EVENTS:
        return statement_path(chain_id, data) or chain
    if event_type.startswith("reconciliation.run.") and ident:
        return f"{chain}/reconciliation/runs/{ident}"
    if event_type.startswith("member.") and _plain(data.get("org_id")):
        return f"{chain}/members/{_plain(data.get('org_id'))}"
    if event_type.startswith("link."):
        return f"{chain}/map"
    if event_type == "ping":
        return f"{chain}/integrations"
    return chain


def _plain(value: Any) -> str:
    """An id from event data, only if it is one (digits): it goes into a URL path."""
    text = str(value) if value is not None else ""
    return text if text.isascii() and text.isdigit() else ""
