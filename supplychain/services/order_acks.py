"""Acknowledging an order line by line with X12 855 semantics: each line accepted, changed
(quantity, price or date), backordered or rejected, with its ACK01 code; the order's status and
BAK02 follow from its lines. A re-acknowledgment before shipping replaces the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.models import Order, OrderLine
from supplychain.models.base import utcnow
from supplychain.services.orders import (
    check_allowed,
    lines_of,
    load_order,
    plain,
    record_order_event,
)

# X12 855 BAK02 (transaction set purpose of the acknowledgment) per resulting order status.
BAK02 = {
    "accepted": "AD",  # acknowledge - with detail, no change
    "accepted_with_changes": "AC",  # acknowledge - with detail and change
    "partially_accepted": "AC",
    "rejected": "RJ",  # rejected - no detail
}


@dataclass
class LineAck:
    """The receiving side's answer for one line."""

    line_no: int
    status: str
    qty: Decimal | None = None
    unit_price: Decimal | None = None
    promised_date: date | None = None
    reason: str | None = None


def _line_code(line: OrderLine, ack: LineAck) -> tuple[str, Decimal, Decimal, date | None]:
    """X12 855 ACK01 and the confirmed figures for one line (raises Invalid on a bad answer)."""
    qty = ack.qty if ack.qty is not None else line.qty
    price = ack.unit_price if ack.unit_price is not None else line.unit_price
    promised = ack.promised_date if ack.promised_date is not None else line.requested_date
    if ack.status == "rejected":
        return "IR", Decimal(0), price, None
    qty_changed = qty != line.qty
    price_changed = price != line.unit_price
    date_changed = (
        ack.promised_date is not None
        and line.requested_date is not None
        and ack.promised_date != line.requested_date
    )
    if ack.status == "accepted":
        if qty_changed or price_changed or date_changed:
            raise ValueError("An accepted line keeps quantity, price and date; use 'changed'.")
        return "IA", qty, price, promised
    if ack.status == "backordered":
        if price_changed:
            raise ValueError("A backordered line keeps its price; use 'changed'.")
        return "IB", qty, price, promised
    changes = [qty_changed, price_changed, date_changed]
    if sum(changes) == 0:
        raise ValueError("Nothing differs from the order line; use 'accepted'.")
    if sum(changes) > 1:
        return "IC", qty, price, promised
    return ("IQ" if qty_changed else "IP" if price_changed else "DR"), qty, price, promised


def _order_status(statuses: list[str]) -> str:
    if all(s == "accepted" for s in statuses):
        return "accepted"
    if all(s == "rejected" for s in statuses):
        return "rejected"
    if any(s == "rejected" for s in statuses):
        return "partially_accepted"
    return "accepted_with_changes"


def acknowledge_order(
    session: Session,
    access: ChainAccess,
    order_id: int | None,
    *,
    version: int,
    decision: str,
    reason: str | None,
    lines: list[LineAck] | None,
) -> Order:
    """The receiving side accepts, rejects or answers line by line; a re-ack before shipping replaces."""
    order = load_order(session, access, order_id, lock=True)
    current = lines_of(session, order.id)
    check_allowed(order, current, access, "ack", version)
    by_no = {line.line_no: line for line in current}
    if decision == "lines":
        answers = _check_line_answers(lines or [], by_no)
    else:
        if lines:
            raise Invalid("Lines go with decision 'lines'.", {"lines": ["Only with 'lines'."]})
        status = "accepted" if decision == "accept" else "rejected"
        answers = {no: LineAck(line_no=no, status=status, reason=reason) for no in by_no}
    updates = []
    errors: dict[str, Any] = {}
    for index, (no, ack) in enumerate(answers.items()):
        line = by_no[no]
        try:
            code, qty, price, promised = _line_code(line, ack)
        except ValueError as exc:
            errors[str(index)] = {"status": [str(exc)]}
            continue
        updates.append(
            {
                "id": line.id,
                "ack_status": ack.status,
                "ack_code": code,
                "confirmed_qty": qty,
                "confirmed_price": price,
                "promised_date": promised,
                "ack_reason": ack.reason,
            }
        )
    if errors:
        raise Invalid("Bad line acknowledgments.", {"lines": errors})
    previous = (
        None if order.status == "issued" else {"status": order.status, "ack_code": order.ack_code}
    )
    session.execute(update(OrderLine), updates)
    order.status = _order_status([ack.status for ack in answers.values()])
    order.ack_code = BAK02[order.status]
    order.version += 1
    order.acked_at = utcnow()
    order.updated_at = order.acked_at
    session.flush()
    record_order_event(
        session,
        access,
        order,
        "acknowledged",
        {
            "decision": decision,
            "reason": reason,
            "status": order.status,
            "ack_code": order.ack_code,
            "replaces": previous,
            "lines": [
                {"line_no": by_no_id, **{k: plain(v) for k, v in u.items() if k != "id"}}
                for by_no_id, u in zip(answers, updates, strict=True)
            ],
        },
    )
    session.expire_all()
    return order


def _check_line_answers(lines: list[LineAck], by_no: dict[int, OrderLine]) -> dict[int, LineAck]:
    errors: dict[str, Any] = {}
    answers: dict[int, LineAck] = {}
    for i, ack in enumerate(lines):
        if ack.line_no not in by_no:
            errors[str(i)] = {"line_no": [f"No line {ack.line_no} in this order."]}
        elif ack.line_no in answers:
            errors[str(i)] = {"line_no": [f"Line {ack.line_no} answered twice."]}
        answers[ack.line_no] = ack
    missing = sorted(set(by_no) - set(answers))
    if missing and not errors:
        shown = ", ".join(str(n) for n in missing[:20])
        errors["_missing"] = [f"Every line needs an answer; missing: {shown}"]
    if errors:
        raise Invalid("Bad line acknowledgments.", {"lines": errors})
    return dict(sorted(answers.items()))
