"""Receiving a ship notice: whole packages (by SSCC or package id, as a dock scans their labels)
and lines in part. Every receipt goes through the orders' own receipt recording
(`services.shipments.record_receipt`, one call per order), so the orders' history, kept figures,
reconciliation and scorecards see it as any receipt; the notice keeps what was received of each
of its lines and packages and never lets a receipt pass what it shipped."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.models import Org
from supplychain.models.base import utcnow
from supplychain.models.shipping import ShipNotice, ShipNoticeLine, ShipNoticePackage
from supplychain.services.app_access import require_app
from supplychain.services.shipments import Movement, record_receipt
from supplychain.services.shipping import load_notice, publish_ship_notice_event
from supplychain.services.shipping_codes import BadScan, read_scan

ZERO = Decimal(0)


@dataclass
class LineReceipt:
    """A quantity received of one order line on the notice."""

    order_id: int | None
    line_no: int
    qty: Decimal


@dataclass
class Received:
    """What one receipt took in: the notice and, per package and line, the quantities."""

    notice: ShipNotice
    packages: list[dict[str, Any]]  # id, ref, sscc
    lines: list[dict[str, Any]]  # seq, order_id, line_no, qty


def _find_package(
    packages: list[ShipNoticePackage], code: str
) -> tuple[ShipNoticePackage | None, str | None]:
    try:
        scanned = read_scan(code)
    except BadScan as exc:
        return None, str(exc)
    for package in packages:
        if scanned.sscc is not None and package.sscc == scanned.sscc:
            return package, None
        if scanned.package_id is not None and package.id == scanned.package_id:
            return package, None
    return None, "No such package on this notice."


def receive_notice(
    session: Session,
    access: ChainAccess,
    notice_id: int | None,
    *,
    packages: list[str],
    lines: list[LineReceipt],
    received_at: datetime | None,
) -> Received:
    """The buyer receives whole packages and lines in part (see the module)."""
    notice = load_notice(session, access, notice_id, lock=True)
    if notice.buyer_id != access.actor.org_id:
        raise Forbidden("Only the buyer receives a ship notice.")
    if not packages and not lines:
        raise Invalid("Nothing to receive.", {"packages": ["Give packages or lines."]})
    if notice.status == "cancelled":
        raise Conflict("The ship notice is cancelled.", {"status": ["cancelled"]})
    on_notice = list(
        session.scalars(
            select(ShipNoticePackage)
            .where(ShipNoticePackage.notice_id == notice.id)
            .order_by(ShipNoticePackage.seq)
        )
    )
    notice_lines = list(
        session.scalars(
            select(ShipNoticeLine)
            .where(ShipNoticeLine.notice_id == notice.id)
            .order_by(ShipNoticeLine.seq)
        )
    )
    # What each notice line receives now.
    taking: dict[int, Decimal] = defaultdict(Decimal)
    package_errors: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    chosen: list[ShipNoticePackage] = []
    for i, code in enumerate(packages):
        package, problem = _find_package(on_notice, code)
        if package is None:
            package_errors[str(i)] = [problem]
        elif package in chosen:
            package_errors[str(i)] = ["Given twice."]
        elif package.received_at is not None:
            conflicts[str(i)] = [f"Package {package.ref} was received already."]
        else:
            chosen.append(package)
    if package_errors:
        raise Invalid("Unknown packages.", {"packages": package_errors})
    if conflicts:
        raise Conflict("Packages received already.", {"packages": conflicts})
    chosen_ids = {p.id for p in chosen}
    for line in notice_lines:
        if line.package_id in chosen_ids:
            taking[line.id] = line.qty - line.received_qty
    line_errors: dict[str, Any] = {}
    by_key: dict[tuple[int, int], list[ShipNoticeLine]] = defaultdict(list)
    for line in notice_lines:
        by_key[(line.order_id, line.line_no)].append(line)
    for i, wanted in enumerate(lines):
        matching = by_key.get((wanted.order_id or 0, wanted.line_no))
        if not matching:
            line_errors[str(i)] = {"line_no": ["No such order line on this notice."]}
            continue
        left = wanted.qty
        for line in matching:
            room = line.qty - line.received_qty - taking[line.id]
            step = min(room, left)
            if step > 0:
                taking[line.id] += step
                left -= step
        if left > 0:
            conflicts[str(i)] = {
                "qty": [f"Over-receiving line {wanted.line_no}: {left} more than shipped on it."]
            }
    if line_errors:
        raise Invalid("Bad lines.", {"lines": line_errors})
    if conflicts:
        raise Conflict("These lines cannot be received.", {"lines": conflicts})
    moved = [(line, taking[line.id]) for line in notice_lines if taking[line.id] > 0]
    if not moved and not chosen:
        raise Conflict("Everything on this notice was received already.")
    # Worked out before the orders' receipts (which expire what this session loaded).
    line_updates = [{"id": ln.id, "received_qty": ln.received_qty + qty} for ln, qty in moved]
    full = {ln.id for ln, qty in moved if ln.received_qty + qty >= ln.qty}
    full |= {ln.id for ln in notice_lines if ln.received_qty >= ln.qty}
    contents: dict[int, list[int]] = defaultdict(list)
    for ln in notice_lines:
        if ln.package_id is not None:
            contents[ln.package_id].append(ln.id)
    done = [
        p.id
        for p in on_notice
        if p.received_at is None
        and (p.id in chosen_ids or (contents[p.id] and all(i in full for i in contents[p.id])))
    ]
    status = "received" if all(ln.id in full for ln in notice_lines) else "partially_received"
    line_count = len(notice_lines)
    received = Received(
        notice=notice,
        packages=[{"id": p.id, "ref": p.ref, "sscc": p.sscc} for p in on_notice if p.id in done],
        lines=[
            {"seq": ln.seq, "order_id": ln.order_id, "line_no": ln.line_no, "qty": qty}
            for ln, qty in moved
        ],
    )
    _record(session, access, notice, moved, received_at)
    now = utcnow()
    if line_updates:
        session.execute(update(ShipNoticeLine), line_updates)
    if done:
        session.execute(
            update(ShipNoticePackage),
            [{"id": package_id, "received_at": received_at or now} for package_id in done],
        )
    notice.status = status
    notice.updated_at = now
    session.flush()
    publish_ship_notice_event(
        session, "ship_notice.received", notice, line_count, _order_numbers(session, notice)
    )
    return received


def _order_numbers(session: Session, notice: ShipNotice) -> list[str]:
    from supplychain.models import Order

    return list(
        session.scalars(
            select(Order.number)
            .where(
                Order.id.in_(
                    select(ShipNoticeLine.order_id).where(ShipNoticeLine.notice_id == notice.id)
                )
            )
            .distinct()
            .order_by(Order.number)
        )
    )


def _record(
    session: Session,
    access: ChainAccess,
    notice: ShipNotice,
    moved: list[tuple[ShipNoticeLine, Decimal]],
    received_at: datetime | None,
) -> None:
    """The orders' receipts, one per order, through the orders' own receipt recording."""
    per_order: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line, qty in moved:
        per_order[line.order_id][line.line_no] += qty
    for order_id, quantities in sorted(per_order.items()):
        movements = [Movement(line_no=no, qty=qty) for no, qty in sorted(quantities.items())]
        try:
            record_receipt(session, access, order_id, movements, notice.number, received_at)
        except Conflict as exc:
            raise Conflict(
                "Goods of this notice were received on the order already.", exc.errors
            ) from None


def scan_receipt(
    session: Session, access: ChainAccess, code: str, received_at: datetime | None = None
) -> Received:
    """`POST /receipts/scan`: receive the package a label's code names, of whichever notice to
    the caller's org holds it; 422 for a code that names no package (nothing received)."""
    require_app(session, access, "orders")
    try:
        scanned = read_scan(code)
    except BadScan as exc:
        raise Invalid("Not a label's code.", {"code": [str(exc)]}) from None
    stmt = (
        select(ShipNoticePackage.id, ShipNoticePackage.notice_id, ShipNotice.number, Org.name)
        .join(ShipNotice, ShipNotice.id == ShipNoticePackage.notice_id)
        .join(Org, Org.id == ShipNotice.seller_id)
        .where(
            ShipNotice.chain_id == access.chain_id,
            ShipNotice.buyer_id == access.actor.org_id,
            ShipNotice.status != "cancelled",
        )
        .order_by(ShipNotice.number, ShipNoticePackage.id)
    )
    if scanned.sscc is not None:
        stmt = stmt.where(ShipNoticePackage.sscc == scanned.sscc)
    else:
        stmt = stmt.where(ShipNoticePackage.id == scanned.package_id)
    found = session.execute(stmt).all()
    if not found:
        raise Invalid("Unknown code.", {"code": ["No package to your org carries this code."]})
    # An SSCC is unique per seller only: two sellers' packages to this org may carry the same
    # code. Never pick one of them: the buyer receives from the notice page instead.
    if len(found) > 1:
        notices = "; ".join(f"{number} ({seller})" for _, _, number, seller in found)
        raise Conflict(
            "This code is on packages of several ship notices; receive from the notice's page.",
            {"code": [f"On notices {notices}."]},
        )
    package_id, notice_id, _, _ = found[0]
    return receive_notice(
        session,
        access,
        notice_id,
        packages=[f"PKG-{package_id}"],
        lines=[],
        received_at=received_at,
    )
