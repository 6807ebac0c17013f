"""An org's notice boxes: its inbox in a chain (the page every dealer opens most, a prebuilt
Core statement) and the notices it sent, with their read, ack and response counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.models import Notice, NoticeRecipient
from supplychain.services.app_access import require_app
from supplychain.services.notices import APP, recipient_counts
from supplychain.services.pagination import Page, paginate

# The inbox is the page every dealer opens most: its statement is built once, as Core, and run on
# the session's connection (no ORM compile or identity map per request). One statement answers a
# page: its rows, and the total as an uncorrelated scalar subquery (evaluated once), both from
# the (org_id, chain_id, notice_id) index; only the page rows and the unacked filter read notices.
_R = NoticeRecipient.__table__
_N = Notice.__table__
INBOX_STATES = (None, "unread", "unacked")


def _inbox_where(r: Any, n: Any, state: str | None) -> tuple[Any, ...]:
    mine = (r.c.org_id == bindparam("org"), r.c.chain_id == bindparam("chain"))
    if state == "unread":
        return (*mine, r.c.read_at.is_(None))
    if state == "unacked":
        return (
            *mine,
            r.c.acked_at.is_(None),
            n.c.requires_ack.is_(True),
            n.c.withdrawn_at.is_(None),
        )
    return mine


def _inbox_statements(state: str | None) -> tuple[Select, Select]:
    r_all, n_all = _R.alias("r_all"), _N.alias("n_all")
    counted = r_all.join(n_all, n_all.c.id == r_all.c.notice_id) if state == "unacked" else r_all
    count = select(func.count()).select_from(counted).where(*_inbox_where(r_all, n_all, state))
    page = (
        select(
            count.correlate(None).scalar_subquery().label("total"),
            _N.c.id,
            _N.c.kind,
            _N.c.title,
            _N.c.sender_org_id,
            _N.c.created_at,
            _N.c.requires_ack,
            _N.c.ack_due,
            _N.c.withdrawn_at,
            _N.c.recipients_count,
            _R.c.read_at,
            _R.c.acked_at,
            _R.c.responded_at,
        )
        .select_from(_R.join(_N, _N.c.id == _R.c.notice_id))
        .where(*_inbox_where(_R, _N, state))
        .order_by(_R.c.notice_id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return count, page


_INBOX = {state: _inbox_statements(state) for state in INBOX_STATES}


def inbox_page(
    session: Session, access: ChainAccess, state: str | None, page: int, page_size: int
) -> Page:
    """Notices addressed to the caller's org, newest first, optionally only unread or unacked."""
    require_app(session, access, APP)
    if state not in _INBOX:
        raise Invalid("Unknown inbox state.", {"state": ["Must be one of: unread, unacked."]})
    count, rows = _INBOX[state]
    conn = session.connection()
    params = {"org": access.actor.org_id, "chain": access.chain_id}
    result = conn.execute(
        rows, {**params, "limit": page_size, "offset": (page - 1) * page_size}
    ).all()
    if result:
        total = result[0].total
    else:  # past the last page (or nothing at all): the count alone
        total = 0 if page == 1 else conn.execute(count, params).scalar_one()
    items = [
        {
            "id": r.id,
            "kind": r.kind,
            "title": r.title,
            "sender_org_id": r.sender_org_id,
            "created_at": r.created_at,
            "requires_ack": r.requires_ack,
            "ack_due": r.ack_due,
            "withdrawn": r.withdrawn_at is not None,
            "recipients": r.recipients_count,
            "read": r.read_at is not None,
            "acked": r.acked_at is not None,
            "read_at": r.read_at,
            "acked_at": r.acked_at,
            "responded": r.responded_at is not None,
        }
        for r in result
    ]
    return Page(items=items, total=total, page=page, page_size=page_size)


def sent_page(
    session: Session, access: ChainAccess, state: str | None, page: int, page_size: int
) -> Page:
    """Notices the caller's org sent, newest first, with read/ack/response counts."""
    require_app(session, access, APP)
    stmt = select(Notice).where(
        Notice.chain_id == access.chain_id, Notice.sender_org_id == access.actor.org_id
    )
    if state == "unacked":
        stmt = stmt.where(Notice.requires_ack.is_(True), Notice.withdrawn_at.is_(None))
    result = paginate(session, stmt.order_by(Notice.id.desc()), page, page_size)
    counts = recipient_counts(session, [n.id for n in result.items])
    result.items = [
        {**_summary(n), "counts": counts.get(n.id, _zero_counts(n))} for n in result.items
    ]
    return result


def _zero_counts(notice: Notice) -> dict[str, int]:
    return {"recipients": notice.recipients_count, "read": 0, "acked": 0, "responded": 0}


def _summary(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind,
        "title": notice.title,
        "sender_org_id": notice.sender_org_id,
        "created_at": notice.created_at,
        "requires_ack": notice.requires_ack,
        "ack_due": notice.ack_due,
        "withdrawn": notice.withdrawn_at is not None,
        "recipients": notice.recipients_count,
    }
