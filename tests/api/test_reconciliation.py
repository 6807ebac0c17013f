"""Reconciliation through the API: runs, workbooks read back, statements, schedules; the runs in
the background over real HTTP."""

import io
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import update

from supplychain.extensions import db
from supplychain.models import Order, ReconciliationRun
from tests.conftest import this_period

PERIOD = this_period()
# A run commits step by step in sessions of its own (even to refuse a request), which must see
# what the test made: these tests commit for real.
pytestmark = pytest.mark.committed


def _lines(n=3):
    return [
        {
            "line_no": i + 1,
            "sku": f"SKU-{i + 1}",
            "qty": "10",
            "unit_price": "12.50",
            "requested_date": "2026-12-15",
            "description": f"Part {i + 1}",
        }
        for i in range(n)
    ]


@pytest.fixture
def recon(world, app):
    """Orders in every state between D1 dealers and the owner, and one D2 -> D1a order."""
    w = world
    api, t = w.api, w.owner.token
    for app_key in ("orders", "reconciliation"):
        scope = {"type": "all"} if app_key == "orders" else {"type": "tier", "value": "D1"}
        assert (
            api.post(w.path("/grants"), {"app": app_key, "scope": scope}, token=t).status_code
            == 201
        )
    d1a, d1b, d2 = w.parties["D1a"], w.parties["D1b"], w.parties["D2"]
    po = api.post(
        w.path("/orders"),
        {
            "counterparty_id": w.owner.org_id,
            "issuer_role": "buyer",
            "number": "PO-A-1",
            "lines": _lines(),
        },
        token=d1a.token,
    ).json()
    acked = api.post(
        w.path(f"/orders/{po['id']}/ack"),
        {
            "version": 1,
            "decision": "lines",
            "lines": [
                {"line_no": 1, "status": "accepted"},
                {"line_no": 2, "status": "changed", "qty": "6", "unit_price": "12"},
                {"line_no": 3, "status": "rejected", "reason": "=cmd|' /C calc'!A0"},
            ],
        },
        token=t,
    ).json()
    assert acked["status"] == "partially_accepted"
    api.post(
        w.path(f"/orders/{po['id']}/shipments"),
        {"lines": [{"line_no": 1, "qty": "10"}, {"line_no": 2, "qty": "6"}]},
        token=t,
    )
    api.post(
        w.path(f"/orders/{po['id']}/receipts"),
        {"lines": [{"line_no": 1, "qty": "10"}, {"line_no": 2, "qty": "5"}]},
        token=d1a.token,
    )
    hostile = [
        {
            "line_no": 1,
            "sku": "@SUM(A1:A9)",
            "qty": "2",
            "unit_price": "100",
            "description": '=HYPERLINK("http://evil.example","click")',
        }
    ]
    r = api.post(
        w.path("/orders"),
        {
            "counterparty_id": w.owner.org_id,
            "issuer_role": "buyer",
            "number": "+PO-B-1",
            "lines": hostile,
            "ack_due": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
        token=d1b.token,
    )
    assert r.status_code == 201, r.text
    sub = api.post(
        w.path("/orders"),
        {
            "counterparty_id": d1a.org_id,
            "issuer_role": "buyer",
            "number": "PO-SUB-1",
            "lines": _lines(1),
        },
        token=d2.token,
    )
    assert sub.status_code == 201
    return w


@pytest.fixture
def live_recon(recon, http_api):
    """The same chain and orders, with its `api` over real HTTP on the loopback server."""
    recon.api = http_api
    return recon


def _run(w, token=None, **body):
    body = {"tier": "D1", "period": PERIOD, **body}
    return w.api.post(w.path("/reconciliation/runs"), body, token=token or w.owner.token)


def _download(w, run_id, token=None):
    return w.api.get(w.path(f"/reconciliation/runs/{run_id}/file"), token=token or w.owner.token)


def _book(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content))


def _rows(ws):
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_tier_workbook(recon, app):
    w = recon
    r = _run(w)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "succeeded" and run["revision"] == 1 and run["trigger"] == "api"
    assert run["rows"] == 4 and run["orgs"] == 2 and run["error"] is None
    f = _download(w, run["id"])
    assert f.status_code == 200
    assert f.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = f.headers["Content-Disposition"]
    assert "attachment" in disposition and "D1" in disposition and PERIOD in disposition
    assert "Acme dealers" in disposition
    assert len(f.content) == run["size"]
    import hashlib

    assert hashlib.sha256(f.content).hexdigest() == run["sha256"]
    wb = _book(f.content)
    assert wb.sheetnames == [
        "Summary",
        "Lines",
        "Discrepancies",
        "Disputes",
        "Scorecard",
        "Invoices",
        "Notes",
    ]
    lines = wb["Lines"]
    assert lines.freeze_panes == "A2"
    assert lines.auto_filter.ref == "A1:AH5"
    assert lines.column_dimensions["B"].width > 10
    by_key = {(row["Order no."], row["Line"]): row for row in _rows(lines)}
    # The D2 sub-dealer's order belongs to the D2 workbook, not to D1's.
    assert set(by_key) == {("PO-A-1", 1), ("PO-A-1", 2), ("PO-A-1", 3), ("'+PO-B-1", 1)}
    first = by_key[("PO-A-1", 1)]
    assert first["Org code"] == "DLR-001" and first["Role"] == "buyer"
    assert first["Counterparty name"] == "Acme Motors" and first["Tier"] == "D1"
    assert isinstance(first["Order date"], datetime)
    assert first["Ordered qty"] == 10 and first["Unit price"] == 12.5
    assert first["Ordered amount"] == 125 and first["ACK01"] == "IA" and first["BAK02"] == "AC"
    assert first["Shipped qty"] == 10 and first["Received qty"] == 10 and first["Flags"] is None
    changed = by_key[("PO-A-1", 2)]
    assert changed["ACK01"] == "IC" and changed["Confirmed qty"] == 6
    assert changed["Confirmed amount"] == 72 and changed["Flags"] == "QTY PRICE RECV"
    rejected = by_key[("PO-A-1", 3)]
    assert rejected["ACK01"] == "IR" and rejected["Flags"] == "QTY"
    assert rejected["Reason"] == "'=cmd|' /C calc'!A0"
    hostile = by_key[("'+PO-B-1", 1)]
    assert hostile["SKU"] == "'@SUM(A1:A9)"
    assert hostile["Description"] == '\'=HYPERLINK("http://evil.example","click")'
    assert hostile["Flags"] == "ACK_MISSING"
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    # Numbers are numbers with formats, dates are dates.
    row2 = next(lines.iter_rows(min_row=2, max_row=2))
    cells = {lines.cell(1, c.column).value: c for c in row2}
    assert cells["Ordered amount"].number_format == "#,##0.00##"
    assert cells["Ordered qty"].number_format == "#,##0.0###"
    assert cells["Order date"].number_format == "yyyy-mm-dd"
    assert cells["Ordered amount"].data_type == "n" and cells["Order date"].is_date
    disc = _rows(wb["Discrepancies"])
    assert {(row["Order no."], row["Line"]) for row in disc} == {
        ("PO-A-1", 2),
        ("PO-A-1", 3),
        ("'+PO-B-1", 1),
    }
    summary = {row["Org code"]: row for row in _rows(wb["Summary"])}
    assert set(summary) == {"DLR-001", "DLR-002"}
    a = summary["DLR-001"]
    assert (a["Orders"], a["Lines"], a["Open discrepancies"]) == (1, 3, 2)
    assert a["Ordered amount"] == 375 and a["Confirmed amount"] == 197
    assert a["Shipped amount"] == 197 and a["Received amount"] == 185
    assert a["Currency"] == "CNY"
    notes = {row[0]: row[1] for row in wb["Notes"].iter_rows(values_only=True) if row and row[0]}
    assert notes["Tier"] == "D1" and notes["Period"] == PERIOD and notes["Revision"] == 1
    assert notes["Chain"] == "Acme dealers" and "IC" in notes and "ACK_MISSING" in notes


def test_runs_are_exactly_once_unless_forced(recon, app):
    w = recon
    first = _run(w).json()
    again = _run(w)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    staff = _run(w, token=w.owner_staff.token)
    assert staff.status_code == 200 and staff.json()["id"] == first["id"]
    forced = _run(w, force=True)
    assert forced.status_code == 201 and forced.json()["revision"] == 2
    listed = w.api.get(w.path(f"/reconciliation/runs?tier=D1&period={PERIOD}"), token=w.owner.token)
    assert [r["revision"] for r in listed.json()["items"]] == [2, 1]
    assert (
        w.api.get(w.path("/reconciliation/runs?tier=D2"), token=w.owner.token).json()["total"] == 0
    )
    one = w.api.get(w.path(f"/reconciliation/runs/{first['id']}"), token=w.owner.token)
    assert one.status_code == 200 and one.json()["sha256"] == first["sha256"]
    folder = Path(app.config["REPORTS_DIR"]) / w.chain_id / PERIOD
    assert sorted(p.name for p in folder.iterdir()) == ["D1-r1.xlsx", "D1-r2.xlsx"]


def test_d2_workbook_and_empty_tier(recon):
    w = recon
    run = _run(w, tier="D2").json()
    assert run["status"] == "succeeded" and run["rows"] == 1 and run["orgs"] == 1
    wb = _book(_download(w, run["id"]).content)
    [line] = _rows(wb["Lines"])
    assert line["Org code"] == "DLR-101" and line["Counterparty code"] == "DLR-001"
    u1 = _run(w, tier="U1").json()
    assert u1["status"] == "succeeded" and u1["rows"] == 0
    summary = _rows(_book(_download(w, u1["id"]).content)["Summary"])
    assert [(s["Org code"], s["Orders"]) for s in summary] == [("SUP-001", 0)]


def test_run_bad_input(recon):
    w = recon
    for body, field in [
        ({"tier": "X1"}, "tier"),
        ({"tier": "core"}, "tier"),
        ({"tier": "unlinked"}, "tier"),
        ({"tier": "D9"}, "tier"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-W60"}, "period"),
        ({"period": "next month"}, "period"),
        ({"period": "2099-01"}, "period"),
        ({"force": "maybe"}, "force"),
    ]:
        r = _run(w, **body)
        assert r.status_code == 422, (body, r.text)
        assert field in str(r.json()["errors"])
    assert w.api.get(w.path("/reconciliation/runs"), token=w.owner.token).json()["total"] == 0


def test_run_authorisation(recon, app):
    w = recon
    run = _run(w).json()
    d1a = w.parties["D1a"]
    assert _run(w, token=d1a.token).status_code == 403
    assert w.api.get(w.path("/reconciliation/runs"), token=d1a.token).status_code == 403
    assert _download(w, run["id"], token=d1a.token).status_code == 403
    assert _run(w, token=w.outsider.token).status_code == 404
    assert _download(w, run["id"], token=w.outsider.token).status_code == 404
    assert (
        w.api.post(w.path("/reconciliation/runs"), {"tier": "D1", "period": PERIOD}).status_code
        == 401
    )
    # A run id of another chain is 404 here.
    other = w.api.post("/chains", {"name": "Second"}, token=w.owner.token).json()["id"]
    assert (
        w.api.get(
            f"/chains/{other}/reconciliation/runs/{run['id']}", token=w.owner.token
        ).status_code
        == 404
    )
    assert (
        w.api.get(
            f"/chains/{other}/reconciliation/runs/{run['id']}/file", token=w.owner.token
        ).status_code
        == 404
    )
    assert _download(w, "abc").status_code == 404


def test_failed_run_leaves_no_file_and_retries(recon, app, monkeypatch):
    w = recon
    from supplychain.services.reconciliation import tier_workbook

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", explode)
    failed = _run(w).json()
    assert failed["status"] == "failed" and "disk full" in failed["error"]
    assert failed["sha256"] is None and failed["finished_at"] is not None
    folder = Path(app.config["REPORTS_DIR"]) / w.chain_id / PERIOD
    assert list(folder.iterdir()) == []
    assert _download(w, failed["id"]).status_code == 404
    monkeypatch.undo()
    retried = _run(w)
    assert retried.status_code == 201
    assert retried.json()["id"] == failed["id"] and retried.json()["revision"] == 1
    assert retried.json()["status"] == "succeeded" and retried.json()["error"] is None
    assert [p.name for p in folder.iterdir()] == ["D1-r1.xlsx"]


def test_run_that_died_midway_is_taken_over(recon, app):
    w = recon
    with app.app_context():
        db.session.add(
            ReconciliationRun(
                chain_id=int(w.chain_id),
                tier="D1",
                period=PERIOD,
                revision=1,
                status="running",
                trigger="schedule",
                started_at=datetime.now(UTC) - timedelta(hours=3),
                created_at=datetime.now(UTC) - timedelta(hours=3),
            )
        )
        db.session.commit()
    r = _run(w)
    assert r.status_code == 201 and r.json()["status"] == "succeeded" and r.json()["revision"] == 1


def test_orders_of_other_periods_are_left_out(recon, app):
    w = recon
    with app.app_context():
        db.session.execute(
            update(Order)
            .where(Order.number == "PO-A-1")
            .values(created_at=datetime(2026, 1, 15, tzinfo=UTC))
        )
        db.session.commit()
    run = _run(w).json()
    assert run["rows"] == 1
    old = _run(w, period="2026-01").json()
    assert old["rows"] == 3


def test_statements(recon):
    w = recon
    p = w.parties
    own = w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=p["D1a"].token)
    assert own.status_code == 200, own.text
    assert "statement" in own.headers["Content-Disposition"]
    wb = _book(own.content)
    rows = _rows(wb["Lines"])
    # Its order with the owner (one tier nearer the core) only: its sub-dealer's order is in
    # the sub-dealer's statement; never D1b's.
    assert {r["Order no."] for r in rows} == {"PO-A-1"}
    assert {r["Order no."]: r["Role"] for r in rows} == {"PO-A-1": "buyer"}
    assert all(r["Org code"] == "DLR-001" for r in rows)
    sub = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={p['D2'].org_id}"), token=w.owner.token
    )
    sub_rows = _rows(_book(sub.content)["Lines"])
    assert [(r["Org code"], r["Order no."], r["Role"]) for r in sub_rows] == [
        ("DLR-101", "PO-SUB-1", "buyer")
    ]
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert "+PO-B-1" not in str(row) and "Shanghai Auto Trade" not in str(row)
    other = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={p['D1b'].org_id}"),
        token=p["D1a"].token,
    )
    assert other.status_code == 403
    by_owner = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}?org_id={p['D1b'].org_id}"), token=w.owner.token
    )
    assert by_owner.status_code == 200
    assert {r["Order no."] for r in _rows(_book(by_owner.content)["Lines"])} == {"'+PO-B-1"}
    # D2 has no reconciliation grant (only tier D1 has).
    assert (
        w.api.get(w.path(f"/reconciliation/statements/{PERIOD}"), token=p["D2"].token).status_code
        == 403
    )
    assert (
        w.api.get(w.path("/reconciliation/statements/2026-13"), token=p["D1a"].token).status_code
        == 422
    )
    assert (
        w.api.get(
            w.path(f"/reconciliation/statements/{PERIOD}?org_id=999999"), token=w.owner.token
        ).status_code
        == 404
    )
    assert (
        w.api.get(
            w.path(f"/reconciliation/statements/{PERIOD}"), token=w.outsider.token
        ).status_code
        == 404
    )


def test_schedule(recon):
    w = recon
    url = w.path("/reconciliation/schedule")
    t = w.owner.token
    assert w.api.get(url, token=t).status_code == 404
    ok = w.api.put(
        url, {"frequency": "monthly", "day": 1, "hour": 2, "tiers": ["D1", "U1"]}, token=t
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["tiers"] == ["U1", "D1"] and body["enabled"] is True
    assert body["timezone"] == "Asia/Shanghai"
    assert w.api.get(url, token=t).json()["day"] == 1
    weekly = w.api.put(
        url, {"frequency": "weekly", "day": 7, "hour": 23, "tiers": None, "enabled": False}, token=t
    )
    assert weekly.status_code == 200 and weekly.json()["tiers"] is None
    for body, field in [
        ({"frequency": "monthly", "day": 40, "hour": 2}, "day"),
        ({"frequency": "monthly", "day": 0, "hour": 2}, "day"),
        ({"frequency": "weekly", "day": 8, "hour": 2}, "day"),
        ({"frequency": "monthly", "day": 1, "hour": 25}, "hour"),
        ({"frequency": "monthly", "day": 1, "hour": -1}, "hour"),
        ({"frequency": "daily", "day": 1, "hour": 2}, "frequency"),
        ({"frequency": "monthly", "day": "1", "hour": 2}, "day"),
        ({"frequency": "monthly", "day": 1, "hour": 2, "tiers": ["core"]}, "tiers"),
        ({"frequency": "monthly", "day": 1, "hour": 2, "tiers": []}, "tiers"),
        ({"frequency": "monthly", "hour": 2}, "day"),
    ]:
        r = w.api.put(url, body, token=t)
        assert r.status_code == 422, (body, r.text)
        assert field in str(r.json()["errors"])
    assert w.api.get(url, token=t).json()["frequency"] == "weekly"
    assert w.api.get(url, token=w.owner_staff.token).status_code == 403
    assert (
        w.api.put(
            url, {"frequency": "monthly", "day": 1, "hour": 2}, token=w.parties["D1a"].token
        ).status_code
        == 403
    )
    assert w.api.get(url, token=w.outsider.token).status_code == 404


def test_amounts_are_decimal_exact(recon):
    """0.1 + 0.2 style sums stay exact: amounts are computed as Decimal, written as numbers."""
    w = recon
    lines = [
        {"line_no": i + 1, "sku": f"C-{i}", "qty": "0.1", "unit_price": "0.2"} for i in range(3)
    ]
    w.api.post(
        w.path("/orders"),
        {
            "counterparty_id": w.owner.org_id,
            "issuer_role": "buyer",
            "number": "PO-CENTS",
            "lines": lines,
        },
        token=w.parties["D1b"].token,
    )
    wb = _book(_download(w, _run(w).json()["id"]).content)
    b = {row["Org code"]: row for row in _rows(wb["Summary"])}["DLR-002"]
    assert Decimal(str(b["Ordered amount"])) == Decimal("200.06")


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's write lock")
def test_a_run_leaves_the_database_open_to_writers(live_recon, app, monkeypatch):
    """Writing a workbook only reads: while a run writes (a minute for a large tier), dealers'
    acknowledgments and shipments must still get SQLite's write lock."""
    from supplychain.services.reconciliation import tier_workbook

    real = tier_workbook.write_reconciliation_workbook
    writers = []

    def while_writing(*args, **kwargs):
        with app.app_context():
            path = db.engine.url.database
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writers.append("got the write lock")
        except sqlite3.OperationalError as exc:
            writers.append(str(exc))
        finally:
            other.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", while_writing)
    r = _run(live_recon)
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    assert writers == ["got the write lock"]


# --- runs in the background (Prefer: respond-async) --------------------------------------------


def _run_async(w, **body):
    body = {"tier": "D1", "period": PERIOD, **body}
    return w.api.post(
        w.path("/reconciliation/runs"),
        body,
        token=w.owner_staff.token,
        headers={"Prefer": "respond-async, wait=5"},
    )


def _settled(w, run_id, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = w.api.get(w.path(f"/reconciliation/runs/{run_id}"), token=w.owner.token).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run['status']} after {seconds} s")


def test_async_run_answers_at_once_and_finishes_in_the_background(live_recon):
    w = live_recon
    r = _run_async(w)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["revision"] == 1
    assert r.headers["Preference-Applied"] == "respond-async"
    assert r.headers["Location"].endswith(f"/reconciliation/runs/{queued['id']}")
    done = _settled(w, queued["id"])
    assert done["status"] == "succeeded" and done["rows"] == 4 and done["orgs"] == 2
    book = _book(_download(w, done["id"]).content)
    assert [row["Order no."] for row in _rows(book["Lines"])].count("PO-A-1") == 3
    # The same request again finds the run made (200), as without the header.
    again = _run_async(w)
    assert again.status_code == 200 and again.json()["id"] == queued["id"]
    events = w.api.get(
        w.path("/audit?action=reconciliation.run.succeeded"), token=w.owner.token
    ).json()["items"]
    assert [(e["user_id"], e["data"]["trigger"]) for e in events] == [
        (w.owner_staff.user_id, "api")
    ]


def test_async_run_that_fails_records_why_and_leaves_no_file(live_recon, app, monkeypatch):
    w = live_recon
    from supplychain.services.reconciliation import tier_workbook

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", explode)
    r = _run_async(w, force=True)
    assert r.status_code == 202, r.text
    failed = _settled(w, r.json()["id"])
    assert failed["status"] == "failed" and "disk full" in failed["error"]
    folder = Path(app.config["REPORTS_DIR"]) / w.chain_id / PERIOD
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.fixture
def d2_blocks(monkeypatch):
    """Producing tier D2's workbook waits until the returned event is set (at most 30 s), so a
    D2 run holds the process's one background slot for as long as a test needs."""
    from supplychain.services.reconciliation import background, tier_workbook

    release = threading.Event()
    real = tier_workbook.write_reconciliation_workbook

    def gated(target, meta, *args, **kwargs):
        if meta.tier == "D2":
            release.wait(30)
        return real(target, meta, *args, **kwargs)

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", gated)
    yield release
    release.set()
    assert background.drain_background(30)


def _failed_run_from_hours_ago(app, w):
    hours_ago = datetime.now(UTC) - timedelta(hours=3)
    with app.app_context():
        run = ReconciliationRun(
            chain_id=int(w.chain_id), tier="D1", period=PERIOD, revision=1,
            status="failed", trigger="schedule", error="OSError: disk full",
            started_at=hours_ago, finished_at=hours_ago, created_at=hours_ago,
        )  # fmt: skip
        db.session.add(run)
        db.session.commit()
        return run.id


def test_a_queued_retry_is_not_taken_for_dead(live_recon, app, d2_blocks):
    """A failed run from hours ago, retried in the background behind another run, waits its turn:
    a second request meanwhile gets the queued run (200), not a second production."""
    w = live_recon
    _failed_run_from_hours_ago(app, w)
    ahead = _run_async(w, tier="D2")
    assert ahead.status_code == 202, ahead.text
    retry = _run_async(w)
    assert retry.status_code == 202 and retry.json()["status"] == "queued", retry.text
    second = _run(w)
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "queued" and second.json()["id"] == retry.json()["id"]
    d2_blocks.set()
    assert _settled(w, ahead.json()["id"])["status"] == "succeeded"
    done = _settled(w, retry.json()["id"])
    assert done["status"] == "succeeded" and done["revision"] == 1 and done["error"] is None


def test_shutdown_marks_waiting_runs_interrupted_and_they_are_taken_up_at_once(
    live_recon, app, d2_blocks
):
    from supplychain.services.reconciliation import background

    w = live_recon
    ahead = _run_async(w, tier="D2")
    waiting = _run_async(w)
    assert (ahead.status_code, waiting.status_code) == (202, 202)
    # What gunicorn's worker_exit does: the waiting run is dropped at once, the running one
    # gets its grace to finish.
    stopping = threading.Thread(target=background.stop_background, kwargs={"grace": 30})
    stopping.start()
    waiting_id = waiting.json()["id"]
    for _ in range(200):
        interrupted = w.api.get(
            w.path(f"/reconciliation/runs/{waiting_id}"), token=w.owner.token
        ).json()
        if interrupted["status"] == "failed":
            break
        time.sleep(0.02)
    assert interrupted["status"] == "failed"
    assert interrupted["error"].startswith("Interrupted: the server stopped")
    d2_blocks.set()
    stopping.join(30)
    assert _settled(w, ahead.json()["id"])["status"] == "succeeded"  # finished within its grace
    again = _run(w)
    assert again.status_code == 201 and again.json()["id"] == waiting.json()["id"]
    assert again.json()["status"] == "succeeded"


def test_a_full_queue_answers_503_and_claims_nothing(live_recon, d2_blocks, monkeypatch):
    from supplychain.services.reconciliation import background

    w = live_recon
    monkeypatch.setattr(background, "MAX_QUEUED", 0)
    assert _run_async(w, tier="D2").status_code == 202

    # Past the harness's no-5xx check on purpose: 503 + Retry-After is the answer here.
    def post_raw(body):
        return w.api.http.post(
            w.api.base + "/api/v1" + w.path("/reconciliation/runs"),
            json=body,
            headers={"Authorization": f"Bearer {w.owner.token}", "Prefer": "respond-async"},
            timeout=60,
        )

    busy = post_raw({"tier": "D1", "period": PERIOD})
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "60" and "ask again" in busy.json()["message"]
    runs = w.api.get(w.path("/reconciliation/runs?tier=D1"), token=w.owner.token).json()
    assert runs["total"] == 0
    # Still checked first: bad input is 422, and a run that exists is answered (200).
    assert post_raw({"tier": "D9", "period": PERIOD}).status_code == 422
    ahead = w.api.get(w.path("/reconciliation/runs?tier=D2"), token=w.owner.token).json()
    same = post_raw({"tier": "D2", "period": PERIOD})
    assert same.status_code == 200 and same.json()["id"] == ahead["items"][0]["id"]


def test_a_producer_that_lost_its_claim_records_nothing(recon, app, monkeypatch):
    """A run taken over while it was being produced (it outlived STALE_AFTER): the first producer
    writes no file and no status or audit event of its own."""
    from supplychain.services.reconciliation import tier_workbook

    w = recon
    real = tier_workbook.write_reconciliation_workbook

    def taken_over_meanwhile(*args, **kwargs):
        with app.app_context():
            db.session.execute(
                update(ReconciliationRun).values(claim="someone-else", status="running")
            )
            db.session.commit()
        return real(*args, **kwargs)

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", taken_over_meanwhile)
    r = _run(w)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "running" and r.json()["sha256"] is None
    folder = Path(app.config["REPORTS_DIR"]) / w.chain_id / PERIOD
    assert list(folder.iterdir()) == []
    events = w.api.get(w.path("/audit?action=reconciliation.run.succeeded"), token=w.owner.token)
    assert events.json()["items"] == []


def test_replaying_an_async_run_keeps_where_to_follow_it(live_recon):
    w = live_recon
    headers = {"Prefer": "respond-async", "Idempotency-Key": "run-d1-async"}
    body = {"tier": "D1", "period": PERIOD}

    def send():
        return w.api.post(
            w.path("/reconciliation/runs"), body, headers=headers, token=w.owner.token
        )

    first = send()
    assert first.status_code == 202, first.text
    _settled(w, first.json()["id"])
    again = send()
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json() == first.json()


def test_shutdown_interrupts_a_run_that_outlives_the_grace(live_recon, app, d2_blocks):
    """The run being written when the worker must go: marked interrupted (audited), its claim
    taken away, so what its dying thread does later records nothing; the next request retakes it."""
    from supplychain.services.reconciliation import background

    w = live_recon
    running = _run_async(w, tier="D2")
    assert running.status_code == 202
    run_id = running.json()["id"]
    for _ in range(200):  # until the producer is inside the workbook
        got = w.api.get(w.path(f"/reconciliation/runs/{run_id}"), token=w.owner.token).json()
        if got["status"] == "running":
            break
        time.sleep(0.02)
    assert background.stop_background(grace=0.2) == 1
    stopped = w.api.get(w.path(f"/reconciliation/runs/{run_id}"), token=w.owner.token).json()
    assert stopped["status"] == "failed" and stopped["error"].startswith("Interrupted")
    d2_blocks.set()  # the old thread finishes its workbook: it no longer holds the claim
    assert background.drain_background(30)
    time.sleep(0.5)
    after = w.api.get(w.path(f"/reconciliation/runs/{run_id}"), token=w.owner.token).json()
    assert after == stopped
    failed = w.api.get(
        w.path("/audit?action=reconciliation.run.failed"), token=w.owner.token
    ).json()["items"]
    assert [e["target_id"] for e in failed] == [str(run_id)]
    again = _run(w, tier="D2")
    assert again.status_code == 201 and again.json()["status"] == "succeeded"
