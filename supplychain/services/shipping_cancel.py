"""Cancelling a ship notice before any receipt: the shipped quantities are given back to the
orders, each order's history says so, both parties are told."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden
from supplychain.models import Order, OrderLine
from supplychain.models.base import utcnow
from supplychain.models.shipping import ShipNotice, ShipNoticeLine
from supplychain.services.bulk import among_ids
from supplychain.services.shipping import (
    lines_of_orders,
    load_notice,
    lock_orders,
    publish_ship_notice_event,
    record_history,
)

# --- cancelling ---------------------------------------------------------------------------------


def cancel_notice(
    session: Session, access: ChainAccess, notice_id: int | None, reason: str
) -> ShipNotice:
    """The seller cancels a notice before any receipt: the shipped quantities are given back."""
    notice = load_notice(session, access, notice_id, lock=True)
    if notice.seller_id != access.actor.org_id:
        raise Forbidden("Only the seller cancels a ship notice.")
    if notice.status != "issued":
        raise Conflict(
            f"The ship notice is {notice.status.replace('_', ' ')}; it can no longer be cancelled.",
            {"status": [notice.status]},
        )
    lines = list(
        session.scalars(
            select(ShipNoticeLine)
            .where(ShipNoticeLine.notice_id == notice.id)
            .order_by(ShipNoticeLine.seq)
        )
    )
    order_ids = sorted({line.order_id for line in lines})
    orders = lock_orders(session, access.chain_id, order_ids)
    order_lines = {line.id: line for line in lines_of_orders(session, order_ids).values()}
    back: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        back[line.order_line_id] += line.qty
    errors: dict[str, Any] = {}
    for i, line in enumerate(lines):
        order_line = order_lines[line.order_line_id]
        if order_line.shipped_qty - back[order_line.id] < order_line.received_qty:
            errors[str(i)] = [
                f"Order {orders[line.order_id].number} line {line.line_no}: received since."
            ]
    if errors:
        raise Conflict("Goods of this notice have been received.", {"lines": errors})
    now = utcnow()
    session.execute(
        update(OrderLine),
        [{"id": i, "shipped_qty": order_lines[i].shipped_qty - qty} for i, qty in back.items()],
    )
    session.execute(
        update(Order).where(among_ids(session, Order.id, order_ids)).values(updated_at=now)
    )
    by_order: dict[int, list[ShipNoticeLine]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    histories = {
        order_id: {
            "ref": notice.ref or notice.number,
            "ship_notice_id": str(notice.id),
            "ship_notice": notice.number,
            "reason": reason,
            "lines": [{"line_no": ln.line_no, "qty": str(ln.qty)} for ln in order_lines_],
        }
        for order_id, order_lines_ in by_order.items()
    }
    record_history(session, access, orders, "shipment_cancelled", histories, now)
    notice.status = "cancelled"
    notice.cancel_reason = reason
    notice.updated_at = now
    session.flush()
    publish_ship_notice_event(
        session,
        "ship_notice.cancelled",
        notice,
        len(lines),
        sorted(o.number for o in orders.values()),
        {"reason": reason},
    )
    session.expire_all()
    return notice
