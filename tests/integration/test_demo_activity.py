"""The living demo: notices and orders in every state, dated relative to today, last month's
reconciliation workbook and the partners' answers to its statements (confirmed, disputed, a
dispute rejected), so the first screens a newcomer sees have something to click."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select

from supplychain.access import chain_access
from supplychain.auth import Actor
from supplychain.demo.seeding import (
    DEFAULT_SEED,
    answer_demo_statements,
    load_demo,
    produce_demo_runs,
)
from supplychain.extensions import db
from supplychain.models import (
    Base,
    Chain,
    Dispute,
    DisputeLine,
    Event,
    Notice,
    NoticeRecipient,
    NoticeResponse,
    Order,
    OrderEvent,
    OrderLine,
    ReconciliationRun,
    Statement,
)
from supplychain.models.base import utcnow
from supplychain.models.orders import ORDER_STATUSES
from supplychain.periods import previous_period
from supplychain.services import scorecards, worklist
from supplychain.services.accounts import find_user_by_email
from supplychain.services.reconciliation import board, disputes, statement_view

# The demo's reconciliation run is produced in sessions of its own: these tests commit.
pytestmark = pytest.mark.committed

OWNER = "zhang.wei@huaxia-motor.example"
DEALER = "wang.fang@bj-huaxia-auto.example"
TIANJIN = "li.na@tj-binhai-motor.example"
SUPPLIER = "chen.jie@nbcastings.example"


def load(app) -> list[ReconciliationRun]:
    """What `supplychain seed-demo` does: load and commit, make the demo's runs, then answer
    the statements they made ready and commit."""
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
        runs = produce_demo_runs(db.engine, app.config["REPORTS_DIR"], DEFAULT_SEED)
        answer_demo_statements(db.session, DEFAULT_SEED)
        db.session.commit()
        return runs


def access_of(email: str):
    user = find_user_by_email(db.session, email)
    assert user is not None
    [chain_id] = db.session.scalars(select(Chain.id))
    return chain_access(db.session, Actor(user=user, token_id=0), chain_id)


def snapshot(app) -> dict[str, list]:
    """Every row of every table (as plain tuples) and every report file: what a load may change."""
    with app.app_context():
        rows = {
            table.name: sorted(
                (tuple(map(str, row)) for row in db.session.execute(select(table))), key=str
            )
            for table in Base.metadata.sorted_tables
        }
    reports = Path(app.config["REPORTS_DIR"])
    rows["files"] = sorted(
        (str(p.relative_to(reports)), p.stat().st_size) for p in reports.rglob("*") if p.is_file()
    )
    return rows


def test_the_dealer_finds_something_waiting_of_every_kind(app):
    load(app)
    with app.app_context():
        dealer = access_of(DEALER)
        waiting = worklist.waiting_for(db.session, dealer)
        # The README's tour: one unread notice to acknowledge, one order each to acknowledge,
        # to ship and to receive.
        assert (waiting.unread, waiting.unacked) == (1, 1)
        assert waiting.orders == {"to_ack": 1, "to_ship": 1, "to_receive": 1}
        [to_ack] = waiting.first_orders["to_ack"]
        assert to_ack.ack_due is not None and to_ack.ack_due > utcnow()
        assert to_ack.ack_due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") == "18:00"
        supplier = worklist.waiting_for(db.session, access_of(SUPPLIER))
        assert (supplier.unread, supplier.orders["to_ack"]) == (1, 1)

        states = db.session.execute(
            select(Notice.title, Notice.withdrawn_at, NoticeRecipient)
            .join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
            .where(NoticeRecipient.org_id == dealer.actor.org_id)
        ).all()
        read_acked_answered = [
            r for _, gone, r in states if not gone and r.read_at and r.acked_at and r.responded_at
        ]
        unread = [r for _, gone, r in states if not gone and r.read_at is None]
        withdrawn = [r for _, gone, r in states if gone is not None]
        assert len(read_acked_answered) == 1 and len(unread) == 1 and len(withdrawn) == 1
        [answered] = read_acked_answered
        assert answered.read_at < answered.acked_at <= answered.responded_at < utcnow()
        assert db.session.scalar(
            select(func.count())
            .select_from(NoticeResponse)
            .where(
                NoticeResponse.notice_id == answered.notice_id,
                NoticeResponse.org_id == dealer.actor.org_id,
            )
        )


def test_orders_in_every_status_with_a_short_shipment_and_a_late_receipt(app):
    load(app)
    with app.app_context():
        chain = db.session.scalar(select(Chain))
        tz = ZoneInfo(chain.timezone)
        statuses = set(db.session.scalars(select(Order.status)))
        assert statuses == set(ORDER_STATUSES)
        lines = db.session.scalars(select(OrderLine)).all()
        assert any(
            line.ack_status in ("accepted", "changed") and 0 < line.shipped_qty < line.confirmed_qty
            for line in lines
        ), "a short shipment"
        assert any(0 < line.received_qty < line.shipped_qty for line in lines), "goods in transit"
        promised = {(line.order_id, line.line_no): line.promised_date for line in lines}
        late = [
            event
            for event in db.session.scalars(select(OrderEvent).where(OrderEvent.kind == "received"))
            if any(
                datetime.fromisoformat(event.data["received_at"]).astimezone(tz).date()
                > promised[(event.order_id, moved["line_no"])]
                for moved in event.data["lines"]
            )
        ]
        assert late, "a receipt after the promised date"

        # The history is dated as the story goes: in the past, each order's steps in order,
        # the order dated by its first step.
        now = utcnow()
        for order in db.session.scalars(select(Order)):
            history = db.session.scalars(
                select(OrderEvent.at).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
            ).all()
            assert history == sorted(history) and history[-1] <= now, order.number
            assert order.created_at == history[0] and order.updated_at == history[-1]
            assert order.number.split("-")[1] == order.created_at.astimezone(tz).strftime("%Y%m%d")
            # The first acknowledgment kept on the order is dated with its history.
            acks = db.session.scalars(
                select(OrderEvent.at).where(
                    OrderEvent.order_id == order.id, OrderEvent.kind == "acknowledged"
                )
            ).all()
            assert order.first_acked_at == min(acks, default=None), order.number
        last_month = previous_period("monthly", now.astimezone(tz))
        start, end = last_month.bounds(tz)
        dated_last_month = db.session.scalars(
            select(Order.status).where(Order.created_at >= start, Order.created_at < end)
        ).all()
        assert set(ORDER_STATUSES) <= set(dated_last_month)


def test_last_months_workbook_has_discrepancies_and_a_second_load_changes_nothing(app):
    [run] = load(app)
    with app.app_context():
        chain = db.session.scalar(select(Chain))
        period = previous_period("monthly", utcnow().astimezone(ZoneInfo(chain.timezone)))
    assert (run.tier, run.period, run.status) == ("D1", period.label, "succeeded")
    assert run.rows and run.rows >= 9
    workbook = openpyxl.load_workbook(Path(app.config["REPORTS_DIR"]) / run.path, read_only=True)
    try:
        rows = list(workbook["Discrepancies"].iter_rows(values_only=True))
        header, body = rows[0], rows[1:]
        flags = " ".join(str(row[header.index("Flags")]) for row in body)
    finally:
        workbook.close()
    assert len(body) >= 4
    for flag in ("QTY", "SHIP", "RECV", "ACK_MISSING", "ACK_OVERDUE"):
        assert flag in flags, flag

    before = snapshot(app)
    # The statements' answers are in what a second load must leave alone.
    for table in (Statement, Dispute, DisputeLine, Event):
        assert before[table.__tablename__], table.__tablename__
    [again] = load(app)
    assert (again.id, again.revision, again.status) == (run.id, 1, "succeeded")
    assert snapshot(app) == before


def test_last_months_statements_are_answered_and_the_partners_measured(app):
    load(app)
    with app.app_context():
        owner, dealer, tianjin = access_of(OWNER), access_of(DEALER), access_of(TIANJIN)
        chain = owner.chain
        period = previous_period("monthly", utcnow().astimezone(ZoneInfo(chain.timezone))).label

        # The owner's board: one D1 dealer confirmed, the Beijing dealer disputed, the rest open.
        page = board.statement_board(db.session, owner, period, tier="D1")
        assert page.extra["counts"] == {"open": 8, "confirmed": 1, "disputed": 1, "changed": 0}
        rows = {row["code"]: row for row in page.items}
        assert rows["DLR-003"]["status"] == "confirmed" and rows["DLR-003"]["confirmed_at"]
        assert (rows["DLR-001"]["status"], rows["DLR-001"]["open_disputes"]) == ("disputed", 1)
        assert all(row["ready_at"] for row in page.items), "the run made every statement ready"
        [queued] = disputes.open_disputes(db.session, owner, period)
        assert queued.org_id == dealer.actor.org_id
        [line] = queued.lines
        assert (line.field, line.expected, line.line_no) == ("shipped", "200", 2)
        assert "DN-0301" in line.note

        # The dealer's statement reads disputed, on a line really shipped short.
        mine = statement_view.statement_view(db.session, dealer, period, None)
        assert mine["status"] == "disputed"
        [disputed] = [
            x
            for x in mine["lines"]
            if (x["order_number"], x["line_no"]) == (line.order_number, line.line_no)
        ]
        assert (disputed["confirmed_qty"], disputed["shipped_qty"]) == (
            Decimal("200"),
            Decimal("180"),
        )
        assert "SHIP" in disputed["flags"]

        # Tianjin's history: a price dispute the owner rejected with a note; open again.
        theirs = statement_view.statement_view(db.session, tianjin, period, None)
        [rejected] = theirs["disputes"]
        assert (theirs["status"], rejected["status"]) == ("open", "rejected")
        assert rejected["resolution_note"] and rejected["lines"][0]["field"] == "price"

        # Every answer was published to the partner and the owner.
        published = set(db.session.scalars(select(Event.type).where(Event.chain_id == chain.id)))
        assert {
            "statement.ready",
            "statement.confirmed",
            "statement.disputed",
            "dispute.resolved",
        } <= published

        # Last month's scorecards hold real figures for the D1 dealers.
        _, cards = scorecards.scorecards(db.session, owner, period, tier="D1")
        beijing = next(card for card in cards if card.org_id == dealer.actor.org_id)
        # (Exact figures depend on the calendar: early in a month, the last days' orders and
        # notices fall in last month too.)
        assert beijing.orders >= 1 and beijing.ack_rate and beijing.median_ack_hours
        # 180 of 200 oil filters shipped and received: the fill rate is below 1.
        assert beijing.fill_rate is not None and 0 < beijing.fill_rate < 1
        assert beijing.on_time_rate is not None and beijing.discrepancy_lines >= 1
        assert beijing.notice_ack_rate and beijing.notice_response_rate is not None
        measured = [c for c in cards if c.ack_rate is not None and c.fill_rate is not None]
        assert len(measured) >= 3
