"""Scorecards through the API: every figure (and null where there is no data), medians on odd
and even counts, month / week / year periods, period validation, and who sees which org."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select, update

from supplychain.extensions import db
from supplychain.models import Notice, Order, OrderEvent
from supplychain.services import scorecards as scorecard_rules
from supplychain.services.order_figures import refresh_order_figures

# A past year, so every period of it has started whatever today is.
YEAR = datetime.now(UTC).year - 1
MONTH = f"{YEAR}-03"
# 2 March 10:00 in Shanghai (the chain's timezone): orders of the month start here.
BASE = datetime(YEAR, 3, 10, 2, 0, tzinfo=UTC)
WEEK = "{:04d}-W{:02d}".format(*BASE.date().isocalendar()[:2])


def _issue(w, issuer, counterparty, number, lines, role="buyer"):
    r = w.api.post(
        w.path("/orders"),
        {
            "counterparty_id": counterparty.org_id,
            "issuer_role": role,
            "number": number,
            "lines": lines,
        },
        token=issuer.token,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _line(no=1, qty="10", requested=f"{YEAR}-03-20"):
    return {"line_no": no, "sku": f"SKU-{no}", "qty": qty, "unit_price": "12.50",
            "requested_date": requested}  # fmt: skip


def _ack(w, party, order, **body):
    body = {"version": order["version"], "decision": "accept", **body}
    r = w.api.post(w.path(f"/orders/{order['id']}/ack"), body, token=party.token)
    assert r.status_code == 200, r.text
    return r.json()


def _dated(app, number, created, first_ack_after=None):
    """Move an order (and its acknowledgments) back to `created`, first answered after
    `first_ack_after`; later acknowledgments keep their order, an hour apart."""
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.number == number))
        db.session.execute(update(Order).where(Order.id == order_id).values(created_at=created))
        if first_ack_after is not None:
            acks = db.session.scalars(
                select(OrderEvent.id)
                .where(OrderEvent.order_id == order_id, OrderEvent.kind == "acknowledged")
                .order_by(OrderEvent.id)
            ).all()
            for i, event_id in enumerate(acks):
                at = created + first_ack_after + timedelta(hours=i)
                db.session.execute(
                    update(OrderEvent).where(OrderEvent.id == event_id).values(at=at)
                )
            db.session.execute(
                update(Order).where(Order.id == order_id).values(acked_at=created + first_ack_after)
            )
        # The history moved behind the services' back: the order's figures follow it.
        refresh_order_figures(db.session, [order_id])
        db.session.commit()


def _notice(w, number, org, requires_ack, items):
    body = {
        "kind": "supply",
        "title": f"Notice {number}",
        "audience": {"orgs": [org.org_id]},
        "requires_ack": requires_ack,
        "items": [{"sku": "N-1", "qty": "5"}] if items else [],
    }
    r = w.api.post(w.path("/notices"), body, token=w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _notice_dated(app, notice_id, created):
    with app.app_context():
        db.session.execute(update(Notice).where(Notice.id == int(notice_id)).values(
            created_at=created))  # fmt: skip
        db.session.commit()


@pytest.fixture
def cards(world, app):
    """D1a: ordering from the owner (received, on time and late) and answering the owner's
    orders (3 acknowledged after 2, 4 and 10 hours, one open, one cancelled), four notices;
    D1b: two orders answered after 1 and 4 hours, nothing received, no notice; S1 and D2:
    nothing in the period."""
    w = world
    api, owner = w.api, w.owner
    for key, scope in (("orders", {"type": "all"}), ("notices", {"type": "all"}),
                       ("reconciliation", {"type": "tier", "value": "D1"})):  # fmt: skip
        r = api.post(w.path("/grants"), {"app": key, "scope": scope}, token=owner.token)
        assert r.status_code == 201, r.text
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    # D1a buys: line 1 accepted (due 20 March), line 2 changed (promised 20 March), line 3
    # rejected.
    po = _issue(w, d1a, owner, "PO-1", [_line(1), _line(2), _line(3)])
    _ack(
        w, owner, po, decision="lines",
        lines=[
            {"line_no": 1, "status": "accepted"},
            {"line_no": 2, "status": "changed", "qty": "6", "promised_date": f"{YEAR}-03-20"},
            {"line_no": 3, "status": "rejected"},
        ],
    )  # fmt: skip
    ship = {"lines": [{"line_no": 1, "qty": "10"}, {"line_no": 2, "qty": "6"}]}
    assert (
        api.post(w.path(f"/orders/{po['id']}/shipments"), ship, token=owner.token).status_code
        == 201
    )
    # Line 1 arrives 20 March 23:30 in Shanghai (on the day: on time); line 2 at 16:30 UTC the
    # same day, which is already 21 March in Shanghai (late).
    for line_no, qty, at in ((1, "10", f"{YEAR}-03-20T23:30:00+08:00"),
                             (2, "5", f"{YEAR}-03-20T16:30:00+00:00")):  # fmt: skip
        r = api.post(
            w.path(f"/orders/{po['id']}/receipts"),
            {"lines": [{"line_no": line_no, "qty": qty}], "received_at": at},
            token=d1a.token,
        )
        assert r.status_code == 201, r.text
    _dated(app, "PO-1", BASE)
    # The owner sells to D1a, who answers three of five.
    for i, hours in enumerate((10, 2, 4), start=1):
        order = _issue(w, owner, d1a, f"SO-A-{i}", [_line()], role="seller")
        _ack(w, d1a, order)
        _dated(app, f"SO-A-{i}", BASE + timedelta(days=i), timedelta(hours=hours))
    _issue(w, owner, d1a, "SO-A-OPEN", [_line()], role="seller")
    _dated(app, "SO-A-OPEN", BASE)
    cancelled = _issue(w, owner, d1a, "SO-A-CANCELLED", [_line()], role="seller")
    r = api.post(w.path(f"/orders/{cancelled['id']}/cancel"), {"reason": "no"}, token=owner.token)
    assert r.status_code == 200, r.text
    _dated(app, "SO-A-CANCELLED", BASE)
    # D1b answers two, after 1 and 4 hours.
    for i, hours in enumerate((4, 1), start=1):
        order = _issue(w, owner, d1b, f"SO-B-{i}", [_line()], role="seller")
        _ack(w, d1b, order)
        _dated(app, f"SO-B-{i}", BASE + timedelta(days=i), timedelta(hours=hours))
    # Notices to D1a: acked and answered; ack asked, not given; items, not answered; withdrawn
    # unanswered (asks nothing any more).
    answered = _notice(w, 1, d1a, True, True)
    assert api.post(w.path(f"/notices/{answered}/ack"), {}, token=d1a.token).status_code in (
        200,
        201,
    )
    r = api.post(
        w.path(f"/notices/{answered}/responses"), {"items": [{"sku": "N-1", "qty": "2"}]},
        token=d1a.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    ignored = [_notice(w, 2, d1a, True, False), _notice(w, 3, d1a, False, True)]
    withdrawn = _notice(w, 4, d1a, True, True)
    r = api.post(w.path(f"/notices/{withdrawn}/withdraw"), {}, token=owner.token)
    assert r.status_code == 200, r.text
    for notice_id in (answered, *ignored, withdrawn):
        _notice_dated(app, notice_id, BASE)
    return w


def _get(w, token, **query):
    query.setdefault("period", MONTH)
    return w.api.get(w.path("/scorecards"), params=query, token=token)


def _by_code(response):
    assert response.status_code == 200, response.text
    return {item["custom_id"]: item for item in response.json()["items"]}


def test_every_figure(cards):
    w = cards
    r = _get(w, w.owner.token)
    body = r.json()
    assert (body["period"], body["total"], body["page"], body["page_size"]) == (MONTH, 4, 1, 50)
    assert body["first_day"] == f"{YEAR}-03-01" and body["last_day"] == f"{YEAR}-03-31"
    by_code = _by_code(r)
    assert set(by_code) == {"SUP-001", "DLR-001", "DLR-002", "DLR-101"}
    a = by_code["DLR-001"]
    assert a["org_id"] == w.parties["D1a"].org_id and a["name"] == "Beijing Motors Sales"
    assert a["tier"] == "D1"
    # 1 purchase + 5 sales orders; 3 + 5 lines.
    assert (a["orders"], a["lines"]) == (6, 8)
    # 3 answered of 4 awaited (the cancelled one, never answered, is left out).
    assert a["ack_rate"] == "0.7500"
    # Waits 2, 4, 10 hours: the middle one.
    assert a["median_ack_hours"] == "4.00"
    # Received lines 1 (on time) and 2 (late in Shanghai).
    assert a["on_time_rate"] == "0.5000"
    # Received 10 + 5 of confirmed 10 + 6 + 0 (rejected) on PO-1, and 0 of 10 on each of the
    # three accepted sales orders: 15 / 46.
    assert a["fill_rate"] == "0.3261"
    # PO-1 lines 2 (QTY RECV) and 3 (QTY); each answered sale not shipped (SHIP); the open one
    # (ACK_MISSING); nothing for the cancelled one.
    assert a["discrepancy_lines"] == 6
    # Notices: ack asked twice (withdrawn one left out), given once; answer asked twice (items),
    # given once.
    assert a["notice_ack_rate"] == "0.5000" and a["notice_response_rate"] == "0.5000"
    b = by_code["DLR-002"]
    assert (b["orders"], b["lines"], b["ack_rate"]) == (2, 2, "1.0000")
    # Waits 1 and 4 hours: the mean of the two middle ones.
    assert b["median_ack_hours"] == "2.50"
    # Nothing received: no on-time figure; a fill rate of a real 0.
    assert b["on_time_rate"] is None and b["fill_rate"] == "0.0000"
    assert b["notice_ack_rate"] is None and b["notice_response_rate"] is None
    for idle in (by_code["SUP-001"], by_code["DLR-101"]):
        assert (idle["orders"], idle["lines"], idle["discrepancy_lines"]) == (0, 0, 0)
        for field in ("ack_rate", "median_ack_hours", "on_time_rate", "fill_rate",
                      "notice_ack_rate", "notice_response_rate"):  # fmt: skip
            assert idle[field] is None, field


def test_week_and_year_periods_and_other_periods(cards):
    w = cards
    t = w.owner.token
    week = _by_code(_get(w, t, period=WEEK))
    # The ISO week of 10 March: PO-1, the open and cancelled sales, and those of the answered
    # sales (dated a day, two and three days later) that fall in the same week.
    in_week = [BASE + timedelta(days=i) for i in range(4)]
    monday = BASE.date() - timedelta(days=BASE.date().weekday())
    expected = 3 + sum(1 for d in in_week[1:] if monday <= d.date() <= monday + timedelta(6))
    assert week["DLR-001"]["orders"] == expected
    year = _by_code(_get(w, t, period=str(YEAR)))
    assert year["DLR-001"]["orders"] == 6 and year["DLR-001"]["median_ack_hours"] == "4.00"
    other = _by_code(_get(w, t, period=f"{YEAR}-04"))
    assert other["DLR-001"]["orders"] == 0 and other["DLR-001"]["ack_rate"] is None
    assert other["DLR-001"]["notice_ack_rate"] is None


def test_period_and_query_validation(cards):
    w = cards
    t = w.owner.token
    next_year = datetime.now(UTC).year + 1
    for query, field in [
        ({"period": "2026-13"}, "period"),
        ({"period": "March"}, "period"),
        ({"period": "26"}, "period"),
        ({"period": "1899"}, "period"),
        ({"period": f"{YEAR}-W54"}, "period"),
        ({"period": str(next_year)}, "period"),
        ({"period": f"{next_year}-01"}, "period"),
        ({"period": f"{next_year}-W02"}, "period"),
        ({"period": MONTH, "tier": "X1"}, "tier"),
        ({"period": MONTH, "tier": "core"}, "tier"),
        ({"period": MONTH, "sort": "bogus"}, "sort"),
        ({"period": MONTH, "org_id": "abc"}, "org_id"),
        ({"period": MONTH, "page_size": "501"}, "page_size"),
    ]:
        r = _get(w, t, **query)
        assert r.status_code == 422, (query, r.text)
        assert field in str(r.json()["errors"]), (query, r.json())
    missing = w.api.get(w.path("/scorecards"), token=t)
    assert missing.status_code == 422 and "period" in str(missing.json()["errors"])


def test_tier_sort_and_pages(cards):
    w = cards
    t = w.owner.token
    d1 = _get(w, t, tier="D1").json()
    assert [i["custom_id"] for i in d1["items"]] == ["DLR-001", "DLR-002"]  # by name
    assert _get(w, t, tier="D7").json()["total"] == 0
    # Descending by ack rate: 1.0 then 0.75, the orgs without data last.
    ranked = [i["custom_id"] for i in _get(w, t, sort="-ack_rate").json()["items"]]
    assert ranked[:2] == ["DLR-002", "DLR-001"] and set(ranked[2:]) == {"SUP-001", "DLR-101"}
    # Ascending too, the nulls still last.
    ranked = [i["custom_id"] for i in _get(w, t, sort="on_time_rate").json()["items"]]
    assert ranked[0] == "DLR-001"
    page = _get(w, t, sort="-orders", page="2", page_size="3").json()
    assert page["total"] == 4 and len(page["items"]) == 1 and page["page"] == 2


def test_partner_sees_only_its_own_org(cards):
    w = cards
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    own = _by_code(_get(w, d1a.token))
    assert list(own) == ["DLR-001"] and own["DLR-001"]["ack_rate"] == "0.7500"
    assert _by_code(_get(w, d1a.token, org_id=d1a.org_id)).keys() == {"DLR-001"}
    other = _get(w, d1a.token, org_id=d1b.org_id)
    assert other.status_code == 404
    assert "Shanghai" not in other.text
    # Another tier's filter leaves its own row out, never shows someone else's.
    assert _get(w, d1a.token, tier="U1").json()["items"] == []
    # The owner may name one partner; not its own org, nor an org outside the chain.
    one = _by_code(_get(w, w.owner.token, org_id=d1b.org_id))
    assert list(one) == ["DLR-002"]
    assert _get(w, w.owner.token, org_id=w.owner.org_id).status_code == 404
    assert _get(w, w.owner.token, org_id=w.outsider.org_id).status_code == 404
    # D2 has no reconciliation grant (only tier D1 has); the outsider is in no chain.
    assert _get(w, w.parties["D2"].token).status_code == 403
    assert _get(w, w.outsider.token).status_code == 404
    assert w.api.get(w.path("/scorecards"), params={"period": MONTH}).status_code == 401


def test_received_notice_counts_only_in_its_period(cards, app):
    w = cards
    with app.app_context():
        db.session.execute(update(Notice).values(created_at=datetime(YEAR, 4, 2, tzinfo=UTC)))
        db.session.commit()
    a = _by_code(_get(w, w.owner.token))["DLR-001"]
    assert a["notice_ack_rate"] is None and a["notice_response_rate"] is None
    april = _by_code(_get(w, w.owner.token, period=f"{YEAR}-04"))["DLR-001"]
    assert april["notice_ack_rate"] == "0.5000" and april["orders"] == 0


def test_the_current_period_counts_what_is_open_so_far(world, app):
    w = world
    api = w.api
    api.post(w.path("/grants"), {"app": "orders", "scope": {"type": "all"}}, token=w.owner.token)
    d1b = w.parties["D1b"]
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = api.post(
        w.path("/orders"),
        {"counterparty_id": d1b.org_id, "issuer_role": "seller", "number": "SO-NOW",
         "lines": [_line()], "ack_due": due},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    period = f"{today.year:04d}-{today.month:02d}"
    now = _by_code(_get(w, w.owner.token, period=period))["DLR-002"]
    # Waiting for an answer: a real 0, not "no data"; no wait measured yet.
    assert now["orders"] == 1 and now["ack_rate"] == "0.0000" and now["median_ack_hours"] is None
    assert now["discrepancy_lines"] == 1 and now["fill_rate"] is None


@pytest.mark.committed  # a run writes its workbook in sessions of its own
def test_tier_workbook_scorecard_sheet(cards):
    w = cards
    run = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "D1", "period": MONTH}, token=w.owner.token
    )
    assert run.status_code == 201 and run.json()["status"] == "succeeded", run.text
    book = w.api.get(w.path(f"/reconciliation/runs/{run.json()['id']}/file"), token=w.owner.token)
    wb = openpyxl.load_workbook(io.BytesIO(book.content))
    assert "Scorecard" in wb.sheetnames
    ws = wb["Scorecard"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:M3"  # M: invoice match rate
    header = [cell.value for cell in ws[1]]
    rows = {
        row[0].value: {name: cell for name, cell in zip(header, row, strict=True)}
        for row in ws.iter_rows(min_row=2)
    }
    # The tier's orgs, as the Summary lists them; the same figures as the API.
    assert list(rows) == ["DLR-001", "DLR-002"]
    api = _by_code(_get(w, w.owner.token, tier="D1"))
    a, b = rows["DLR-001"], rows["DLR-002"]
    assert a["Org name"].value == "Beijing Motors Sales" and a["Tier"].value == "D1"
    assert (a["Orders"].value, a["Lines"].value, a["Discrepancy lines"].value) == (6, 8, 6)
    assert a["Orders"].data_type == "n" and a["Orders"].number_format == "0"
    for header_name, field in (("Ack rate", "ack_rate"), ("On-time rate", "on_time_rate"),
                               ("Fill rate", "fill_rate"), ("Notice ack rate", "notice_ack_rate"),
                               ("Notice response rate", "notice_response_rate")):  # fmt: skip
        cell = a[header_name]
        assert cell.data_type == "n" and cell.number_format == "0.00%", header_name
        assert Decimal(str(cell.value)) == Decimal(api["DLR-001"][field]), header_name
    assert a["Median ack hours"].value == 4 and a["Median ack hours"].number_format == "0.00"
    assert b["Median ack hours"].value == 2.5 and b["Fill rate"].value == 0
    # No data: an empty cell, never 0.
    for header_name in ("On-time rate", "Notice ack rate", "Notice response rate"):
        assert b[header_name].value is None, header_name
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"


def test_notice_figures_are_the_same_read_org_by_org_or_notice_by_notice(cards, monkeypatch):
    w = cards
    few = _by_code(_get(w, w.owner.token))
    # As for a tier of many orgs: every recipient of the period's notices, orgs picked after.
    monkeypatch.setattr(scorecard_rules, "FEW_ORGS", 0)
    many = _by_code(_get(w, w.owner.token))
    assert many == few
    assert many["DLR-001"]["notice_ack_rate"] == "0.5000"
    assert many["DLR-002"]["notice_ack_rate"] is None
