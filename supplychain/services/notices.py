"""Supply and demand notices: broadcast to an audience, read, withdraw.

A recipient's answers (acknowledge, respond) are in notice_answers.py; the lists of notices (inbox and sent box) are in inbox.py, the sender's tracking of one notice
in notice_tracking.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.graph import valid_tier
from supplychain.models import (
    Group,
    Link,
    Member,
    Notice,
    NoticeItem,
    NoticeRecipient,
    NoticeResponse,
    NoticeResponseLine,
)
from supplychain.models.base import utcnow
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_action
from supplychain.services.chains import chain_graph
from supplychain.services.events import publish_about
from supplychain.services.groups import normalise_group_path, paths_within

APP = "notices"
MAX_ITEMS = 500
MAX_BODY = 20_000


@dataclass
class NewItem:
    """One line of a notice as given by the sender."""

    sku: str
    qty: Decimal
    description: str | None = None
    unit: str | None = None
    unit_price: Decimal | None = None
    available_from: date | None = None
    available_until: date | None = None


@dataclass
class Audience:
    """Who a notice goes to: the union of everyone, tiers, groups (with subgroups) and orgs."""

    all: bool = False
    tiers: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    orgs: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The audience as stored on the notice and in its audit event (org ids as strings)."""
        return {
            "all": self.all,
            "tiers": self.tiers,
            "groups": self.groups,
            "orgs": [str(o) for o in self.orgs],
        }


@dataclass
class NoticeView:
    """A notice with what the caller may know of its state."""

    notice: Notice
    items: list[NoticeItem]
    is_sender: bool
    recipient: NoticeRecipient | None = None
    my_response: dict[str, Any] | None = None
    totals: dict[str, int] | None = None


# --- sending ----------------------------------------------------------------------------------


def _check_items(items: list[NewItem]) -> None:
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.sku in seen:
            errors[str(i)] = {"sku": ["Duplicate sku in this notice."]}
        seen.add(item.sku)
        if (
            item.available_from
            and item.available_until
            and item.available_until < item.available_from
        ):
            errors[str(i)] = {"available_until": ["Before available_from."]}
    if errors:
        raise Invalid("Bad notice items.", {"items": errors})


def resolve_audience(session: Session, access: ChainAccess, audience: Audience) -> list[int]:
    """Member orgs matched by the audience (union), minus the sender; 422 naming unknown parts."""
    chain = access.chain
    errors: dict[str, Any] = {}
    graph = chain_graph(session, chain)
    recipients: set[int] = set()
    active = select(Member.org_id).where(Member.chain_id == chain.id, Member.is_current)
    if audience.all:
        recipients.update(session.scalars(active))
    bad_tiers = [t for t in audience.tiers if not valid_tier(t) or not graph.orgs_in_tier(t)]
    if bad_tiers:
        errors["tiers"] = [f"No such tier in this chain: {', '.join(bad_tiers)}"]
    for tier in audience.tiers:
        recipients.update(graph.orgs_in_tier(tier) if valid_tier(tier) else ())
    if audience.groups:
        paths = []
        for raw in audience.groups:
            try:
                paths.append(normalise_group_path(raw, "groups"))
            except Invalid:
                errors.setdefault("groups", []).append(f"Invalid group path: {raw[:100]}")
        known = set(
            session.scalars(
                select(Group.path).where(Group.chain_id == chain.id, Group.path.in_(paths))
            )
        )
        unknown = [p for p in paths if p not in known]
        if unknown:
            errors.setdefault("groups", []).append(f"Unknown groups: {', '.join(unknown)}")
        if known:
            recipients.update(
                session.scalars(
                    active.join(Group, Group.id == Member.group_id).where(
                        paths_within(Group.path, sorted(known))
                    )
                )
            )
    if audience.orgs:
        members = set(session.scalars(active.where(Member.org_id.in_(audience.orgs))))
        unknown_orgs = [str(o) for o in audience.orgs if o not in members]
        if unknown_orgs:
            errors["orgs"] = [f"Not members of this chain: {', '.join(unknown_orgs)}"]
        recipients.update(members)
    if errors:
        raise Invalid("The audience names unknown tiers, groups or orgs.", {"audience": errors})
    recipients.discard(access.actor.org_id)
    if not recipients:
        raise Invalid(
            "The audience matches nobody.", {"audience": ["Matches no member other than you."]}
        )
    return sorted(recipients)


def _check_partner_audience(session: Session, access: ChainAccess, audience: Audience) -> None:
    """A partner may address only the owner and the orgs it is linked to."""
    if access.is_owner:
        return
    if audience.all or audience.tiers or audience.groups:
        raise Forbidden("Partners may address only the chain owner and orgs they are linked to.")
    me = access.actor.org_id
    linked = set(
        session.scalars(
            select(case((Link.supplier_id == me, Link.customer_id), else_=Link.supplier_id)).where(
                Link.chain_id == access.chain_id,
                or_(Link.supplier_id == me, Link.customer_id == me),
            )
        )
    )
    allowed = linked | {access.chain.owner_org_id}
    outside = [str(o) for o in audience.orgs if o not in allowed]
    if outside:
        raise Forbidden(f"You may not address these orgs: {', '.join(outside)}")


def broadcast_notice(
    session: Session,
    access: ChainAccess,
    *,
    kind: str,
    title: str,
    body: str,
    items: list[NewItem],
    audience: Audience,
    requires_ack: bool,
    ack_due: datetime | None,
) -> Notice:
    """Send a notice: one recipient row per matched org, written in one bulk insert."""
    require_app(session, access, APP)
    _check_items(items)
    if ack_due is not None and not requires_ack:
        raise Invalid("ack_due needs requires_ack.", {"ack_due": ["Set requires_ack too."]})
    if ack_due is not None and ack_due <= utcnow():
        raise Invalid("ack_due is in the past.", {"ack_due": ["Must be in the future."]})
    _check_partner_audience(session, access, audience)
    recipients = resolve_audience(session, access, audience)
    notice = Notice(
        chain_id=access.chain_id,
        sender_org_id=access.actor.org_id,
        sender_user_id=access.actor.user_id,
        kind=kind,
        title=title,
        body=body,
        audience=audience.as_json(),
        requires_ack=requires_ack,
        ack_due=ack_due,
        recipients_count=len(recipients),
    )
    session.add(notice)
    session.flush()
    if items:
        session.execute(
            insert(NoticeItem),
            [
                {
                    "notice_id": notice.id,
                    "position": i,
                    "sku": item.sku,
                    "description": item.description,
                    "qty": item.qty,
                    "unit": item.unit,
                    "unit_price": item.unit_price,
                    "available_from": item.available_from,
                    "available_until": item.available_until,
                }
                for i, item in enumerate(items)
            ],
        )
    _insert_recipients(session, notice.id, access.chain_id, recipients)
    record_action(
        session,
        access,
        "notice.send",
        "notice",
        notice.id,
        data={
            "kind": kind,
            "title": title,
            "recipients": len(recipients),
            "audience": audience.as_json(),
        },
    )
    publish_notice_event(session, notice, "notice.published", _recipient_orgs(notice.id))
    return notice


def publish_notice_event(
    session: Session,
    notice: Notice,
    type: str,
    org_ids: Iterable[int] | Select,
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell `org_ids` what happened to a notice: an event of `type` about it that carries the
    notice's facts (`notice_event_data`) and `extra`."""
    data = notice_event_data(notice) | (extra or {})
    publish_about(session, "notice", notice, type=type, data=data, org_ids=org_ids)


def notice_event_data(notice: Notice) -> dict[str, Any]:
    """What every notice event tells its receivers: enough to act without a second call."""
    return {
        "id": str(notice.id),
        "kind": notice.kind,
        "title": notice.title,
        "requires_ack": notice.requires_ack,
        "ack_due": notice.ack_due.isoformat() if notice.ack_due else None,
        "recipients": notice.recipients_count,
        "sender_org_id": str(notice.sender_org_id),
    }


def _recipient_orgs(notice_id: int) -> Select:
    """The orgs a notice went to, as a SELECT (a notice to 10 000 orgs is addressed in bulk)."""
    return select(NoticeRecipient.org_id).where(NoticeRecipient.notice_id == notice_id)


def _insert_recipients(session: Session, notice_id: int, chain_id: int, org_ids: list[int]) -> None:
    """One INSERT ... SELECT over the id list, however many recipients (no per-row statements).

    The ids are the chain's live members (`resolve_audience`): what a foreign key would check."""
    ids = json.dumps(org_ids)
    if session.get_bind().dialect.name == "postgresql":
        source = (
            "SELECT :nid, CAST(value AS BIGINT), :cid "
            "FROM json_array_elements_text(CAST(:ids AS JSON))"
        )
    else:
        source = "SELECT :nid, value, :cid FROM json_each(:ids)"
    session.execute(
        text(f"INSERT INTO notice_recipients (notice_id, org_id, chain_id) {source}"),
        {"nid": notice_id, "cid": chain_id, "ids": ids},
    )


# --- reading ----------------------------------------------------------------------------------


def _find_notice(session: Session, access: ChainAccess, notice_id: int | None) -> Notice:
    notice = session.get(Notice, notice_id) if notice_id else None
    if notice is None or notice.chain_id != access.chain_id:
        raise NotFound("No such notice.")
    return notice


def _recipient_row(session: Session, notice_id: int, org_id: int) -> NoticeRecipient | None:
    return session.scalar(
        select(NoticeRecipient).where(
            NoticeRecipient.notice_id == notice_id, NoticeRecipient.org_id == org_id
        )
    )


def for_recipient(session: Session, access: ChainAccess, notice_id: int | None):
    """The notice and the caller org's recipient row; 404 unless the org is a recipient."""
    require_app(session, access, APP)
    notice = _find_notice(session, access, notice_id)
    row = _recipient_row(session, notice.id, access.actor.org_id)
    if row is None:
        raise NotFound("No such notice.")
    return notice, row


def for_sender(session: Session, access: ChainAccess, notice_id: int | None) -> Notice:
    """The notice if the caller's org sent it; recipients get 403, everyone else 404."""
    require_app(session, access, APP)
    notice = _find_notice(session, access, notice_id)
    if notice.sender_org_id != access.actor.org_id:
        if _recipient_row(session, notice.id, access.actor.org_id) is not None:
            raise Forbidden("Only the sender's org may do this.")
        raise NotFound("No such notice.")
    return notice


def open_notice(session: Session, access: ChainAccess, notice_id: int | None) -> NoticeView:
    """A notice for its sender or a recipient; a recipient's first read is recorded for its org."""
    require_app(session, access, APP)
    notice = _find_notice(session, access, notice_id)
    items = list(
        session.scalars(
            select(NoticeItem)
            .where(NoticeItem.notice_id == notice.id)
            .order_by(NoticeItem.position)
        )
    )
    me = access.actor.org_id
    if notice.sender_org_id == me:
        return NoticeView(notice, items, True, totals=recipient_totals(session, notice.id))
    now = utcnow()
    marked = session.execute(
        update(NoticeRecipient)
        .where(
            NoticeRecipient.notice_id == notice.id,
            NoticeRecipient.org_id == me,
            NoticeRecipient.read_at.is_(None),
        )
        .values(read_at=now, read_by=access.actor.user_id)
        .execution_options(synchronize_session=False)
    )
    row = _recipient_row(session, notice.id, me)
    if row is None:
        raise NotFound("No such notice.")
    session.refresh(row)
    if marked.rowcount:
        record_action(session, access, "notice.read", "notice", notice.id)
    return NoticeView(
        notice, items, False, recipient=row, my_response=_current_response(session, notice.id, me)
    )


def _current_response(session: Session, notice_id: int, org_id: int) -> dict[str, Any] | None:
    response = session.scalar(
        select(NoticeResponse).where(
            NoticeResponse.notice_id == notice_id,
            NoticeResponse.org_id == org_id,
            NoticeResponse.superseded_at.is_(None),
        )
    )
    if response is None:
        return None
    lines = session.execute(
        select(NoticeResponseLine.sku, NoticeResponseLine.qty)
        .where(NoticeResponseLine.response_id == response.id)
        .order_by(NoticeResponseLine.id)
    ).all()
    return response_dict(response, [{"sku": s, "qty": q} for s, q in lines])


def response_dict(response: NoticeResponse, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A response as the API and the pages show it."""
    return {
        "id": response.id,
        "notice_id": response.notice_id,
        "org_id": response.org_id,
        "user_id": response.user_id,
        "note": response.note,
        "created_at": response.created_at,
        "items": items,
    }


def recipient_counts(session: Session, notice_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per notice: how many recipient orgs, and how many of them read, acked and responded."""
    if not notice_ids:
        return {}
    rows = session.execute(
        select(
            NoticeRecipient.notice_id,
            func.count(),
            func.count(NoticeRecipient.read_at),
            func.count(NoticeRecipient.acked_at),
            func.count(NoticeRecipient.responded_at),
        )
        .where(NoticeRecipient.notice_id.in_(notice_ids))
        .group_by(NoticeRecipient.notice_id)
    ).all()
    return {
        nid: {"recipients": total, "read": read, "acked": acked, "responded": responded}
        for nid, total, read, acked, responded in rows
    }


def recipient_totals(session: Session, notice_id: int) -> dict[str, int]:
    """One notice's recipient counts (recipients, read, acked, responded), zeros if none."""
    return recipient_counts(session, [notice_id]).get(
        notice_id, {"recipients": 0, "read": 0, "acked": 0, "responded": 0}
    )


# --- withdrawing -----------------------------------------------------------------------------------


def withdraw_notice(session: Session, access: ChainAccess, notice_id: int | None) -> Notice:
    """Withdraw a notice: it stays visible, marked withdrawn, and takes no new acks (sender org)."""
    notice = for_sender(session, access, notice_id)
    if notice.withdrawn_at is not None:
        raise Conflict("The notice was withdrawn already.")
    notice.withdrawn_at = utcnow()
    session.flush()
    record_action(session, access, "notice.withdraw", "notice", notice.id)
    publish_notice_event(
        session,
        notice,
        "notice.withdrawn",
        _recipient_orgs(notice.id),
        {"withdrawn_at": notice.withdrawn_at.isoformat()},
    )
    return notice
