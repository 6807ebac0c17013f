"""The inbox's hand-written dump says exactly what the documented schema says."""

import itertools
from datetime import UTC, datetime, timedelta, timezone

from supplychain.schemas.notices import NoticePageSchema, NoticeSummarySchema, dump_inbox_page

NOW = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)
MOMENTS = (None, NOW, NOW.replace(microsecond=0), NOW.astimezone(timezone(timedelta(hours=8))))


def _item(n: int, read_at, acked_at, ack_due, withdrawn: bool, requires_ack: bool) -> dict:
    return {
        "id": 10**12 + n,
        "kind": "demand" if n % 2 else "supply",
        "title": f'需求 {n} \u2028 <b>"quoted"</b>',
        "sender_org_id": 7,
        "created_at": NOW - timedelta(days=n),
        "requires_ack": requires_ack,
        "ack_due": ack_due,
        "withdrawn": withdrawn,
        "recipients": 10_000 - n,
        "read": read_at is not None,
        "acked": acked_at is not None,
        "read_at": read_at,
        "acked_at": acked_at,
        "responded": n % 3 == 0,
    }


def test_dump_inbox_page_equals_the_schema_dump():
    combos = itertools.product(MOMENTS, MOMENTS, MOMENTS, (False, True), (False, True))
    items = [_item(n, *combo) for n, combo in enumerate(combos)]
    envelope = {"items": items, "total": 5_000, "page": 3, "page_size": len(items)}
    assert len(items) == 4 * 4 * 4 * 2 * 2
    assert dump_inbox_page(envelope) == NoticePageSchema().dump(envelope)


def test_dump_inbox_page_of_an_empty_page():
    envelope = {"items": [], "total": 0, "page": 1, "page_size": 50}
    assert dump_inbox_page(envelope) == NoticePageSchema().dump(envelope)


def test_dump_inbox_page_says_every_field_of_the_schema():
    """A field added to the schema must be added to the hand-written dump too."""
    item = dump_inbox_page(
        {"items": [_item(1, NOW, None, None, False, True)], "total": 1, "page": 1, "page_size": 50}
    )["items"][0]
    assert set(item) == set(NoticeSummarySchema().fields) - {"counts"}
