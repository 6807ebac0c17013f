"""The orders service: issuing along links, X12 855 acknowledgment line by line, shipments and
receipts within what was confirmed and shipped, and who may cancel when."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import Order
from supplychain.services import order_acks, orders, shipments
from supplychain.services.order_acks import LineAck
from supplychain.services.orders import NewLine
from supplychain.services.shipments import Movement
from tests.integration.conftest import Net


def _lines(n: int = 3) -> list[NewLine]:
    due = date(2026, 12, 15)
    return [
        NewLine(i + 1, f"SKU-{i + 1}", Decimal("10"), Decimal("12.50"), requested_date=due)
        for i in range(n)
    ]


def _issue(
    net: Net,
    who: str = "D1a",
    counterparty: str = "owner",
    role: str = "buyer",
    number: str | None = None,
    lines: list[NewLine] | None = None,
) -> Order:
    return orders.issue_order(
        net.session,
        net.as_(who),
        counterparty_id=net.org(counterparty),
        issuer_role=role,
        number=number,
        currency=None,
        ack_due=None,
        lines=lines or _lines(),
    )


def _ack(net: Net, order: Order, *answers: LineAck, who: str = "owner", version: int = 1):
    return order_acks.acknowledge_order(
        net.session,
        net.as_(who),
        order.id,
        version=version,
        decision="lines",
        reason=None,
        lines=list(answers),
    )


def _ship(net: Net, order: Order, line_no: int, qty: str, who: str = "owner") -> Order:
    moves = [Movement(line_no, Decimal(qty))]
    return shipments.record_shipment(net.session, net.as_(who), order.id, moves, None, None)


def _receive(net: Net, order: Order, line_no: int, qty: str, who: str = "D1a") -> Order:
    moves = [Movement(line_no, Decimal(qty))]
    return shipments.record_receipt(net.session, net.as_(who), order.id, moves, None, None)


def _line(net: Net, order: Order, line_no: int):
    view = orders.get_order(net.session, net.as_("owner"), order.id)
    return {line.line_no: line for line in view.lines}[line_no]


def test_an_order_follows_a_supply_link_in_its_direction(net: Net):
    order = _issue(net, number="PO-1")
    assert (order.status, order.version, order.currency) == ("issued", 1, "CNY")
    assert (order.buyer_id, order.seller_id, order.issuer_id) == (
        net.org("D1a"),
        net.org("owner"),
        net.org("D1a"),
    )
    view = orders.get_order(net.session, net.as_("D1a"), order.id)
    assert {line.ack_status for line in view.lines} == {"pending"}
    # The owner supplies D1a, never the other way round.
    with pytest.raises(Invalid, match="No supply link"):
        _issue(net, role="seller")
    with pytest.raises(Invalid, match="No supply link"):
        _issue(net, counterparty="D1b")
    with pytest.raises(Invalid, match="Unknown counterparty"):
        _issue(net, counterparty="outsider")
    with pytest.raises(Conflict):
        _issue(net, number="PO-1")
    duplicate = [*_lines(2), _lines(1)[0]]
    with pytest.raises(Invalid) as bad:
        _issue(net, lines=duplicate)
    assert bad.value.errors == {"lines": {"2": {"line_no": ["Duplicate line_no 1."]}}}


def test_line_by_line_acknowledgment_sets_x12_codes_status_and_version(net: Net):
    order = _issue(net)
    with pytest.raises(Forbidden):
        _ack(net, order, LineAck(1, "accepted"), who="D1a")  # the issuer
    with pytest.raises(Invalid) as missing:
        _ack(net, order, LineAck(1, "accepted"))
    assert "_missing" in missing.value.errors["lines"]
    with pytest.raises(Invalid):
        _ack(net, order, LineAck(1, "accepted", qty=Decimal("9")), LineAck(2, "accepted"),
             LineAck(3, "accepted"))  # fmt: skip
    acked = _ack(
        net,
        order,
        LineAck(1, "accepted"),
        LineAck(2, "changed", qty=Decimal("6")),
        LineAck(3, "rejected", reason="Out of stock"),
    )
    assert (acked.status, acked.ack_code, acked.version) == ("partially_accepted", "AC", 2)
    got = {no: _line(net, order, no) for no in (1, 2, 3)}
    assert [got[no].ack_code for no in (1, 2, 3)] == ["IA", "IQ", "IR"]
    assert [got[no].confirmed_qty for no in (1, 2, 3)] == [Decimal(10), Decimal(6), Decimal(0)]
    with pytest.raises(Conflict, match="Stale version"):
        _ack(net, order, LineAck(1, "accepted"), LineAck(2, "accepted"), LineAck(3, "accepted"))
    # A re-ack before any shipment replaces the first.
    again = _ack(
        net, order, LineAck(1, "accepted"), LineAck(2, "accepted"), LineAck(3, "accepted"),
        version=2,
    )  # fmt: skip
    assert (again.status, again.ack_code, again.version) == ("accepted", "AD", 3)


def test_shipping_beyond_what_was_confirmed_is_refused(net: Net):
    order = _issue(net)
    _ack(
        net,
        order,
        LineAck(1, "accepted"),
        LineAck(2, "changed", qty=Decimal("6")),
        LineAck(3, "rejected"),
    )
    with pytest.raises(Conflict) as over:
        _ship(net, order, 2, "7")
    [message] = over.value.errors["lines"]["0"]["qty"]
    assert message.startswith("Over-shipping line 2: 6") and message.endswith(" left.")
    with pytest.raises(Conflict, match="cannot be shipped"):
        _ship(net, order, 3, "1")  # rejected
    with pytest.raises(Forbidden):
        _ship(net, order, 1, "1", who="D1a")  # the buyer
    _ship(net, order, 2, "4")
    _ship(net, order, 2, "2")
    with pytest.raises(Conflict):
        _ship(net, order, 2, "0.0001")
    assert _line(net, order, 2).shipped_qty == Decimal(6)
    # Received never exceeds shipped.
    with pytest.raises(Conflict, match="cannot be received"):
        _receive(net, order, 1, "1")
    _receive(net, order, 2, "6")
    with pytest.raises(Conflict):
        _receive(net, order, 2, "1")
    # Once goods moved, the acknowledgment stands.
    with pytest.raises(Conflict, match="shipped"):
        _ack(net, order, LineAck(1, "accepted"), LineAck(2, "accepted"), LineAck(3, "accepted"),
             version=2)  # fmt: skip


def test_only_the_issuer_cancels_and_only_before_anything_is_shipped(net: Net):
    order = _issue(net)
    with pytest.raises(Forbidden):
        orders.cancel_order(net.session, net.as_("owner"), order.id, "No", None)  # the seller
    with pytest.raises(NotFound):
        orders.cancel_order(net.session, net.as_("D1b"), order.id, "No", None)  # not a party
    with pytest.raises(Conflict, match="Stale version"):
        orders.cancel_order(net.session, net.as_("D1a"), order.id, "Changed plans", 5)
    cancelled = orders.cancel_order(net.session, net.as_("D1a"), order.id, "Changed plans", 1)
    assert (cancelled.status, cancelled.version, cancelled.cancel_reason) == (
        "cancelled",
        2,
        "Changed plans",
    )
    with pytest.raises(Conflict, match="cancelled"):
        _ack(net, order, LineAck(1, "accepted"), version=2)
    with pytest.raises(Conflict, match="cancelled"):
        orders.cancel_order(net.session, net.as_("D1a"), order.id, "Again", None)
    shipped = _issue(net, lines=_lines(1))
    _ack(net, shipped, LineAck(1, "accepted"))
    _ship(net, shipped, 1, "1")
    with pytest.raises(Conflict, match="shipped"):
        orders.cancel_order(net.session, net.as_("D1a"), shipped.id, "Too late", None)


def test_the_date_filter_reads_days_in_the_chains_zone(net: Net):
    from datetime import UTC, datetime

    net.as_("owner").chain.timezone = "Asia/Shanghai"
    late = _issue(net, number="LATE-EVENING-UTC")
    # 2026-12-03 20:00 UTC is 2026-12-04 04:00 in Shanghai: the chain's 4 December.
    late.created_at = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    net.session.flush()

    def listed(day_from: date | None, day_to: date | None) -> set[int]:
        page = orders.orders_page(
            net.session,
            net.as_("owner"),
            status=None,
            counterparty_id=None,
            date_from=day_from,
            date_to=day_to,
            page=1,
            page_size=100,
        )
        return {view["order"].id for view in page.items}

    assert late.id in listed(date(2026, 12, 4), date(2026, 12, 4))
    assert late.id not in listed(date(2026, 12, 3), date(2026, 12, 3))
    assert late.id in listed(date.min, date.max)  # the calendar's ends are no bounds, not errors
