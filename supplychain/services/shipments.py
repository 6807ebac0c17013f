"""Shipments and receipts: the seller ships confirmed lines, the buyer records what arrived;
cumulative quantities never exceed what was confirmed, or shipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.models import Order, OrderLine
from supplychain.models.base import utcnow
from supplychain.models.orders import SHIPPABLE_LINE_STATUSES
from supplychain.services.orders import (
    check_allowed,
    lines_of,
    load_order,
    plain,
    record_order_event,
)


@dataclass
class Movement:
    """A quantity shipped or received on one line."""

    line_no: int
    qty: Decimal


def _check_movements(movements: list[Movement], by_no: dict[int, OrderLine]) -> None:
    errors: dict[str, Any] = {}
    seen: set[int] = set()
    for i, move in enumerate(movements):
        if move.line_no not in by_no:
            errors[str(i)] = {"line_no": [f"No line {move.line_no} in this order."]}
        elif move.line_no in seen:
            errors[str(i)] = {"line_no": [f"Line {move.line_no} given twice."]}
        seen.add(move.line_no)
    if errors:
        raise Invalid("Bad lines.", {"lines": errors})


def _movable(
    session: Session,
    access: ChainAccess,
    order_id: int | None,
    action: str,
    movements: list[Movement],
) -> tuple[Order, dict[int, OrderLine]]:
    """Lock the order for the side that may `ship` or `receive` and check the lines a movement
    names."""
    order = load_order(session, access, order_id, lock=True)
    lines = lines_of(session, order.id)
    check_allowed(order, lines, access, action)
    by_no = {line.line_no: line for line in lines}
    _check_movements(movements, by_no)
    return order, by_no


def _apply_movements(
    session: Session,
    access: ChainAccess,
    order: Order,
    by_no: dict[int, OrderLine],
    movements: list[Movement],
    *,
    column: str,
    kind: str,
    at_key: str,
    at: datetime | None,
    ref: str | None,
    also: Callable[[OrderLine], dict[str, Any]] = lambda line: {},
) -> Order:
    """Add the quantities to `column` of each line in one bulk update (with what `also` sets on
    the line), and record the event."""
    session.execute(
        update(OrderLine),
        [
            {
                "id": by_no[m.line_no].id,
                column: getattr(by_no[m.line_no], column) + m.qty,
                **also(by_no[m.line_no]),
            }
            for m in movements
        ],
    )
    order.updated_at = utcnow()
    record_order_event(
        session,
        access,
        order,
        kind,
        {
            "ref": ref,
            at_key: (at or utcnow()).isoformat(),
            "lines": [{"line_no": m.line_no, "qty": str(m.qty)} for m in movements],
        },
    )
    session.flush()
    session.expire_all()
    return order


def record_shipment(
    session: Session,
    access: ChainAccess,
    order_id: int | None,
    movements: list[Movement],
    ref: str | None,
    shipped_at: datetime | None,
) -> Order:
    """The seller ships confirmed lines; cumulative shipped never exceeds the confirmed quantity."""
    order, by_no = _movable(session, access, order_id, "ship", movements)
    errors: dict[str, Any] = {}
    for i, move in enumerate(movements):
        line = by_no[move.line_no]
        if line.ack_status not in SHIPPABLE_LINE_STATUSES:
            errors[str(i)] = {
                "line_no": [f"Line {line.line_no} is {line.ack_status}; not shippable."]
            }
        elif move.qty > line.shippable_qty:
            left = line.shippable_qty
            errors[str(i)] = {"qty": [f"Over-shipping line {line.line_no}: {plain(left)} left."]}
    if errors:
        raise Conflict("These lines cannot be shipped.", {"lines": errors})
    # A shipment is a one-order ship notice without packages (imported here: shipping imports
    # this module's neighbours).
    from supplychain.services.shipping_issue import ship_one_order

    moves = [(by_no[m.line_no], m.qty) for m in movements]
    ship_one_order(session, access, order, moves, ref, shipped_at)
    return order


def record_receipt(
    session: Session,
    access: ChainAccess,
    order_id: int | None,
    movements: list[Movement],
    ref: str | None,
    received_at: datetime | None,
) -> Order:
    """The buyer records goods received; cumulative received never exceeds what was shipped."""
    order, by_no = _movable(session, access, order_id, "receive", movements)
    errors: dict[str, Any] = {}
    for i, move in enumerate(movements):
        line = by_no[move.line_no]
        if move.qty > line.receivable_qty:
            left = line.receivable_qty
            errors[str(i)] = {
                "qty": [
                    f"Over-receiving line {line.line_no}: {plain(left)} shipped and not received."
                ]
            }
    if errors:
        raise Conflict("These lines cannot be received.", {"lines": errors})
    # On-time delivery is judged by the day of a line's latest receipt in the chain's timezone.
    try:
        day = (received_at or utcnow()).astimezone(ZoneInfo(access.chain.timezone)).date()
    except OverflowError:  # 9999-12-31T23:59-01:00 is past year 9999 east of Greenwich
        raise Invalid(
            "Bad receipt time.", {"received_at": ["Out of range in the chain's timezone."]}
        ) from None

    def latest_day(line: OrderLine) -> dict[str, Any]:
        before = line.last_received_on
        return {"last_received_on": day if before is None or before < day else before}

    return _apply_movements(
        session, access, order, by_no, movements,
        column="received_qty", kind="received", at_key="received_at", at=received_at, ref=ref,
        also=latest_day,
    )  # fmt: skip
