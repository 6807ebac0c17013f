"""Rules that are written once and used both in Python and in SQL say the same on a real
database: `Member.is_current`, and the order rules the page and the worklist share."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.extensions import db
from supplychain.models import Chain, Member, Order, OrderLine, Org, User
from supplychain.models.base import utcnow
from supplychain.models.orders import WAITING_KINDS


@pytest.fixture
def session(app) -> Iterator[Session]:
    """The app's session inside an app context; nothing is committed."""
    with app.app_context():
        yield db.session
        db.session.rollback()


def orgs(session: Session, *names: str) -> list[Org]:
    made = [Org(name=name, kind="dealer") for name in names]
    session.add_all(made)
    session.flush()
    return made


def test_is_current_agrees_in_python_and_sql(session: Session):
    owner, stayed, left = orgs(session, "Acme", "Stayed", "Left")
    chain = Chain(name="Dealers", owner_org_id=owner.id)
    session.add(chain)
    session.flush()
    members = [
        Member(chain_id=chain.id, org_id=owner.id),
        Member(chain_id=chain.id, org_id=stayed.id, custom_id="D-1"),
        Member(chain_id=chain.id, org_id=left.id, custom_id="D-2", removed_at=utcnow()),
    ]
    session.add_all(members)
    session.flush()

    in_python = {m.org_id for m in members if m.is_current}
    in_sql = set(
        session.scalars(select(Member.org_id).where(Member.chain_id == chain.id, Member.is_current))
    )
    assert in_python == in_sql == {owner.id, stayed.id}
    removed = set(
        session.scalars(
            select(Member.org_id).where(Member.chain_id == chain.id, ~Member.is_current)
        )
    )
    assert removed == {left.id}


# Orders in the states the services lead to: (status, issued by the buyer?, lines as
# (ack status, confirmed, shipped, received)).
STATES = {
    "po issued": ("issued", True, [("pending", None, "0", "0")] * 2),
    "so issued": ("issued", False, [("pending", None, "0", "0")]),
    "accepted": ("accepted", True, [("accepted", "10", "0", "0")]),
    "changed, part shipped": (
        "accepted_with_changes",
        True,
        [("changed", "5", "2", "0"), ("rejected", "0", "0", "0")],
    ),
    "shipped in full, part received": ("accepted", False, [("accepted", "4", "4", "1.5")]),
    "backordered": ("accepted_with_changes", True, [("backordered", "3", "0", "0")]),
    "done": ("accepted", True, [("accepted", "2.0001", "2.0001", "2.0001")]),
    "rejected": ("rejected", True, [("rejected", "0", "0", "0")]),
    "partially accepted": (
        "partially_accepted",
        False,
        [("accepted", "1", "0", "0"), ("rejected", "0", "0", "0")],
    ),
    "cancelled unanswered": ("cancelled", True, [("pending", None, "0", "0")]),
    "cancelled after acceptance": ("cancelled", False, [("accepted", "10", "0", "0")]),
}


def test_order_rules_agree_in_python_and_sql(session: Session):
    buyer, seller, owner = orgs(session, "Buyer", "Seller", "Owner")
    user = User(org_id=owner.id, email="rules@example.com", name="Rules")
    session.add(user)
    session.flush()
    chain = Chain(name="Rules", owner_org_id=owner.id)
    session.add(chain)
    session.flush()
    made: dict[str, tuple[Order, list[OrderLine]]] = {}
    for number, (name, (status, by_buyer, specs)) in enumerate(STATES.items()):
        order = Order(
            chain_id=chain.id,
            number=f"R-{number}",
            buyer_id=buyer.id,
            seller_id=seller.id,
            issuer_id=buyer.id if by_buyer else seller.id,
            issuer_role="buyer" if by_buyer else "seller",
            currency="CNY",
            status=status,
            created_by=user.id,
        )
        session.add(order)
        session.flush()
        lines = [
            OrderLine(
                order_id=order.id,
                line_no=no,
                sku=f"SKU-{no}",
                qty=Decimal(10),
                unit_price=Decimal(1),
                ack_status=ack,
                confirmed_qty=None if confirmed is None else Decimal(confirmed),
                shipped_qty=Decimal(shipped),
                received_qty=Decimal(received),
            )
            for no, (ack, confirmed, shipped, received) in enumerate(specs, start=1)
        ]
        session.add_all(lines)
        made[name] = (order, lines)
    session.flush()

    # The line quantities, as SQL computes them and as Python does.
    for order, lines in made.values():
        in_sql = session.execute(
            select(OrderLine.shippable_qty, OrderLine.receivable_qty)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.line_no)
        ).all()
        assert [tuple(row) for row in in_sql] == [
            (line.shippable_qty, line.receivable_qty) for line in lines
        ]

    # What waits for each org: the worklist's SQL and the page's actions.
    for org in (buyer, seller, owner):
        for which in WAITING_KINDS:
            in_sql = set(
                session.scalars(
                    select(Order.number).where(
                        Order.chain_id == chain.id, Order.awaiting(org.id, which)
                    )
                )
            )
            in_python = set()
            for order, lines in made.values():
                actions = order.actions_for(org.id, lines)
                waits = {
                    "to_ack": actions.ack and order.status == "issued",
                    "to_ship": actions.ship,
                    "to_receive": actions.receive,
                }[which]
                if waits:
                    in_python.add(order.number)
            assert in_sql == in_python, (org.name, which)

    # And the states do cover each kind of waiting, for someone.
    expected = {
        (seller.id, "to_ack"): {"po issued"},
        (buyer.id, "to_ack"): {"so issued"},
        (seller.id, "to_ship"): {
            "accepted",
            "changed, part shipped",
            "backordered",
            "partially accepted",
        },
        (buyer.id, "to_receive"): {"changed, part shipped", "shipped in full, part received"},
    }
    numbers = {order.number: name for name, (order, _) in made.items()}
    for (org_id, which), names in expected.items():
        found = session.scalars(
            select(Order.number).where(Order.chain_id == chain.id, Order.awaiting(org_id, which))
        )
        assert {numbers[number] for number in found} == names, which
