"""The figures each order keeps of its lines (services.order_figures): after every kind of change
through the API they equal a recomputation straight from the lines and the history, and the
scorecards read from them equal the figures computed line by line."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supplychain.excel.workbook import LineRecord, discrepancy_flags
from supplychain.extensions import db
from supplychain.models import Chain, Order, OrderEvent, OrderLine
from supplychain.models.orders import ORDER_FIGURES
from supplychain.periods import monthly_period
from supplychain.services.scorecards import rate

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture
def chain(world):
    return world.share_app("orders")


def _line(no: int, qty: str = "10", days: int | None = 10) -> dict[str, Any]:
    requested = None if days is None else (TODAY + timedelta(days=days)).isoformat()
    return {"line_no": no, "sku": f"SKU-{no}", "qty": qty, "unit_price": "12.50",
            "requested_date": requested}  # fmt: skip


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def _issue(w, issuer, counterparty, lines, role="buyer", **extra):
    body = {"counterparty_id": counterparty.org_id, "issuer_role": role, "lines": lines, **extra}
    return _ok(w.api.post(w.path("/orders"), body, token=issuer.token), 201)


def _moved(*pairs: Any) -> list[dict[str, Any]]:
    """Shipment or receipt lines from (line_no, qty) pairs given flat."""
    return [{"line_no": no, "qty": qty} for no, qty in zip(pairs[::2], pairs[1::2], strict=True)]


def _post(w, party, order, action, body):
    return _ok(w.api.post(w.path(f"/orders/{order['id']}/{action}"), body, token=party.token),
               201 if action in ("shipments", "receipts") else 200)  # fmt: skip


# --- the recomputation, straight from the lines -------------------------------------------------


def _record(order: Order, line: OrderLine) -> LineRecord:
    return LineRecord(
        org_id=order.buyer_id, role="buyer", counterparty_code=None, counterparty_name="",
        order_number=order.number, order_date=TODAY, order_status=order.status, bak02=None,
        currency=order.currency, line_no=line.line_no, sku=line.sku, description=None,
        unit=None, ordered_qty=line.qty, unit_price=line.unit_price,
        requested_date=line.requested_date, ack_status=line.ack_status, ack01=line.ack_code,
        confirmed_qty=line.confirmed_qty, confirmed_price=line.confirmed_price,
        promised_date=line.promised_date, shipped_qty=line.shipped_qty,
        received_qty=line.received_qty, ack_due=order.ack_due, acked_at=order.acked_at,
        reason=None,
    )  # fmt: skip


def _due(line: OrderLine) -> date | None:
    return line.promised_date or line.requested_date


def _from_lines(lines: list[OrderLine], acks: list[datetime], order: Order) -> dict[str, Any]:
    """What the order should keep: the line-level flags are the workbook's, judged as for a live
    order with no acknowledgment due (those are the parts read at reading time)."""
    received = [line for line in lines if line.received_qty > 0 and _due(line) is not None]
    confirmed = [line for line in lines if line.confirmed_qty is not None]
    live = Order(status="issued", number=order.number, buyer_id=order.buyer_id, currency="CNY")
    return {
        "line_count": len(lines),
        "received_line_count": len(received),
        "on_time_line_count": sum(
            1
            for line in received
            if line.last_received_on is not None and line.last_received_on <= _due(line)
        ),
        "confirmed_qty_total": sum((line.confirmed_qty for line in confirmed), Decimal(0)),
        "received_qty_total": sum((line.received_qty for line in confirmed), Decimal(0)),
        "discrepant_line_count": sum(
            1 for line in lines if discrepancy_flags(_record(live, line), datetime.now(UTC))
        ),
        "first_acked_at": min(acks, default=None),
    }


def _kept(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in ORDER_FIGURES}


def _orders_and_lines(app, chain_id: str) -> list[tuple[Order, list[OrderLine], list[datetime]]]:
    with app.app_context():
        session = db.session
        orders = session.scalars(
            select(Order).where(Order.chain_id == int(chain_id)).order_by(Order.id)
        ).all()
        found = []
        for order in orders:
            lines = session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
            ).all()
            acks = session.scalars(
                select(OrderEvent.at).where(
                    OrderEvent.order_id == order.id, OrderEvent.kind == "acknowledged"
                )
            ).all()
            found.append((order, list(lines), list(acks)))
        session.expunge_all()
        return found


def _check(app, w) -> dict[str, dict[str, Any]]:
    """Every order's kept figures equal the recomputation; returns them by order number."""
    kept = {}
    for order, lines, acks in _orders_and_lines(app, w.chain_id):
        assert _kept(order) == _from_lines(lines, acks, order), order.number
        kept[order.number] = _kept(order)
    return kept


# --- each change ----------------------------------------------------------------------------------


def test_figures_follow_every_change(chain, app):
    w = chain
    owner, d1a, d1b = w.owner, w.parties["D1a"], w.parties["D1b"]
    # Issue: D1a buys 4 lines (one without a date); the owner sells to D1b twice.
    po = _issue(w, d1a, owner, [_line(1), _line(2), _line(3, days=None), _line(4, "7.5")])
    so = _issue(w, owner, d1b, [_line(1), _line(2, "3")], role="seller")
    gone = _issue(w, owner, d1b, [_line(1)], role="seller")
    kept = _check(app, w)
    assert kept[po["number"]]["line_count"] == 4 and kept[po["number"]]["first_acked_at"] is None
    assert kept[po["number"]]["discrepant_line_count"] == 4  # nothing answered yet
    # Acknowledgments of each kind: line by line (accepted, changed quantity and date,
    # backordered, rejected), the whole order accepted, the whole order rejected.
    po = _post(w, owner, po, "ack", {"version": po["version"], "decision": "lines", "lines": [
        {"line_no": 1, "status": "accepted"},
        {"line_no": 2, "status": "changed", "qty": "6",
         "promised_date": (TODAY + timedelta(days=12)).isoformat()},
        {"line_no": 3, "status": "backordered"},
        {"line_no": 4, "status": "rejected", "reason": "no"},
    ]})  # fmt: skip
    so = _post(w, d1b, so, "ack", {"version": so["version"], "decision": "accept"})
    gone = _post(w, d1b, gone, "ack", {"version": gone["version"], "decision": "reject"})
    kept = _check(app, w)
    first_ack = kept[po["number"]]["first_acked_at"]
    assert first_ack is not None and kept[po["number"]]["confirmed_qty_total"] == Decimal("26")
    # Answered again before shipping: the first acknowledgment stays the first.
    po = _post(w, owner, po, "ack", {"version": po["version"], "decision": "accept"})
    assert _check(app, w)[po["number"]]["first_acked_at"] == first_ack
    # Amended by D1a: new lines, an answer pending again; the first answer is still history.
    amended = [_line(1), _line(2, "8", days=-3), _line(3, days=None), _line(5, "2")]
    po = _post(w, d1a, po, "amend", {"version": po["version"], "lines": amended})
    kept = _check(app, w)
    assert kept[po["number"]]["first_acked_at"] == first_ack
    assert kept[po["number"]]["confirmed_qty_total"] == 0
    po = _post(w, owner, po, "ack", {"version": po["version"], "decision": "accept"})
    # Shipments: all of line 1, part of line 2, all of the rest.
    _post(w, owner, po, "shipments", {"lines": _moved(1, "10", 2, "5", 3, "10", 5, "2")})
    _post(w, owner, so, "shipments", {"lines": [{"line_no": 1, "qty": "10"}]})
    kept = _check(app, w)
    assert kept[po["number"]]["received_line_count"] == 0
    # Receipts: line 1 in full on time; part of line 2, late (it was due 3 days ago); line 3,
    # which has no date; line 5 received in two parts, the second one late.
    on_time = datetime.now(UTC).isoformat()
    late = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    _post(
        w, d1a, po, "receipts", {"lines": _moved(1, "10", 3, "10", 5, "1"), "received_at": on_time}
    )
    figures = _check(app, w)[po["number"]]
    assert (figures["received_line_count"], figures["on_time_line_count"]) == (2, 2)
    _post(w, d1a, po, "receipts", {"lines": _moved(2, "4", 5, "1"), "received_at": late})
    _post(w, d1b, so, "receipts", {"lines": [{"line_no": 1, "qty": "9"}], "received_at": late})
    kept = _check(app, w)
    figures = kept[po["number"]]
    assert (figures["received_line_count"], figures["on_time_line_count"]) == (3, 1)
    assert figures["confirmed_qty_total"] == Decimal(30) == 10 + 8 + 10 + 2
    assert figures["received_qty_total"] == Decimal(26)
    # Cancelled (before shipping): what it kept stays, its status decides when read.
    fresh = _issue(w, owner, d1b, [_line(1), _line(2)], role="seller")
    _post(w, owner, fresh, "cancel", {"reason": "Customer withdrew"})
    kept = _check(app, w)
    assert kept[fresh["number"]]["line_count"] == 2


def test_figures_of_the_largest_quantities(chain, app):
    """2 000 lines of the largest quantity: no overflow on either database (SQLite's integers end
    at 2**63 ten-thousandths, which ten such lines pass)."""
    w = chain
    big = "99999999999999.9999"
    lines = [_line(no, big) for no in range(1, 2001)]
    order = _issue(w, w.owner, w.parties["D1b"], lines, role="seller")
    _post(w, w.parties["D1b"], order, "ack", {"version": order["version"], "decision": "accept"})
    [(kept, _, _)] = _orders_and_lines(app, w.chain_id)
    assert kept.line_count == 2000
    exact = Decimal(big) * 2000
    # Exact on PostgreSQL; on SQLite a real past 2**53 ten-thousandths (the fill rate's
    # precision, far past any real order).
    assert abs(kept.confirmed_qty_total - exact) <= exact * Decimal("1e-15")
    assert kept.received_qty_total == 0
    # And the scorecards summing them.
    period = monthly_period(datetime.now(ZoneInfo("Asia/Shanghai")).date()).label
    r = w.api.get(w.path("/scorecards"), params={"period": period}, token=w.owner.token)
    [card] = [c for c in _ok(r)["items"] if c["org_id"] == w.parties["D1b"].org_id]
    assert (card["lines"], card["fill_rate"]) == (2000, "0.0000")


# --- scorecards from the kept figures, against a line-by-line computation ------------------------


def _hours(seconds: list[float]) -> Decimal | None:
    if not seconds:
        return None
    return (Decimal(str(statistics.median(seconds))) / 3600).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def _line_by_line(app, w, now: datetime) -> dict[str, dict[str, Any]]:
    """Each party's scorecard of the current month, straight from lines and history."""
    with app.app_context():
        tz = ZoneInfo(db.session.get(Chain, int(w.chain_id)).timezone)
    start, end = monthly_period(now.astimezone(tz).date()).bounds(tz)
    cards: dict[int, dict[str, Any]] = {}
    waits: dict[int, list[float]] = {}
    for order, lines, acks in _orders_and_lines(app, w.chain_id):
        if not start <= order.created_at < end:
            continue
        live = order.status != "cancelled"
        acknowledger = order.seller_id if order.issuer_id == order.buyer_id else order.buyer_id
        for party in (order.buyer_id, order.seller_id):
            card = cards.setdefault(party, dict.fromkeys(
                ("orders", "lines", "asked", "acked", "received", "on_time", "discrepant"), 0,
            ) | {"confirmed": Decimal(0), "filled": Decimal(0)})  # fmt: skip
            card["orders"] += 1
            card["lines"] += len(lines)
            for line in lines:
                if line.received_qty > 0 and _due(line) is not None:
                    card["received"] += 1
                    last = line.last_received_on
                    card["on_time"] += last is not None and last <= _due(line)
                if live and line.confirmed_qty is not None:
                    card["confirmed"] += line.confirmed_qty
                    card["filled"] += line.received_qty
                card["discrepant"] += bool(discrepancy_flags(_record(order, line), now))
            if party == acknowledger:
                card["asked"] += not (order.status == "cancelled" and order.acked_at is None)
                card["acked"] += order.acked_at is not None
                if acks:
                    seconds = (min(acks) - order.created_at).total_seconds()
                    waits.setdefault(party, []).append(seconds)
    return {
        str(org): {
            "orders": card["orders"],
            "lines": card["lines"],
            "ack_rate": rate(card["acked"], card["asked"]),
            "median_ack_hours": _hours(waits.get(org, [])),
            "on_time_rate": rate(card["on_time"], card["received"]),
            "fill_rate": rate(card["filled"], card["confirmed"]),
            "discrepancy_lines": card["discrepant"],
        }
        for org, card in cards.items()
    }


def _as_api(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in figures.items()}


def test_scorecards_equal_the_line_by_line_figures(chain, app):
    w = chain
    owner, d1a, d1b = w.owner, w.parties["D1a"], w.parties["D1b"]
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    po = _issue(w, d1a, owner, [_line(1), _line(2), _line(3, days=None)], ack_due=due)
    po = _post(w, owner, po, "ack", {"version": po["version"], "decision": "lines", "lines": [
        {"line_no": 1, "status": "accepted"},
        {"line_no": 2, "status": "changed", "qty": "6", "unit_price": "11.00"},
        {"line_no": 3, "status": "backordered"}]})  # fmt: skip
    _post(w, owner, po, "shipments", {"lines": _moved(1, "10", 2, "6", 3, "4")})
    late = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    _post(w, d1a, po, "receipts", {"lines": _moved(1, "10", 3, "4")})
    _post(w, d1a, po, "receipts", {"lines": [{"line_no": 2, "qty": "5"}], "received_at": late})
    for n, decision in enumerate(("accept", "reject", None, "cancel", "amend")):
        order = _issue(w, owner, d1a if n % 2 else d1b, [_line(1), _line(2, "4")], role="seller")
        party = d1a if n % 2 else d1b
        if decision in ("accept", "reject"):
            _post(w, party, order, "ack", {"version": order["version"], "decision": decision})
        elif decision == "cancel":
            _post(w, owner, order, "cancel", {"reason": "no"})
        elif decision == "amend":
            order = _post(w, party, order, "ack", {"version": order["version"],
                                                   "decision": "accept"})  # fmt: skip
            _post(w, owner, order, "amend", {"version": order["version"], "lines": [_line(7)]})
    # An order whose acknowledgment is overdue by now: every line discrepant.
    with app.app_context():
        db.session.execute(
            Order.__table__.update()
            .where(Order.number == po["number"])
            .values(ack_due=datetime.now(UTC) - timedelta(days=3))
        )
        db.session.commit()
    now = datetime.now(UTC)
    expected = _line_by_line(app, w, now)
    period = monthly_period(now.astimezone(ZoneInfo("Asia/Shanghai")).date()).label
    r = w.api.get(w.path("/scorecards"), params={"period": period}, token=owner.token)
    got = {item["org_id"]: item for item in _ok(r)["items"]}
    for org_id, figures in expected.items():
        if org_id == owner.org_id:
            continue  # the owner has no scorecard
        shown = {k: got[org_id][k] for k in figures}
        assert shown == _as_api(figures), org_id
    assert expected[d1a.org_id]["discrepancy_lines"] >= 3  # the overdue PO's lines, at least
    assert {d1a.org_id, d1b.org_id} <= expected.keys()
