"""Who may do what to an order, by state and party: `Order.refusal`, `Order.actions_for`, the line
quantities they rest on, and the errors the services raise from them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.errors import Conflict, Forbidden
from supplychain.models import Chain, Member, Order, OrderLine, User
from supplychain.models.orders import OrderActions
from supplychain.services.orders import check_allowed

BUYER, SELLER, OWNER = 1, 2, 3
NOTHING = OrderActions(ack=False, amend=False, cancel=False, ship=False, receive=False)


def order(status: str = "issued", issuer: int = BUYER, version: int = 1) -> Order:
    return Order(buyer_id=BUYER, seller_id=SELLER, issuer_id=issuer, status=status, version=version)


def line(
    status: str = "pending",
    confirmed: str | None = None,
    shipped: str = "0",
    received: str = "0",
) -> OrderLine:
    return OrderLine(
        ack_status=status,
        confirmed_qty=None if confirmed is None else Decimal(confirmed),
        shipped_qty=Decimal(shipped),
        received_qty=Decimal(received),
    )


@pytest.mark.parametrize(
    ("status", "confirmed", "shipped", "received", "shippable", "receivable"),
    [
        ("pending", None, "0", "0", "0", "0"),
        ("accepted", "10", "0", "0", "10", "0"),
        ("changed", "5", "2", "1", "3", "1"),
        ("backordered", "3", "3", "3", "0", "0"),
        ("rejected", "0", "0", "0", "0", "0"),
    ],
)
def test_line_quantities(status, confirmed, shipped, received, shippable, receivable):
    subject = line(status, confirmed, shipped, received)
    assert subject.shippable_qty == Decimal(shippable)
    assert subject.receivable_qty == Decimal(receivable)


def test_an_issued_order_waits_for_the_other_side():
    po, lines = order(), [line()]
    assert po.actions_for(SELLER, lines) == OrderActions(
        ack=True, amend=False, cancel=False, ship=False, receive=False
    )
    assert po.actions_for(BUYER, lines) == OrderActions(
        ack=False, amend=True, cancel=True, ship=False, receive=False
    )
    assert po.actions_for(OWNER, lines) == NOTHING
    assert po.refusal(BUYER, "ack", lines) == "own_order"
    assert po.refusal(OWNER, "ack", lines) == "not_party"
    assert po.refusal(SELLER, "cancel", lines) == "not_issuer"
    # A sales order: the seller issued it, the buyer answers.
    so = order(issuer=SELLER)
    assert so.actions_for(BUYER, lines).ack and not so.actions_for(SELLER, lines).ack


def test_an_accepted_order_ships_and_may_still_be_reanswered_or_cancelled():
    po, lines = order("accepted"), [line("accepted", "10"), line("rejected", "0")]
    assert po.actions_for(SELLER, lines) == OrderActions(
        ack=True, amend=False, cancel=False, ship=True, receive=False
    )
    assert po.actions_for(BUYER, lines) == OrderActions(
        ack=False, amend=True, cancel=True, ship=False, receive=False
    )
    assert po.refusal(BUYER, "ship", lines) == "not_seller"
    assert po.refusal(SELLER, "receive", lines) == "not_buyer"


def test_after_a_shipment_the_order_is_settled():
    po = order("accepted_with_changes")
    lines = [line("changed", "5", shipped="2"), line("rejected", "0")]
    assert po.actions_for(SELLER, lines) == OrderActions(
        ack=False, amend=False, cancel=False, ship=True, receive=False
    )
    assert po.actions_for(BUYER, lines) == OrderActions(
        ack=False, amend=False, cancel=False, ship=False, receive=True
    )
    for who, action in ((SELLER, "ack"), (BUYER, "amend"), (BUYER, "cancel")):
        assert po.refusal(who, action, lines) == "shipped"
    # Everything shipped and received: nothing is left to do.
    done = [line("accepted", "5", shipped="5", received="5")]
    assert po.actions_for(SELLER, done) == NOTHING
    assert po.actions_for(BUYER, done) == NOTHING


def test_a_cancelled_order_takes_nothing_more():
    cancelled, lines = order("cancelled"), [line("accepted", "10")]
    for org in (BUYER, SELLER, OWNER):
        assert cancelled.actions_for(org, lines) == NOTHING
    # The wrong side is told so first; the right side hears the order is cancelled.
    assert cancelled.refusal(OWNER, "ack", lines) == "not_party"
    assert cancelled.refusal(SELLER, "ack", lines) == "cancelled"
    assert cancelled.refusal(SELLER, "ship", lines) == "cancelled"


def test_a_stale_version_is_refused_after_cancelled_and_before_shipped():
    po, shipped = order("accepted", version=3), [line("accepted", "5", shipped="1")]
    assert po.refusal(SELLER, "ack", shipped, version=2) == "stale"
    assert po.refusal(SELLER, "ack", shipped, version=3) == "shipped"
    assert order("cancelled", version=3).refusal(BUYER, "cancel", [], version=2) == "cancelled"
    assert po.refusal(BUYER, "amend", [], version=None) is None


def test_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        order().refusal(BUYER, "delete", [])


def access_of(org_id: int) -> ChainAccess:
    chain = Chain(id=1, owner_org_id=OWNER)
    actor = Actor(user=User(id=org_id * 10, org_id=org_id), token_id=0)
    return ChainAccess(chain=chain, actor=actor, member=Member(chain_id=1, org_id=org_id))


@pytest.mark.parametrize(
    ("status", "org", "action", "version", "error", "message"),
    [
        ("issued", OWNER, "ack", 1, Forbidden, "Only the parties of an order may acknowledge it."),
        ("issued", BUYER, "ack", 1, Forbidden, "The issuer cannot acknowledge its own order."),
        ("issued", SELLER, "amend", 1, Forbidden, "Only the issuer may amend an order."),
        ("issued", OWNER, "cancel", None, Forbidden, "Only the issuer may cancel an order."),
        ("accepted", BUYER, "ship", None, Forbidden, "Only the seller records shipments."),
        ("accepted", SELLER, "receive", None, Forbidden, "Only the buyer records receipts."),
        ("cancelled", SELLER, "ack", 1, Conflict, "The order is cancelled."),
        ("cancelled", BUYER, "receive", None, Conflict, "The order is cancelled."),
        ("issued", SELLER, "ack", 7, Conflict, "Stale version 7: the order is at version 1."),
        (
            "accepted",
            SELLER,
            "ack",
            1,
            Conflict,
            "Goods have been shipped on this order; it can no longer be re-acknowledged.",
        ),
        (
            "accepted",
            BUYER,
            "amend",
            1,
            Conflict,
            "Goods have been shipped on this order; it can no longer be amended.",
        ),
        (
            "accepted",
            BUYER,
            "cancel",
            None,
            Conflict,
            "Goods have been shipped on this order; it can no longer be cancelled.",
        ),
    ],
)
def test_the_services_refuse_with_the_rule(status, org, action, version, error, message):
    lines = [line("accepted", "5", shipped="1")] if status == "accepted" else [line()]
    with pytest.raises(error) as refused:
        check_allowed(order(status), lines, access_of(org), action, version)
    assert refused.value.message == message


def test_the_services_let_through_what_the_rule_allows():
    check_allowed(order(), [line()], access_of(SELLER), "ack", 1)
    check_allowed(order("accepted"), [line("accepted", "5")], access_of(SELLER), "ship")
