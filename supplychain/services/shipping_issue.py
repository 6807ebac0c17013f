"""Issuing a ship notice is the shipment of its lines, over several orders of one seller and one
buyer, in a fixed number of statements whatever the number of lines or orders.

Issuing locks the notice's orders (PostgreSQL: FOR UPDATE on their rows; SQLite: the writer's
BEGIN IMMEDIATE already holds the database) and the seller's org row (its SSCC counter), checks
every line against its order line's shippable quantity summed over the notice, and then writes:
the notice, its packages and lines, the order lines' shipped quantities, each order's `shipped`
history entry carrying the notice's reference, the orders' kept figures, the audit trail and the
events (`order.shipped` per order, `ship_notice.issued`), each in one bulk statement.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.models import Order, OrderLine, Org
from supplychain.models.base import utcnow
from supplychain.models.orders import SHIPPABLE_LINE_STATUSES
from supplychain.models.shipping import ShipNotice, ShipNoticeLine, ShipNoticePackage
from supplychain.services.app_access import require_app
from supplychain.services.bulk import among_ids, insert_rows
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.orders import order_event_data
from supplychain.services.shipping import (
    APP,
    MAX_LINES,
    MAX_PACKAGES,
    NewPackage,
    NoticeLineIn,
    ShipItem,
    lines_of_orders,
    lock_orders,
    notice_event,
    record_history,
)
from supplychain.services.shipping_codes import (
    make_sscc,
    serial_capacity,
    sscc_problem,
)
from supplychain.services.trade_documents import document_number

# --- issuing ------------------------------------------------------------------------------------


def _check_packages(
    packages: list[NewPackage], lines: list[NoticeLineIn]
) -> tuple[dict[str, int], dict[str, Any], dict[str, Any]]:
    """Package refs to their sequence, and the errors of the packages and the lines' refs."""
    package_errors: dict[str, Any] = {}
    by_ref: dict[str, int] = {}
    ssccs: set[str] = set()
    for i, package in enumerate(packages):
        if package.ref in by_ref:
            package_errors[str(i)] = {"ref": [f"Package {package.ref!r} given twice."]}
        by_ref[package.ref] = i + 1
        if package.sscc is not None:
            problem = sscc_problem(package.sscc)
            if problem:
                package_errors.setdefault(str(i), {})["sscc"] = [problem]
            elif package.sscc in ssccs:
                package_errors.setdefault(str(i), {})["sscc"] = ["Given twice in this notice."]
            ssccs.add(package.sscc)
    line_errors: dict[str, Any] = {}
    for i, line in enumerate(lines):
        if line.package is not None and line.package not in by_ref:
            line_errors[str(i)] = {"package": [f"No package {line.package!r} on this notice."]}
    return by_ref, package_errors, line_errors


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def check_notice_lines(
    session: Session,
    access: ChainAccess,
    buyer_id: int,
    lines: list[NoticeLineIn],
    package_seq: dict[str, int],
    line_errors: dict[str, Any],
) -> list[ShipItem]:
    """Lock the lines' orders and check every line: 422 for a line that is not the seller's to
    ship to this buyer, 409 for what cannot ship (summed over the notice per order line)."""
    me = access.actor.org_id
    order_ids = sorted({line.order_id for line in lines if line.order_id is not None})
    orders = lock_orders(session, access.chain_id, order_ids)
    order_lines = lines_of_orders(session, list(orders))
    items: list[ShipItem | None] = []
    for i, wanted in enumerate(lines):
        order = orders.get(wanted.order_id) if wanted.order_id is not None else None
        mine = order is not None and order.seller_id == me
        if not mine:
            line_errors.setdefault(str(i), {})["order_id"] = ["No such order of yours."]
        elif order.buyer_id != buyer_id:
            line_errors.setdefault(str(i), {})["order_id"] = [
                f"Order {order.number} is for another buyer."
            ]
        elif (order.id, wanted.line_no) not in order_lines:
            line_errors.setdefault(str(i), {})["line_no"] = [
                f"No line {wanted.line_no} in order {order.number}."
            ]
        if str(i) in line_errors or order is None:
            items.append(None)
            continue
        line = order_lines[(order.id, wanted.line_no)]
        seq = package_seq.get(wanted.package) if wanted.package is not None else None
        items.append(ShipItem(order, line, wanted.qty, seq))
    if line_errors:
        raise Invalid("Bad ship notice lines.", {"lines": line_errors})
    checked = [item for item in items if item is not None]
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for item in checked:
        totals[item.line.id] += item.qty
    conflicts: dict[str, Any] = {}
    for i, item in enumerate(checked):
        order, line = item.order, item.line
        if not order.is_live:
            conflicts[str(i)] = {"order_id": [f"Order {order.number} is cancelled."]}
        elif line.ack_status not in SHIPPABLE_LINE_STATUSES:
            conflicts[str(i)] = {
                "line_no": [
                    f"Order {order.number} line {line.line_no} is {line.ack_status}; not shippable."
                ]
            }
        elif totals[line.id] > line.shippable_qty:
            conflicts[str(i)] = {
                "qty": [
                    f"Over-shipping order {order.number} line {line.line_no}: "
                    f"{_plain(line.shippable_qty)} left, {_plain(totals[line.id])} on this notice."
                ]
            }
    if conflicts:
        raise Conflict("These lines cannot be shipped.", {"lines": conflicts})
    return checked


def _notice_number(session: Session, seller_id: int, number: str | None) -> str:
    """`number` if the seller has no notice with it (409 else), or a new SN-... one."""
    return document_number(
        session,
        ShipNotice,
        ShipNotice.seller_id == seller_id,
        number,
        "SN",
        "You have a ship notice with this number.",
    )


def _reserve_serials(session: Session, org_id: int, wanted: int) -> tuple[str | None, int]:
    """Lock the seller's org row and take `wanted` SSCC serials from its counter if it has a
    GS1 prefix (one statement): its prefix (or None) and the first serial taken."""
    prefix, last = session.execute(
        update(Org)
        .where(Org.id == org_id)
        .values(
            sscc_serial=Org.sscc_serial + case((Org.gs1_company_prefix.is_(None), 0), else_=wanted)
        )
        .returning(Org.gs1_company_prefix, Org.sscc_serial)
    ).one()
    taken = 0 if prefix is None else wanted
    first = last - taken + 1
    if prefix is not None and last >= serial_capacity(prefix):
        raise Conflict(
            "The org's GS1 company prefix has no SSCC serials left.",
            {"packages": ["No serials left for this prefix."]},
        )
    return prefix, first


def _assign_ssccs(
    session: Session, seller_id: int, packages: list[NewPackage]
) -> tuple[list[str | None], dict[str, Any]]:
    """Each package's SSCC: the one supplied, else the next of the seller's serials when it has
    a prefix, else none; supplied ones already used by the seller are conflicts. Locks the
    seller's org row, which also serialises its notice numbers."""
    missing = [i for i, p in enumerate(packages) if p.sscc is None]
    prefix, first = _reserve_serials(session, seller_id, len(missing))
    ssccs: list[str | None] = [p.sscc for p in packages]
    if prefix is not None:
        for n, i in enumerate(missing):
            ssccs[i] = make_sscc(prefix, first + n)
    given = [s for s in ssccs if s is not None]
    used: set[str] = set()
    if given:
        used = set(
            session.scalars(
                select(ShipNoticePackage.sscc).where(
                    ShipNoticePackage.seller_id == seller_id,
                    ShipNoticePackage.sscc.in_(given),
                )
            )
        )
    errors: dict[str, Any] = {}
    for i, sscc in enumerate(ssccs):
        if sscc in used:
            which = "Already used" if packages[i].sscc else "Our next serial is taken"
            errors[str(i)] = {"sscc": [f"{which}: SSCC {sscc} is on another package of yours."]}
    return ssccs, errors


def check_times(access: ChainAccess, **times: datetime | None) -> None:
    """422 naming each time that is out of range in the chain's timezone (9999-12-31T23:00Z is
    past year 9999 east of Greenwich): the labels, the delivery note and the pages show them
    there."""
    zone = ZoneInfo(access.chain.timezone)
    errors: dict[str, Any] = {}
    for field, value in times.items():
        if value is None:
            continue
        try:
            value.astimezone(zone)
        except OverflowError:
            errors[field] = ["Out of range in the chain's timezone."]
    if errors:
        raise Invalid("Bad times.", errors)


def issue_notice(
    session: Session,
    access: ChainAccess,
    *,
    buyer_id: int,
    lines: list[NoticeLineIn],
    packages: list[NewPackage] | None = None,
    number: str | None = None,
    shipped_at: datetime | None = None,
    expected_at: datetime | None = None,
    carrier_name: str | None = None,
    carrier_code: str | None = None,
    tracking_numbers: list[str] | None = None,
) -> ShipNotice:
    """The seller ships lines of its orders with one buyer as one notice (see the module)."""
    require_app(session, access, APP)
    check_times(access, shipped_at=shipped_at, expected_at=expected_at)
    packages = packages or []
    me = access.actor.org_id
    if buyer_id == me:
        raise Invalid("A seller cannot ship to itself.", {"buyer_id": ["That is you."]})
    if not lines:
        raise Invalid("A ship notice needs lines.", {"lines": ["At least one line."]})
    if len(lines) > MAX_LINES:
        raise Invalid("Too many lines.", {"lines": [f"At most {MAX_LINES} lines."]})
    if len(packages) > MAX_PACKAGES:
        raise Invalid("Too many packages.", {"packages": [f"At most {MAX_PACKAGES}."]})
    package_seq, package_errors, line_errors = _check_packages(packages, lines)
    if package_errors:
        raise Invalid("Bad packages.", {"packages": package_errors})
    items = check_notice_lines(session, access, buyer_id, lines, package_seq, line_errors)
    ssccs, taken = _assign_ssccs(session, me, packages)
    if taken:
        raise Conflict("SSCCs already used.", {"packages": taken})
    number = _notice_number(session, me, number)
    notice = ShipNotice(
        chain_id=access.chain_id,
        number=number,
        seller_id=me,
        buyer_id=buyer_id,
        status="issued",
        shipped_at=shipped_at or utcnow(),
        expected_at=expected_at,
        carrier_name=carrier_name,
        carrier_code=carrier_code,
        tracking_numbers=list(tracking_numbers or []),
        created_by=access.actor.user_id,
    )
    session.add(notice)
    session.flush()
    package_ids = _insert_packages(session, notice, packages, ssccs)
    ship_items(session, access, notice, items, package_ids)
    return notice


def _insert_packages(
    session: Session, notice: ShipNotice, packages: list[NewPackage], ssccs: list[str | None]
) -> dict[int, int]:
    """The packages in one statement; their ids by sequence."""
    rows = insert_rows(
        session,
        ShipNoticePackage.__table__,
        [
            {
                "notice_id": notice.id,
                "seller_id": notice.seller_id,
                "seq": i + 1,
                "ref": p.ref,
                "kind": p.kind,
                "weight_kg": p.weight_kg,
                "sscc": ssccs[i],
                "received_at": None,
            }
            for i, p in enumerate(packages)
        ],
        ShipNoticePackage.__table__.c.seq,
        ShipNoticePackage.__table__.c.id,
    )
    return {seq: package_id for seq, package_id in rows}


def ship_items(
    session: Session,
    access: ChainAccess,
    notice: ShipNotice,
    items: list[ShipItem],
    package_ids: dict[int, int] | None = None,
) -> None:
    """Write a checked shipment: the notice's lines, the order lines' shipped quantities, each
    order's history entry, kept figures, audit and events; one bulk statement each."""
    package_ids = package_ids or {}
    now = utcnow()
    ref = notice.ref or notice.number
    insert_rows(
        session,
        ShipNoticeLine.__table__,
        [
            {
                "notice_id": notice.id,
                "seq": i + 1,
                "order_id": item.order.id,
                "order_line_id": item.line.id,
                "line_no": item.line.line_no,
                "package_id": package_ids.get(item.package_seq) if item.package_seq else None,
                "qty": item.qty,
                "received_qty": Decimal(0),
            }
            for i, item in enumerate(items)
        ],
    )
    shipped: dict[int, Decimal] = {}
    by_order: dict[int, list[ShipItem]] = defaultdict(list)
    for item in items:
        shipped[item.line.id] = shipped.get(item.line.id, item.line.shipped_qty) + item.qty
        by_order[item.order.id].append(item)
    session.execute(
        update(OrderLine), [{"id": line_id, "shipped_qty": qty} for line_id, qty in shipped.items()]
    )
    orders = {item.order.id: item.order for item in items}
    session.execute(
        update(Order).where(among_ids(session, Order.id, list(orders))).values(updated_at=now)
    )
    at = notice.shipped_at.isoformat()
    histories = {
        order_id: {
            "ref": ref,
            "ship_notice_id": str(notice.id),
            "ship_notice": notice.number,
            "shipped_at": at,
            "lines": [{"line_no": i.line.line_no, "qty": str(i.qty)} for i in order_items],
        }
        for order_id, order_items in by_order.items()
    }
    record_history(session, access, orders, "shipped", histories, now)
    publish_many(
        session,
        chain_id=access.chain_id,
        events=[
            *(
                NewEvent(
                    type="order.shipped",
                    subject_type="order",
                    subject_id=order_id,
                    data=order_event_data(orders[order_id]) | histories[order_id],
                    org_ids=(orders[order_id].buyer_id, orders[order_id].seller_id),
                )
                for order_id in histories
            ),
            notice_event(
                "ship_notice.issued", notice, len(items), sorted(o.number for o in orders.values())
            ),
        ],
    )
    session.expire_all()


def ship_one_order(
    session: Session,
    access: ChainAccess,
    order: Order,
    shipments: list[tuple[OrderLine, Decimal]],
    ref: str | None,
    shipped_at: datetime | None,
) -> ShipNotice:
    """`POST /orders/{oid}/shipments`: a one-order notice without packages, for lines its
    caller (services.shipments) has locked and checked."""
    check_times(access, shipped_at=shipped_at)
    notice = ShipNotice(
        chain_id=access.chain_id,
        number=_notice_number(session, order.seller_id, None),
        seller_id=order.seller_id,
        buyer_id=order.buyer_id,
        status="issued",
        shipped_at=shipped_at or utcnow(),
        tracking_numbers=[],
        ref=ref,
        created_by=access.actor.user_id,
    )
    session.add(notice)
    session.flush()
    ship_items(
        session, access, notice, [ShipItem(order, line, qty, None) for line, qty in shipments]
    )
    return notice
