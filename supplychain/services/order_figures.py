"""Per-order figures kept on `orders`: what scorecards read instead of every line.

Each order carries the figures of its lines and history (`Order.line_count` ...
`Order.first_acked_at`): its lines; received lines (received, with a due date: the promised date,
else the requested one) and those received on time (latest receipt on or before that date); the
confirmed and received quantities over the lines with a confirmed quantity; the lines discrepant
by their own fields; the time of its first acknowledgment. One statement computes them from the
lines and the history (`figures_update`: an UPDATE with one correlated aggregate per figure, the
same on PostgreSQL and SQLite), and `refresh_order_figures` runs it for the orders a transaction
changed: `orders.record_order_event` calls it, since every change to an order (issue,
acknowledgment, amendment, cancellation, shipment, receipt) records an event. Bulk loads run
`figures_update` over what they inserted.

What depends on the order's state or on the time it is read stays out of the stored figures and
is judged when read (`discrepancy_lines`): a cancelled order has no discrepancies (and no fill:
scorecards leave it out there), and an order whose acknowledgment is overdue has every line
discrepant (ACK_OVERDUE).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from supplychain.models import Order, OrderEvent, OrderLine
from supplychain.models.base import AMOUNT_SUM
from supplychain.models.orders import ORDER_FIGURES


class amount_sum(FunctionElement):  # noqa: N801 - reads as an SQL function
    """SUM of Amounts that cannot overflow: sum() on PostgreSQL (NUMERIC); total() on SQLite,
    whose integer sum() fails past 2**63 ten-thousandths (see `models.base.AmountSum`)."""

    type = AMOUNT_SUM
    inherit_cache = True


@compiles(amount_sum)
def _amount_sum(element: amount_sum, compiler: Any, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(amount_sum, "sqlite")
def _amount_sum_sqlite(element: amount_sum, compiler: Any, **kw: Any) -> str:
    return f"total({compiler.process(element.clauses, **kw)})"


# --- the rules --------------------------------------------------------------------------------


def line_discrepant() -> ColumnElement[bool]:
    """SQL twin of `excel.workbook.discrepancy_flags` by the line's own fields (ACK_MISSING,
    QTY, PRICE, SHIP, RECV), for a line of a live order.

    A line not acknowledged yet is flagged (ACK_MISSING), so the other flags, which all need an
    acknowledgment, are tested without repeating that condition. `discrepancy_lines` adds what
    the order decides; `tests/integration/test_scorecards.py` checks both against the flags on
    every combination."""
    line = OrderLine
    return or_(
        line.ack_status == "pending",  # ACK_MISSING
        and_(line.confirmed_qty.is_not(None), line.confirmed_qty != line.qty),  # QTY
        and_(  # PRICE
            line.ack_status != "rejected",
            line.confirmed_price.is_not(None),
            line.confirmed_price != line.unit_price,
        ),
        line.shipped_qty != func.coalesce(line.confirmed_qty, 0),  # SHIP
        line.received_qty != line.shipped_qty,  # RECV
    )


def ack_overdue(now: datetime) -> ColumnElement[bool]:
    """ACK_OVERDUE of an order at `now`: due and not answered by then, or answered late."""
    o = Order
    return and_(
        o.ack_due.is_not(None),
        or_(and_(o.acked_at.is_(None), o.ack_due < now), o.acked_at > o.ack_due),
    )


def discrepancy_lines(now: datetime) -> ColumnElement[int]:
    """The order's lines the reconciliation's Discrepancies sheet lists at `now`: none for a
    cancelled order, every line of one whose acknowledgment is overdue, else those discrepant by
    their own fields (stored)."""
    o = Order
    return case(
        (o.status == "cancelled", 0),
        (ack_overdue(now), o.line_count),
        else_=o.discrepant_line_count,
    )


def figure_values() -> dict[str, Any]:
    """Each figure of ORDER_FIGURES as an aggregate over the order's lines or history
    (correlated to the `orders` row being updated)."""
    line = OrderLine
    due = func.coalesce(line.promised_date, line.requested_date)
    received = and_(line.received_qty > 0, due.is_not(None))
    confirmed = line.confirmed_qty.is_not(None)

    def of_lines(figure: Any, *where: ColumnElement[bool]) -> Any:
        return select(figure).where(line.order_id == Order.id, *where).scalar_subquery()

    return {
        "line_count": of_lines(func.count()),
        "received_line_count": of_lines(func.count(), received),
        "on_time_line_count": of_lines(func.count(), received, line.last_received_on <= due),
        "confirmed_qty_total": of_lines(
            func.coalesce(amount_sum(line.confirmed_qty), 0), confirmed
        ),
        "received_qty_total": of_lines(func.coalesce(amount_sum(line.received_qty), 0), confirmed),
        "discrepant_line_count": of_lines(func.count(), line_discrepant()),
        "first_acked_at": select(func.min(OrderEvent.at))
        .where(OrderEvent.order_id == Order.id, OrderEvent.kind == "acknowledged")
        .scalar_subquery(),
    }


def figures_update(where: ColumnElement[bool]) -> Update:
    """The UPDATE that recomputes the figures of the orders `where` selects."""
    return (
        update(Order)
        .where(where)
        .values(figure_values())
        .execution_options(synchronize_session=False)
    )


@cache
def _refresh_statement() -> Update:
    # Built once: putting the seven subqueries together again for every order change cost more
    # than running them (`make bench orders`).
    return figures_update(Order.id.in_(bindparam("order_ids", expanding=True)))


def refresh_order_figures(session: Session, order_ids: Collection[int]) -> None:
    """Recompute the stored figures of these orders from their lines and history, as they stand
    in this transaction (pending changes are flushed first); only flushes."""
    wanted = set(order_ids)
    if not wanted:
        return
    session.flush()
    session.execute(_refresh_statement(), {"order_ids": sorted(wanted)})
    # Orders loaded in this session read their new figures on next access.
    for order_id in wanted:
        loaded = session.identity_map.get(session.identity_key(Order, order_id))
        if loaded is not None:
            session.expire(loaded, ORDER_FIGURES)
