"""A recipient's answers to a notice: acknowledge it (once; again is no change) and respond with
quantities per item (the org's newer answer replaces its previous one). The notice itself,
sent, read and withdrawn: `notices`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.models import (
    NoticeItem,
    NoticeRecipient,
    NoticeResponse,
    NoticeResponseLine,
)
from supplychain.models.base import utcnow
from supplychain.services.audit import record_action
from supplychain.services.notices import for_recipient, publish_notice_event, response_dict


def acknowledge_notice(
    session: Session, access: ChainAccess, notice_id: int | None, note: str | None
) -> tuple[NoticeRecipient, bool]:
    """Acknowledge for the caller's org; a second ack returns the first (True when new)."""
    notice, row = for_recipient(session, access, notice_id)
    if row.acked_at is not None:
        return row, False
    if notice.withdrawn_at is not None:
        raise Conflict("The notice was withdrawn; it takes no new acknowledgments.")
    now = utcnow()
    result = session.execute(
        update(NoticeRecipient)
        .where(
            NoticeRecipient.notice_id == row.notice_id,
            NoticeRecipient.org_id == row.org_id,
            NoticeRecipient.acked_at.is_(None),
        )
        .values(
            acked_at=now,
            acked_by=access.actor.user_id,
            ack_note=note,
            read_at=func.coalesce(NoticeRecipient.read_at, now),
            read_by=func.coalesce(NoticeRecipient.read_by, access.actor.user_id),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    if not result.rowcount:
        return row, False
    record_action(
        session, access, "notice.ack", "notice", notice.id, data={"note": note} if note else {}
    )
    publish_notice_event(
        session,
        notice,
        "notice.acknowledged",
        [notice.sender_org_id],
        {"org_id": str(row.org_id), "acked_at": now.isoformat(), "note": note},
    )
    return row, True


def respond_to_notice(
    session: Session,
    access: ChainAccess,
    notice_id: int | None,
    items: list[tuple[str, Decimal]],
    note: str | None,
) -> dict[str, Any]:
    """Answer with quantities per sku; the org's newer answer replaces its previous one."""
    notice, row = for_recipient(session, access, notice_id)
    if notice.withdrawn_at is not None:
        raise Conflict("The notice was withdrawn; it takes no new responses.")
    skus = set(session.scalars(select(NoticeItem.sku).where(NoticeItem.notice_id == notice.id)))
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    for i, (sku, _qty) in enumerate(items):
        if sku not in skus:
            errors[str(i)] = {"sku": [f"Not an item of this notice: {sku}"]}
        elif sku in seen:
            errors[str(i)] = {"sku": ["Duplicate sku in this response."]}
        seen.add(sku)
    if errors:
        raise Invalid("Bad response items.", {"items": errors})
    now = utcnow()
    session.execute(
        update(NoticeResponse)
        .where(
            NoticeResponse.notice_id == notice.id,
            NoticeResponse.org_id == row.org_id,
            NoticeResponse.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(NoticeResponseLine)
        .where(
            NoticeResponseLine.notice_id == notice.id,
            NoticeResponseLine.current.is_(True),
            NoticeResponseLine.response_id.in_(
                select(NoticeResponse.id).where(
                    NoticeResponse.notice_id == notice.id, NoticeResponse.org_id == row.org_id
                )
            ),
        )
        .values(current=False)
        .execution_options(synchronize_session=False)
    )
    response = NoticeResponse(
        notice_id=notice.id, org_id=row.org_id, user_id=access.actor.user_id, note=note
    )
    session.add(response)
    session.flush()
    session.execute(
        insert(NoticeResponseLine),
        [
            {"response_id": response.id, "notice_id": notice.id, "sku": sku, "qty": qty}
            for sku, qty in items
        ],
    )
    session.execute(
        update(NoticeRecipient)
        .where(NoticeRecipient.notice_id == row.notice_id, NoticeRecipient.org_id == row.org_id)
        .values(responded_at=now, read_at=func.coalesce(NoticeRecipient.read_at, now))
        .execution_options(synchronize_session=False)
    )
    record_action(
        session,
        access,
        "notice.respond",
        "notice",
        notice.id,
        data={"items": [{"sku": s, "qty": str(q)} for s, q in items]},
    )
    publish_notice_event(
        session,
        notice,
        "notice.responded",
        [notice.sender_org_id],
        {
            "org_id": str(row.org_id),
            "items": [{"sku": s, "qty": str(q)} for s, q in items],
            "note": note,
        },
    )
    return response_dict(response, [{"sku": s, "qty": q} for s, q in items])
