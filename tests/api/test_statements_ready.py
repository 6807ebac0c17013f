"""Statements and tier runs: a succeeded run makes each org's statement ready
(`statement.ready`, to that org only), the workbook's Summary shows each org's answer and its
Disputes sheet the disputes (read back with openpyxl); partners that have not answered 5 days
later are reminded once, however many schedulers run."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import Statement
from supplychain.models.base import utcnow
from supplychain.services.reminders import send_due_reminders
from tests.api.test_statements import (
    PERIOD,
    _board,
    _confirm,
    _dispute,
    _events,
    _view,
    answering_chain,
)
from tests.races import two_schedulers

# A run commits step by step in sessions of its own: these tests commit for real.
pytestmark = pytest.mark.committed


@pytest.fixture
def stmt(world):
    return answering_chain(world)


def _rows(ws):
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _run(w):
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": "D1", "period": PERIOD}, token=w.owner.token
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded", r.json()
    return r.json()


def _remind(app, now):
    with app.app_context():
        sent = send_due_reminders(db.session, now)
        db.session.commit()
        db.session.remove()
    return sent.statements


def _statement_id(app, org_id):
    with app.app_context():
        found = db.session.scalar(
            select(Statement.id).where(Statement.org_id == int(org_id), Statement.period == PERIOD)
        )
        db.session.remove()
    return found


def test_a_succeeded_run_makes_statements_ready_and_its_workbook_shows_the_answers(stmt):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    assert _confirm(w, d1a, _view(w, d1a)["version"]).status_code == 200
    hostile = [
        {"order_number": "PO-B-1", "line_no": 1, "field": "qty", "expected": "=1+1",
         "note": '=HYPERLINK("http://evil.example","x")'}
    ]  # fmt: skip
    dispute = _dispute(w, d1b, _view(w, d1b)["version"], hostile, note="@SUM(A1:A3)")
    assert dispute.status_code == 201, dispute.text
    assert _events(w, d1a, "statement.ready") == []
    run = _run(w)
    # statement.ready: once per org of the tier, addressed to that org only.
    for party in (d1a, d1b):
        (event,) = _events(w, party, "statement.ready")
        assert event["data"]["org_id"] == party.org_id
        assert (event["data"]["period"], event["data"]["tier"]) == (PERIOD, "D1")
        assert event["data"]["run_id"] == run["id"]
    assert _events(w, w.owner, "statement.ready") == []
    assert _events(w, w.parties["D2"], "statement.ready") == []
    ready = {i["org_id"]: i["ready_at"] for i in _board(w, w.owner.token, "&tier=D1")["items"]}
    assert ready[d1a.org_id] and ready[d1b.org_id]
    # The workbook: statement status and confirmation time per org; the disputes, defused.
    f = w.api.get(w.path(f"/reconciliation/runs/{run['id']}/file"), token=w.owner.token)
    wb = openpyxl.load_workbook(io.BytesIO(f.content))
    assert wb.sheetnames[:4] == ["Summary", "Lines", "Discrepancies", "Disputes"]
    summary = {r["Org code"]: r for r in _rows(wb["Summary"])}
    assert summary["DLR-001"]["Statement status"] == "confirmed"
    assert isinstance(summary["DLR-001"]["Confirmed at"], datetime)
    assert summary["DLR-002"]["Statement status"] == "disputed"
    assert summary["DLR-002"]["Confirmed at"] is None
    (row,) = _rows(wb["Disputes"])
    assert (row["Org code"], row["Status"], row["Order no."], row["Line"], row["Field"]) == (
        "DLR-002",
        "open",
        "PO-B-1",
        1,
        "qty",
    )
    assert row["Expected"] == "'=1+1"
    assert row["Line note"].startswith("'=HYPERLINK")
    assert row["Dispute note"] == "'@SUM(A1:A3)"
    assert isinstance(row["Opened at"], datetime) and row["Resolved at"] is None
    assert wb["Disputes"].freeze_panes == "A2" and wb["Disputes"].auto_filter.ref == "A1:M2"
    # The partner's own xlsx statement carries its answer too.
    own = w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=d1a.token)
    mine = _rows(openpyxl.load_workbook(io.BytesIO(own.content))["Summary"])
    assert [r["Statement status"] for r in mine] == ["confirmed"]


def test_partners_that_have_not_answered_are_reminded_once_after_five_days(stmt, app):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    assert _confirm(w, d1a, _view(w, d1a)["version"]).status_code == 200
    _run(w)
    assert _remind(app, utcnow() + timedelta(days=4)) == []
    waiting = _statement_id(app, d1b.org_id)
    assert _remind(app, utcnow() + timedelta(days=5, minutes=1)) == [waiting]
    assert _remind(app, utcnow() + timedelta(days=6)) == []  # once
    (event,) = _events(w, d1b, "statement.reminder")
    assert event["data"]["org_id"] == d1b.org_id and event["data"]["period"] == PERIOD
    assert _events(w, d1a, "statement.reminder") == []
    assert _events(w, w.owner, "statement.reminder") == []
    # A later run makes it ready again: one more reminder 5 days after that one.
    _run_again = w.api.post(
        w.path("/reconciliation/runs"),
        {"tier": "D1", "period": PERIOD, "force": True},
        token=w.owner.token,
    )
    assert _run_again.status_code == 201
    assert _remind(app, utcnow() + timedelta(days=5, minutes=1)) == [waiting]
    assert len(_events(w, d1b, "statement.reminder")) == 2


def test_two_schedulers_at_once_remind_each_statement_once(stmt, app):
    w = stmt
    _run(w)
    with app.app_context():
        engine = db.engine
    now = utcnow() + timedelta(days=6)
    a, b = two_schedulers(engine, now)
    assert len(a.statements) == 2 and b.statements == []
    for key in ("D1a", "D1b"):
        assert len(_events(w, w.parties[key], "statement.reminder")) == 1
