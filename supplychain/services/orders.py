"""Orders: issue, list, amend, cancel.

Acknowledging line by line (X12 855) is in order_acks.py; shipping and receiving against an
order's lines in shipments.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.models import Link, Order, OrderEvent, OrderLine
from supplychain.models.base import utcnow
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_action
from supplychain.services.chains import current_member
from supplychain.services.events import publish_about
from supplychain.services.order_figures import refresh_order_figures
from supplychain.services.pagination import Page, paginate
from supplychain.services.trade_documents import (
    document_number,
    load_document,
    visible_documents,
)

APP = "orders"
MAX_LINES = 2000
# Order states in which the other side's acknowledgment has been given.
ACKNOWLEDGED = ("accepted", "accepted_with_changes", "partially_accepted", "rejected")


@dataclass
class NewLine:
    """A line as the issuer gives it."""

    line_no: int
    sku: str
    qty: Decimal
    unit_price: Decimal
    description: str | None = None
    unit: str | None = None
    requested_date: date | None = None


@dataclass
class OrderView:
    """An order with its lines and history, as the API shows it."""

    order: Order
    lines: list[OrderLine]
    history: list[OrderEvent]


# --- helpers ----------------------------------------------------------------------------------


def load_order(
    session: Session, access: ChainAccess, order_id: int | None, lock: bool = False
) -> Order:
    """An order the caller may see (404 otherwise), optionally row-locked; needs the orders app."""
    return load_document(
        session, access, Order, order_id, app=APP, missing="No such order.", lock=lock
    )


def lines_of(session: Session, order_id: int) -> list[OrderLine]:
    """The order's lines by line number."""
    return list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


def order_view(session: Session, order: Order) -> OrderView:
    """The order with lines and history (three queries, whatever the number of lines)."""
    history = list(
        session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
    )
    return OrderView(order=order, lines=lines_of(session, order.id), history=history)


def record_order_event(
    session: Session, access: ChainAccess, order: Order, kind: str, data: dict[str, Any]
) -> None:
    """Add to the order's history, refresh the figures kept on the order (every change to an
    order's lines or acknowledgment comes here) and write the audit event (without per-line
    detail)."""
    session.add(
        OrderEvent(
            order_id=order.id,
            kind=kind,
            version=order.version,
            user_id=access.actor.user_id,
            org_id=access.actor.org_id,
            data=data,
        )
    )
    refresh_order_figures(session, [order.id])
    record_action(
        session,
        access,
        f"order.{kind}",
        "order",
        order.id,
        data={"number": order.number, "version": order.version, **_brief(data)},
    )
    publish_order_event(
        session,
        order,
        f"order.{kind}",
        {k: v for k, v in data.items() if k in ORDER_EVENT_EXTRAS}
        | ({"lines": data["lines"]} if kind in ("shipped", "received") else {}),
    )


# What an order event carries beyond the order's own fields (per-line acks stay in the history).
ORDER_EVENT_EXTRAS = ("decision", "reason", "ref", "shipped_at", "received_at")


def publish_order_event(
    session: Session,
    order: Order,
    type: str,
    extra: dict[str, Any] | None = None,
    *,
    to: list[int] | None = None,
) -> None:
    """Tell the order's parties (`to`; None: both) what happened to it: an event of `type`
    about it that carries the order's facts (`order_event_data`) and `extra`."""
    data = order_event_data(order) | (extra or {})
    parties = to if to is not None else [order.buyer_id, order.seller_id]
    publish_about(session, "order", order, type=type, data=data, org_ids=parties)


def order_event_data(order: Order) -> dict[str, Any]:
    """What every order event tells both parties: enough to act without a second call."""
    return {
        "id": str(order.id),
        "number": order.number,
        "status": order.status,
        "ack_code": order.ack_code,
        "version": order.version,
        "buyer_id": str(order.buyer_id),
        "seller_id": str(order.seller_id),
        "issuer_id": str(order.issuer_id),
        "currency": order.currency,
        "ack_due": order.ack_due.isoformat() if order.ack_due else None,
    }


def _brief(data: dict[str, Any]) -> dict[str, Any]:
    """Audit data without per-line detail (the order history keeps that)."""
    return {k: v for k, v in data.items() if k != "lines"} | (
        {"lines": len(data["lines"])} if "lines" in data else {}
    )


# The past participle of each action, as the refusals name it.
_DONE = {"ack": "re-acknowledged", "amend": "amended", "cancel": "cancelled"}


def check_allowed(
    order: Order,
    lines: list[OrderLine],
    access: ChainAccess,
    action: str,
    version: int | None = None,
) -> None:
    """Refuse what the caller may not do to the order, as `Order.refusal` decides: 403 for the
    wrong side, 409 once cancelled, on a stale `version` or after goods have shipped."""
    reason = order.refusal(access.actor.org_id, action, lines, version)
    if reason is None:
        return
    if reason == "not_party":
        raise Forbidden("Only the parties of an order may acknowledge it.")
    if reason == "own_order":
        raise Forbidden("The issuer cannot acknowledge its own order.")
    if reason == "not_issuer":
        raise Forbidden(f"Only the issuer may {action} an order.")
    if reason in ("not_seller", "not_buyer"):
        party, what = ("seller", "shipments") if action == "ship" else ("buyer", "receipts")
        raise Forbidden(f"Only the {party} records {what}.")
    if reason == "cancelled":
        raise Conflict("The order is cancelled.")
    if reason == "stale":
        raise Conflict(
            f"Stale version {version}: the order is at version {order.version}.",
            {"version": [f"Current version is {order.version}."]},
        )
    raise Conflict(f"Goods have been shipped on this order; it can no longer be {_DONE[action]}.")


def _check_new_lines(lines: list[NewLine]) -> None:
    seen: set[int] = set()
    errors: dict[str, Any] = {}
    for i, line in enumerate(lines):
        if line.line_no in seen:
            errors[str(i)] = {"line_no": [f"Duplicate line_no {line.line_no}."]}
        seen.add(line.line_no)
    if errors:
        raise Invalid("Bad order lines.", {"lines": errors})


def _line_rows(order_id: int, lines: list[NewLine]) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "line_no": line.line_no,
            "sku": line.sku,
            "description": line.description,
            "qty": line.qty,
            "unit": line.unit,
            "unit_price": line.unit_price,
            "requested_date": line.requested_date,
            "ack_status": "pending",
            "shipped_qty": Decimal(0),
            "received_qty": Decimal(0),
        }
        for line in sorted(lines, key=lambda item: item.line_no)
    ]


def _line_json(line: NewLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "sku": line.sku,
        "qty": str(line.qty),
        "unit_price": str(line.unit_price),
        "requested_date": line.requested_date.isoformat() if line.requested_date else None,
    }


# --- issuing ----------------------------------------------------------------------------------


def issue_order(
    session: Session,
    access: ChainAccess,
    *,
    counterparty_id: int,
    issuer_role: str,
    number: str | None,
    currency: str | None,
    ack_due: datetime | None,
    lines: list[NewLine],
) -> Order:
    """Issue an order to an org joined to the caller's by a link in the right direction."""
    require_app(session, access, APP)
    me = access.actor.org_id
    if counterparty_id == me:
        raise Invalid("An org cannot order from itself.", {"counterparty_id": ["That is you."]})
    if current_member(session, access.chain_id, counterparty_id) is None:
        raise Invalid("Unknown counterparty.", {"counterparty_id": ["Not a member of this chain."]})
    buyer, seller = (me, counterparty_id) if issuer_role == "buyer" else (counterparty_id, me)
    link = session.scalar(
        select(Link.id).where(
            Link.chain_id == access.chain_id, Link.supplier_id == seller, Link.customer_id == buyer
        )
    )
    if link is None:
        raise Invalid(
            "No supply link joins these orgs in that direction.",
            {"counterparty_id": [f"No link with the seller supplying the buyer ({issuer_role})."]},
        )
    if ack_due is not None and ack_due <= utcnow():
        raise Invalid("ack_due is in the past.", {"ack_due": ["Must be in the future."]})
    _check_new_lines(lines)
    number = document_number(
        session,
        Order,
        Order.chain_id == access.chain_id,
        number,
        "PO" if issuer_role == "buyer" else "SO",
        "An order with this number exists in the chain.",
    )
    order = Order(
        chain_id=access.chain_id,
        number=number,
        buyer_id=buyer,
        seller_id=seller,
        issuer_id=me,
        issuer_role=issuer_role,
        currency=currency or access.chain.currency,
        status="issued",
        version=1,
        ack_due=ack_due,
        created_by=access.actor.user_id,
    )
    session.add(order)
    session.flush()
    session.execute(insert(OrderLine), _line_rows(order.id, lines))
    record_order_event(
        session, access, order, "issued", {"lines": [_line_json(line) for line in lines]}
    )
    return order


# --- listing ----------------------------------------------------------------------------------


def orders_page(
    session: Session,
    access: ChainAccess,
    *,
    status: str | None,
    counterparty_id: int | None,
    date_from: date | None,
    date_to: date | None,
    page: int,
    page_size: int,
) -> Page:
    """Orders the caller may see, newest first, with line counts and ordered amounts."""
    require_app(session, access, APP)
    stmt = visible_documents(Order, access)
    if status:
        stmt = stmt.where(Order.status == status)
    if counterparty_id is not None:
        stmt = stmt.where(Order.is_party(counterparty_id))
    # Days at the ends of the calendar are no bound (their midnights do not exist in UTC).
    start = _start_of(date_from, access.chain.timezone) if date_from else None
    if start is not None:
        stmt = stmt.where(Order.created_at >= start)
    end = _start_of(date_to, access.chain.timezone, 1) if date_to else None
    if end is not None:
        stmt = stmt.where(Order.created_at < end)
    result = paginate(session, stmt.order_by(Order.id.desc()), page, page_size)
    ids = [o.id for o in result.items]
    # Amounts are added up in Python, in Decimal: exact on every database (SQLite has no
    # decimal arithmetic), in one query for the whole page.
    lines: dict[int, int] = dict.fromkeys(ids, 0)
    amounts: dict[int, Decimal] = dict.fromkeys(ids, Decimal(0))
    if ids:
        for oid, qty, price in session.execute(
            select(OrderLine.order_id, OrderLine.qty, OrderLine.unit_price).where(
                OrderLine.order_id.in_(ids)
            )
        ):
            lines[oid] += 1
            amounts[oid] += qty * price
    result.items = [
        {
            "order": o,
            "line_count": lines[o.id],
            "amount": amounts[o.id].quantize(Decimal("0.0001")),
        }
        for o in result.items
    ]
    return result


def _start_of(day: date, timezone: str, plus_days: int = 0) -> datetime | None:
    """Midnight starting `day` (+ plus_days) in the chain's zone, in UTC: days are the chain's days,
    as on its pages and in reconciliation periods. None past either end of the calendar."""
    try:
        day = day + timedelta(days=plus_days)
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    except OverflowError:
        return None


def get_order(session: Session, access: ChainAccess, order_id: int | None) -> OrderView:
    """One order for its parties or the chain owner; 404 for everyone else."""
    return order_view(session, load_order(session, access, order_id))


def plain(value: Any) -> Any:
    """A value as plain JSON text (order history, messages): decimals and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- amending and cancelling ------------------------------------------------------------------


def amend_order(
    session: Session, access: ChainAccess, order_id: int | None, version: int, lines: list[NewLine]
) -> Order:
    """The issuer replaces the lines before any shipment: a new version, acknowledgment pending."""
    order = load_order(session, access, order_id, lock=True)
    check_allowed(order, lines_of(session, order.id), access, "amend", version)
    _check_new_lines(lines)
    session.execute(delete(OrderLine).where(OrderLine.order_id == order.id))
    session.execute(insert(OrderLine), _line_rows(order.id, lines))
    order.version += 1
    order.status = "issued"
    order.ack_code = None
    order.acked_at = None
    order.updated_at = utcnow()
    session.flush()
    record_order_event(
        session, access, order, "amended", {"lines": [_line_json(line) for line in lines]}
    )
    session.expire_all()
    return order


def cancel_order(
    session: Session, access: ChainAccess, order_id: int | None, reason: str, version: int | None
) -> Order:
    """The issuer cancels before any shipment; every later action on the order is 409."""
    order = load_order(session, access, order_id, lock=True)
    check_allowed(order, lines_of(session, order.id), access, "cancel", version)
    order.status = "cancelled"
    order.ack_code = None
    order.cancel_reason = reason
    order.version += 1
    order.updated_at = utcnow()
    session.flush()
    record_order_event(session, access, order, "cancelled", {"reason": reason})
    return order
