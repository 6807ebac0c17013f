"""The sender's tracking of a notice: each recipient org's read, ack and response state, the
totals and the answered quantities per sku."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.models import NoticeRecipient, NoticeResponseLine, Org
from supplychain.services.chains import chain_graph
from supplychain.services.notices import for_sender, recipient_totals
from supplychain.services.pagination import Page, paginate

RECIPIENT_STATES = ("read", "unread", "acked", "unacked", "responded", "unresponded")


def recipients_page(
    session: Session,
    access: ChainAccess,
    notice_id: int | None,
    status: str | None,
    page: int,
    page_size: int,
) -> Page:
    """Per-org read/ack/response state for the sender, with totals and per-sku response sums."""
    notice = for_sender(session, access, notice_id)
    stmt = (
        select(NoticeRecipient, Org.name)
        .join(Org, Org.id == NoticeRecipient.org_id)
        .where(NoticeRecipient.notice_id == notice.id)
    )
    column = {
        "read": NoticeRecipient.read_at,
        "unread": NoticeRecipient.read_at,
        "acked": NoticeRecipient.acked_at,
        "unacked": NoticeRecipient.acked_at,
        "responded": NoticeRecipient.responded_at,
        "unresponded": NoticeRecipient.responded_at,
    }.get(status or "")
    if column is not None:
        assert status is not None
        stmt = stmt.where(column.is_(None) if status.startswith("un") else column.isnot(None))
    result = paginate(
        session, stmt.order_by(Org.name, NoticeRecipient.org_id), page, page_size, scalars=False
    )
    graph = chain_graph(session, access.chain)
    result.items = [
        {
            "org_id": row.org_id,
            "name": name,
            "tier": graph.tier_of(row.org_id),
            "read_at": row.read_at,
            "acked_at": row.acked_at,
            "ack_note": row.ack_note,
            "responded": row.responded_at is not None,
            "responded_at": row.responded_at,
        }
        for row, name in result.items
    ]
    result.extra = {
        "totals": recipient_totals(session, notice.id),
        "responses_by_sku": _sums_by_sku(session, notice.id),
    }
    return result


def _sums_by_sku(session: Session, notice_id: int) -> list[dict[str, Any]]:
    """Current response quantities per sku, exact: SQL on PostgreSQL (NUMERIC), Python Decimal
    on SQLite (whose integer sums could overflow and which has no decimal type)."""
    current = (NoticeResponseLine.notice_id == notice_id) & NoticeResponseLine.current.is_(True)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            select(NoticeResponseLine.sku, func.sum(NoticeResponseLine.qty))
            .where(current)
            .group_by(NoticeResponseLine.sku)
            .order_by(NoticeResponseLine.sku)
        ).all()
        return [{"sku": sku, "qty": Decimal(qty)} for sku, qty in rows]
    sums: dict[str, Decimal] = {}
    for sku, qty in session.execute(
        select(NoticeResponseLine.sku, NoticeResponseLine.qty).where(current)
    ):
        sums[sku] = sums.get(sku, Decimal(0)) + qty
    return [{"sku": sku, "qty": sums[sku]} for sku in sorted(sums)]
