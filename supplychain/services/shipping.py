"""Ship notices (送货单, ASN): one seller -> buyer delivery with lines of several orders, and its
packages. This module reads them (for their two parties and the chain's owner) and holds what
issuing (shipping_issue.py), cancelling (shipping_cancel.py) and receiving (shipping_receipts.py)
share; the GS1 numbers are in shipping_codes.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Forbidden, Invalid
from supplychain.models import AuditEvent, Order, OrderEvent, OrderLine, Org
from supplychain.models.shipping import ShipNotice, ShipNoticeLine, ShipNoticePackage
from supplychain.services.app_access import require_app
from supplychain.services.bulk import among_ids, insert_rows
from supplychain.services.events import NewEvent, publish_many
from supplychain.services.order_figures import refresh_order_figures
from supplychain.services.pagination import Page, paginate
from supplychain.services.shipping_codes import (
    package_code,
)
from supplychain.services.trade_documents import load_document, visible_documents

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
class ShipItem:
    """One notice line checked: its order, order line, quantity and package sequence."""

    order: Order
    line: OrderLine
    qty: Decimal
    package_seq: int | None


# --- reading ------------------------------------------------------------------------------------


def load_notice(
    session: Session, access: ChainAccess, notice_id: int | None, lock: bool = False
) -> ShipNotice:
    """A notice the caller may see (its two parties, the chain's owner); 404 otherwise."""
    return load_document(
        session, access, ShipNotice, notice_id, app=APP, missing="No such ship notice.", lock=lock
    )


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


def label_packages(
    view: NoticeView, first: int | None = None, last: int | None = None
) -> list[ShipNoticePackage] | None:
    """The packages numbered `first` to `last` (n of N, both included, from 1 and to N when
    absent) whose labels a reprint asks for; None when neither is given (all of them). A
    number past N, or `from` after `to`, is refused naming it."""
    if first is None and last is None:
        return None
    total = len(view.packages)
    past = [f"This notice has {total} packages."]
    start, end = first or 1, total if last is None else last
    if start > total:
        raise Invalid("Package number `from` is past the last package.", {"query": {"from": past}})
    if end > total:
        raise Invalid("Package number `to` is past the last package.", {"query": {"to": past}})
    if start > end:
        raise Invalid("Package number `from` is after `to`.", {"query": {"from": ["After `to`."]}})
    return [package for package in view.packages if start <= package.seq <= end]


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
    stmt = visible_documents(ShipNotice, access, box)
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


# --- shared with issuing, cancelling and receiving ---------------------------------------------


def lock_orders(session: Session, chain_id: int, order_ids: list[int]) -> dict[int, Order]:
    """The orders, row-locked in id order (two notices over the same orders queue, never
    deadlock), read afresh (one statement)."""
    if not order_ids:
        return {}
    stmt = (
        select(Order)
        .where(Order.chain_id == chain_id, among_ids(session, Order.id, order_ids))
        .order_by(Order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {order.id: order for order in session.scalars(stmt)}


def lines_of_orders(session: Session, order_ids: list[int]) -> dict[tuple[int, int], OrderLine]:
    if not order_ids:
        return {}
    stmt = (
        select(OrderLine)
        .where(among_ids(session, OrderLine.order_id, order_ids))
        .execution_options(populate_existing=True)
    )
    return {(line.order_id, line.line_no): line for line in session.scalars(stmt)}


def publish_ship_notice_event(
    session: Session,
    type: str,
    notice: ShipNotice,
    line_count: int,
    order_numbers: list[str],
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell both parties what happened to a ship notice (`notice_event`)."""
    event = notice_event(type, notice, line_count, order_numbers, extra)
    publish_many(session, chain_id=notice.chain_id, events=[event])


def notice_event(
    type: str,
    notice: ShipNotice,
    line_count: int,
    order_numbers: list[str],
    extra: dict[str, Any] | None = None,
) -> NewEvent:
    """A ship notice event for both parties: the notice's facts and `extra`."""
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
        }
        | (extra or {}),
        org_ids=(notice.seller_id, notice.buyer_id),
    )


def record_history(
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


def package_label_code(package: ShipNoticePackage) -> str:
    """What the package's label barcode carries: (00) + SSCC, else the package's own id."""
    return f"(00){package.sscc}" if package.sscc else package_code(package.id)


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


# --- what the seller's "new notice" page offers ---------------------------------------------------

MAX_PICK_LINES = 500


def buyers_to_ship(session: Session, access: ChainAccess) -> list[tuple[int, str, int]]:
    """The buyers with orders waiting for the caller's org to ship: (org id, name, orders)."""
    require_app(session, access, APP)
    me = access.actor.org_id
    rows = session.execute(
        select(Org.id, Org.name, func.count(Order.id))
        .join(Order, Order.buyer_id == Org.id)
        .where(Order.chain_id == access.chain_id, Order.awaiting(me, "to_ship"))
        .group_by(Org.id, Org.name)
        .order_by(Org.name)
    ).all()
    return [(org_id, name, count) for org_id, name, count in rows]


def shippable_lines(
    session: Session, access: ChainAccess, buyer_id: int
) -> list[tuple[Order, OrderLine]]:
    """Lines left to ship on the caller's orders with `buyer_id`, oldest order first (at most
    MAX_PICK_LINES)."""
    require_app(session, access, APP)
    me = access.actor.org_id
    rows = session.execute(
        select(Order, OrderLine)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.chain_id == access.chain_id,
            Order.seller_id == me,
            Order.buyer_id == buyer_id,
            Order.is_live,
            OrderLine.shippable_qty > 0,
        )
        .order_by(Order.id, OrderLine.line_no)
        .limit(MAX_PICK_LINES)
    ).all()
    return [(order, line) for order, line in rows]
