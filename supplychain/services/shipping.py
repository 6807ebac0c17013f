"""Ship notices (送货单, ASN): issuing one is the shipment of its lines, over several orders of
one seller and one buyer, in a fixed number of statements whatever the number of lines; listing,
reading and cancelling them. Receipts against a notice are in shipping_receipts.py, the GS1
numbers in shipping_codes.py.

Issuing locks the notice's orders (PostgreSQL: FOR UPDATE on their rows; SQLite: the writer's
BEGIN IMMEDIATE already holds the database) and the seller's org row (its SSCC counter), checks
every line against its order line's shippable quantity summed over the notice, and then writes:
the notice, its packages and lines, the order lines' shipped quantities, each order's `shipped`
history entry carrying the notice's reference, the orders' kept figures, the audit trail and the
events (`order.shipped` per order, `ship_notice.issued`), each in one bulk statement.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, exists, func, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import AuditEvent, Order, OrderEvent, OrderLine, Org
from supplychain.models.base import utcnow
from supplychain.models.orders import SHIPPABLE_LINE_STATUSES
from supplychain.models.shipping import ShipNotice, ShipNoticeLine, ShipNoticePackage
from supplychain.services.apps import require_app
from supplychain.services.bulk import among_ids, insert_rows
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.order_figures import refresh_order_figures
from supplychain.services.pagination import Page, paginate
from supplychain.services.shipping_codes import (
    make_sscc,
    package_code,
    serial_capacity,
    sscc_problem,
)

APP = "orders"
MAX_LINES = 2000
MAX_PACKAGES = 2000


@dataclass
class NewPackage:
    """A package as the seller gives it; `ref` is how the notice's lines name it."""

    ref: str
    sscc: str | None = None
    kind: str = "carton"
    weight_kg: Decimal | None = None


@dataclass
class NoticeLineIn:
    """A quantity of one order line on the notice, optionally in one of its packages."""

    order_id: int | None
    line_no: int
    qty: Decimal
    package: str | None = None


@dataclass
class NoticeLineView:
    """A notice line with what the documents and the API show of its order line."""

    line: ShipNoticeLine
    order_number: str
    sku: str
    description: str | None
    unit: str | None
    package_ref: str | None


@dataclass
class NoticeView:
    """A notice with its parties, packages and lines."""

    notice: ShipNotice
    seller: Org
    buyer: Org
    packages: list[ShipNoticePackage]
    lines: list[NoticeLineView]
    order_numbers: list[str] = field(default_factory=list)
    # What a receipt just took in (its packages and lines), on the receipt's answer.
    received: dict[str, Any] | None = None

    @property
    def package_count(self) -> int:
        return len(self.packages)

    @property
    def label_codes(self) -> dict[int, str]:
        return {p.id: package_label_code(p) for p in self.packages}


@dataclass
class _Item:
    """One notice line checked: its order, order line, quantity and package."""

    order: Order
    line: OrderLine
    qty: Decimal
    package_seq: int | None


# --- reading ------------------------------------------------------------------------------------


def _visible(stmt: Select, access: ChainAccess) -> Select:
    stmt = stmt.where(ShipNotice.chain_id == access.chain_id)
    if not access.is_owner:
        me = access.actor.org_id
        stmt = stmt.where((ShipNotice.seller_id == me) | (ShipNotice.buyer_id == me))
    return stmt


def load_notice(
    session: Session, access: ChainAccess, notice_id: int | None, lock: bool = False
) -> ShipNotice:
    """A notice the caller may see (its two parties, the chain's owner); 404 otherwise."""
    require_app(session, access, APP)
    if notice_id is None:
        raise NotFound("No such ship notice.")
    stmt = _visible(select(ShipNotice).where(ShipNotice.id == notice_id), access)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    notice = session.scalar(stmt)
    if notice is None:
        raise NotFound("No such ship notice.")
    return notice


def notice_view(session: Session, notice: ShipNotice) -> NoticeView:
    """The notice with parties, packages and lines (four queries, whatever its size)."""
    orgs = {
        o.id: o
        for o in session.scalars(select(Org).where(Org.id.in_([notice.seller_id, notice.buyer_id])))
    }
    packages = list(
        session.scalars(
            select(ShipNoticePackage)
            .where(ShipNoticePackage.notice_id == notice.id)
            .order_by(ShipNoticePackage.seq)
        )
    )
    refs = {p.id: p.ref for p in packages}
    rows = session.execute(
        select(
            ShipNoticeLine,
            Order.number,
            OrderLine.sku,
            OrderLine.description,
            OrderLine.unit,
        )
        .join(Order, Order.id == ShipNoticeLine.order_id)
        .join(OrderLine, OrderLine.id == ShipNoticeLine.order_line_id)
        .where(ShipNoticeLine.notice_id == notice.id)
        .order_by(ShipNoticeLine.seq)
    ).all()
    lines = [
        NoticeLineView(line, number, sku, description, unit, refs.get(line.package_id))
        for line, number, sku, description, unit in rows
    ]
    numbers = list(dict.fromkeys(view.order_number for view in lines))
    return NoticeView(
        notice=notice,
        seller=orgs[notice.seller_id],
        buyer=orgs[notice.buyer_id],
        packages=packages,
        lines=lines,
        order_numbers=numbers,
    )


def get_notice(session: Session, access: ChainAccess, notice_id: int | None) -> NoticeView:
    """One notice for its parties or the chain owner; 404 for everyone else."""
    return notice_view(session, load_notice(session, access, notice_id))


def notices_page(
    session: Session,
    access: ChainAccess,
    *,
    box: str | None,
    status: str | None,
    order_id: int | None,
    page: int,
    page_size: int,
) -> Page:
    """Notices the caller may see, newest first: `incoming` (to its org), `outgoing` (from it)."""
    require_app(session, access, APP)
    me = access.actor.org_id
    stmt = _visible(select(ShipNotice), access)
    if box == "incoming":
        stmt = stmt.where(ShipNotice.buyer_id == me)
    elif box == "outgoing":
        stmt = stmt.where(ShipNotice.seller_id == me)
    if status:
        stmt = stmt.where(ShipNotice.status == status)
    if order_id is not None:
        stmt = stmt.where(
            exists().where(
                ShipNoticeLine.notice_id == ShipNotice.id, ShipNoticeLine.order_id == order_id
            )
        )
    result = paginate(session, stmt.order_by(ShipNotice.id.desc()), page, page_size)
    ids = [n.id for n in result.items]
    counts: dict[int, tuple[int, int]] = {}
    names: dict[int, str] = {}
    if ids:
        for notice_id, lines, packages in session.execute(
            select(
                ShipNoticeLine.notice_id,
                func.count(ShipNoticeLine.id),
                func.count(func.distinct(ShipNoticeLine.package_id)),
            )
            .where(ShipNoticeLine.notice_id.in_(ids))
            .group_by(ShipNoticeLine.notice_id)
        ):
            counts[notice_id] = (lines, packages)
        org_ids = {n.seller_id for n in result.items} | {n.buyer_id for n in result.items}
        names = dict(session.execute(select(Org.id, Org.name).where(Org.id.in_(org_ids))).all())
    result.items = [
        {
            "notice": n,
            "seller_name": names.get(n.seller_id),
            "buyer_name": names.get(n.buyer_id),
            "line_count": counts.get(n.id, (0, 0))[0],
        }
        for n in result.items
    ]
    return result


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


def _lock_orders(session: Session, chain_id: int, order_ids: list[int]) -> dict[int, Order]:
    """The orders, row-locked, read afresh (one statement)."""
    if not order_ids:
        return {}
    stmt = (
        select(Order)
        .where(Order.chain_id == chain_id, among_ids(session, Order.id, order_ids))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {order.id: order for order in session.scalars(stmt)}


def _lines_of_orders(session: Session, order_ids: list[int]) -> dict[tuple[int, int], OrderLine]:
    if not order_ids:
        return {}
    stmt = (
        select(OrderLine)
        .where(among_ids(session, OrderLine.order_id, order_ids))
        .execution_options(populate_existing=True)
    )
    return {(line.order_id, line.line_no): line for line in session.scalars(stmt)}


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def check_notice_lines(
    session: Session,
    access: ChainAccess,
    buyer_id: int,
    lines: list[NoticeLineIn],
    package_seq: dict[str, int],
    line_errors: dict[str, Any],
) -> list[_Item]:
    """Lock the lines' orders and check every line: 422 for a line that is not the seller's to
    ship to this buyer, 409 for what cannot ship (summed over the notice per order line)."""
    me = access.actor.org_id
    order_ids = sorted({line.order_id for line in lines if line.order_id is not None})
    orders = _lock_orders(session, access.chain_id, order_ids)
    order_lines = _lines_of_orders(session, list(orders))
    items: list[_Item | None] = []
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
        items.append(_Item(order, line, wanted.qty, seq))
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


def _new_number(session: Session, seller_id: int) -> str:
    today = utcnow().strftime("%Y%m%d")
    while True:
        number = f"SN-{today}-{secrets.token_hex(3).upper()}"
        if not session.scalar(
            select(ShipNotice.id).where(
                ShipNotice.seller_id == seller_id, ShipNotice.number == number
            )
        ):
            return number


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
    if number is None:
        number = _new_number(session, me)
    elif session.scalar(
        select(ShipNotice.id).where(ShipNotice.seller_id == me, ShipNotice.number == number)
    ):
        raise Conflict("You have a ship notice with this number.", {"number": ["Taken."]})
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
    items: list[_Item],
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
    by_order: dict[int, list[_Item]] = defaultdict(list)
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
    _record_history(session, access, orders, "shipped", histories, now)
    publish_many(
        session,
        chain_id=access.chain_id,
        events=[
            *(
                NewEvent(
                    type="order.shipped",
                    subject_type="order",
                    subject_id=order_id,
                    data=_order_event_data(orders[order_id]) | histories[order_id],
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


def _order_event_data(order: Order) -> dict[str, Any]:
    # services.orders.order_event_data, imported late: orders is being reorganised around us.
    from supplychain.services.orders import order_event_data

    return order_event_data(order)


def _record_history(
    session: Session,
    access: ChainAccess,
    orders: dict[int, Order],
    kind: str,
    histories: dict[int, dict[str, Any]],
    now: datetime,
) -> None:
    """Each order's history entry and audit event (one bulk insert each), then its figures."""
    actor = access.actor
    insert_rows(
        session,
        OrderEvent.__table__,
        [
            {
                "order_id": order_id,
                "kind": kind,
                "version": orders[order_id].version,
                "at": now,
                "user_id": actor.user_id,
                "org_id": actor.org_id,
                "data": data,
            }
            for order_id, data in histories.items()
        ],
    )
    insert_rows(
        session,
        AuditEvent.__table__,
        [
            {
                "chain_id": access.chain_id,
                "at": now,
                "user_id": actor.user_id,
                "org_id": actor.org_id,
                "action": f"order.{kind}",
                "target_type": "order",
                "target_id": str(order_id),
                "data": {
                    "number": orders[order_id].number,
                    "version": orders[order_id].version,
                    **{k: v for k, v in data.items() if k != "lines"},
                    "lines": len(data["lines"]),
                },
            }
            for order_id, data in histories.items()
        ],
    )
    refresh_order_figures(session, list(orders))


def notice_event(
    type: str, notice: ShipNotice, line_count: int, order_numbers: list[str]
) -> NewEvent:
    """A ship notice event for both parties."""
    return NewEvent(
        type=type,
        subject_type="ship_notice",
        subject_id=notice.id,
        data={
            "id": str(notice.id),
            "number": notice.number,
            "status": notice.status,
            "seller_id": str(notice.seller_id),
            "buyer_id": str(notice.buyer_id),
            "shipped_at": notice.shipped_at.isoformat(),
            "expected_at": notice.expected_at.isoformat() if notice.expected_at else None,
            "carrier": notice.carrier_name,
            "tracking_numbers": list(notice.tracking_numbers or []),
            "line_count": line_count,
            "orders": order_numbers,
        },
        org_ids=(notice.seller_id, notice.buyer_id),
    )


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
    notice = ShipNotice(
        chain_id=access.chain_id,
        number=_new_number(session, order.seller_id),
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
    ship_items(session, access, notice, [_Item(order, line, qty, None) for line, qty in shipments])
    return notice


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
    orders = _lock_orders(session, access.chain_id, order_ids)
    order_lines = {line.id: line for line in _lines_of_orders(session, order_ids).values()}
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
    _record_history(session, access, orders, "shipment_cancelled", histories, now)
    notice.status = "cancelled"
    notice.cancel_reason = reason
    notice.updated_at = now
    session.flush()
    publish_many(
        session,
        chain_id=access.chain_id,
        events=[
            _with(
                notice_event(
                    "ship_notice.cancelled",
                    notice,
                    len(lines),
                    sorted(o.number for o in orders.values()),
                ),
                reason=reason,
            )
        ],
    )
    session.expire_all()
    return notice


def _with(event: NewEvent, **data: Any) -> NewEvent:
    return NewEvent(
        type=event.type,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        data=event.data | data,
        org_ids=event.org_ids,
    )


# --- the seller's org settings ------------------------------------------------------------------


def set_org_shipping(session: Session, access_actor: Any, changes: dict[str, Any]) -> Org:
    """`PATCH /me/org`: an admin sets the org's GS1 company prefix (or clears it) and address."""
    from supplychain.services.audit import record_event

    if access_actor.user.role != "admin":
        raise Forbidden("Only an admin of the org changes it.")
    org = session.get(Org, access_actor.org_id)
    assert org is not None
    for key in ("gs1_company_prefix", "address"):
        if key in changes:
            setattr(org, key, changes[key])
    record_event(session, access_actor, "org.updated", "org", org.id, data=dict(changes))
    session.flush()
    return org


def package_label_code(package: ShipNoticePackage) -> str:
    """What the package's label barcode carries: (00) + SSCC, else the package's own id."""
    return f"(00){package.sscc}" if package.sscc else package_code(package.id)
