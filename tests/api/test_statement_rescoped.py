"""What was confirmed is judged within the statement's scope as it is now (issue 14 review): a
statement confirmed before statements were scoped (its snapshot and version hold every order of
the org, its orders with orgs farther from the core too), or before a link change re-tiered an
org, reads `confirmed` while the figures it holds now are the ones confirmed, on the JSON view,
the board, the xlsx statement's and the tier workbook's Summary; a change to them (a late receipt), or lines new to
it, read `changed` with only that difference. Also: `dispute.resolved` reaches the statement's
org only while it may open its statement, and statements of removed orgs are never due for a
reminder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.models import Chain, Statement
from supplychain.models.base import utcnow
from supplychain.periods import parse_period
from supplychain.services.reconciliation.board import due_statements, send_statement_reminders
from supplychain.services.reconciliation.ledger import order_lines
from supplychain.services.reconciliation.statement_view import snapshot as confirmed_snapshot
from supplychain.services.reconciliation.versions import figures_of, versions_of
from tests.api.test_statement_audience import _grant as _grant_reconciliation
from tests.api.test_statement_audience import _revoke, _run, _workbook
from tests.api.test_statement_scope import (
    PO_CORE,
    PO_DOWN,
    PO_UP,
    _ack,
    _issue,
    _link,
    _sheet_rows,
    _xlsx,
    trading_chain,
)
from tests.api.test_statements import (
    PERIOD,
    _actions,
    _board,
    _confirm,
    _dispute,
    _events,
    _grant,
    _order,
    _view,
)


def _confirm_the_old_way(app, w, party) -> tuple[str, dict]:
    """Store the confirmation the code before scoped statements made: its snapshot and version
    hold every line of the org's orders of the period, whoever the counterparty."""
    with app.app_context():
        session = db.session
        chain = session.get(Chain, int(w.chain_id))
        org = int(party.org_id)
        period = parse_period(PERIOD)
        rows = [tuple(row) for row in order_lines(session, chain, period, {org})]
        old = versions_of(map(figures_of, rows), chain.id, PERIOD, [org], lambda b, s: org)[org]
        now = utcnow()
        snapshot = confirmed_snapshot(rows)
        session.add(
            Statement(
                chain_id=chain.id, org_id=org, period=PERIOD, state="confirmed",
                confirmed_version=old, confirmed_at=now, confirmed_by=int(party.user_id),
                confirmed_figures=snapshot, updated_at=now,
            )
        )  # fmt: skip
        session.commit()
        db.session.remove()
    return old, snapshot


def _ship(w, order: dict, line_no: int, qty: str) -> None:
    r = w.api.post(
        w.path(f"/orders/{order['id']}/shipments"), {"lines": [{"line_no": line_no, "qty": qty}]},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text


def _receive(w, order: dict, party, line_no: int, qty: str) -> None:
    r = w.api.post(
        w.path(f"/orders/{order['id']}/receipts"), {"lines": [{"line_no": line_no, "qty": qty}]},
        token=party.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text


def _row(w, party) -> dict:
    board = _board(w, w.owner.token)
    return next(i for i in board["items"] if i["org_id"] == party.org_id)


@pytest.fixture
def trading(world):
    """D1a buys from the owner (PO_CORE: accepted, line 1 shipped) and sells to its sub-dealer
    D2 (PO_UP, D2's statement); D2 sells to D3 (PO_DOWN)."""
    w = trading_chain(world)
    _ack(w, w.extra["core"], w.owner)
    _ship(w, w.extra["core"], 1, "10")
    return w


def test_a_confirmation_made_before_statements_were_scoped_stands(app, trading):
    w = trading
    d1a = w.parties["D1a"]
    old, snapshot = _confirm_the_old_way(app, w, d1a)
    # The stored confirmation holds D2's purchase too, and is of another version than now's.
    assert {line[0] for line in snapshot["lines"].values()} == {PO_CORE, PO_UP}
    assert snapshot["totals"]["ordered"] == "375.00"
    view = _view(w, d1a)
    assert view["version"] != old and view["confirmed_version"] == old
    assert [x["order_number"] for x in view["lines"]] == [PO_CORE]
    # No figure of its statement changed: confirmed, nothing listed, its totals as confirmed.
    assert (view["status"], view["changes"]) == ("confirmed", [])
    assert view["confirmed_totals"] == view["totals"]
    assert view["totals"] == {
        "ordered": "125.00", "confirmed": "125.00", "shipped": "125.00", "received": "0.00"
    }  # fmt: skip
    assert _row(w, d1a)["status"] == "confirmed"
    assert _board(w, w.owner.token, "&status=changed")["items"] == []
    (own,) = _sheet_rows(_xlsx(w, d1a.org_id, token=d1a.token)["Summary"])
    assert own["Statement status"] == "confirmed"
    # Confirming it again raises no event; the stored confirmation becomes the version the
    # partner confirmed now (audited), with the first confirmation's time and person.
    again = _confirm(w, d1a, view["version"])
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "confirmed"
    assert again.json()["confirmed_version"] == view["version"]
    assert again.json()["confirmed_at"] == view["confirmed_at"]
    assert again.json()["confirmed_by"] == view["confirmed_by"]
    assert _events(w, d1a, "statement.confirmed") == []
    assert len(_actions(w, "statement.confirm")) == 1
    assert _confirm(w, d1a, view["version"]).status_code == 200
    assert len(_actions(w, "statement.confirm")) == 1
    assert _view(w, d1a)["confirmed_totals"] == view["totals"]
    # D2's purchase moves (D1a accepts it): D2's statement, not D1a's.
    _ack(w, w.extra["up"], d1a)
    assert _view(w, d1a)["status"] == "confirmed"
    # A late receipt on a line of its statement: changed, listing that change only, against
    # totals summed from the confirmed lines it holds now.
    _receive(w, w.extra["core"], d1a, 1, "7")
    now = _view(w, d1a)
    assert now["status"] == "changed"
    assert now["changes"] == [
        {"order_number": PO_CORE, "line_no": 1, "field": "received_qty",
         "confirmed": "0.0000", "current": "7.0000"}
    ]  # fmt: skip
    assert now["confirmed_totals"] == {
        "ordered": "125.00", "confirmed": "125.00", "shipped": "125.00", "received": "0.00"
    }  # fmt: skip
    assert now["totals"]["received"] == "87.50"
    assert _row(w, d1a)["status"] == "changed"
    (own,) = _sheet_rows(_xlsx(w, d1a.org_id, token=d1a.token)["Summary"])
    assert own["Statement status"] == "changed"
    assert _confirm(w, d1a, view["version"]).status_code == 409
    # Confirmed again: a new confirmation of its scoped statement, with its event.
    confirmed = _confirm(w, d1a, now["version"])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed_version"] == now["version"]
    assert len(_events(w, d1a, "statement.confirmed")) == 1
    assert _confirm(w, d1a, now["version"]).status_code == 200
    assert len(_events(w, d1a, "statement.confirmed")) == 1
    assert _row(w, d1a)["status"] == "confirmed"


def test_a_retiering_keeps_what_left_the_scope_confirmed_and_new_lines_change_it(trading):
    w = trading
    d2, d3 = w.parties["D2"], w.parties["D3"]
    seen = _view(w, d2, token=d2.token)
    assert [x["order_number"] for x in seen["lines"]] == [PO_UP, PO_UP]
    assert _confirm(w, d2, seen["version"]).status_code == 200
    # D3 is linked to the owner too: it becomes D1, so D2's sale to it comes into D2's
    # statement (D3 is now nearer the core than D2): new lines, the statement changed.
    _link(w, w.owner.org_id, d3.org_id)
    now = _view(w, d2, token=d2.token)
    assert [x["order_number"] for x in now["lines"]] == [PO_UP, PO_UP, PO_DOWN]
    assert now["status"] == "changed"
    assert {(c["order_number"], c["confirmed"]) for c in now["changes"]} == {(PO_DOWN, None)}
    assert now["confirmed_totals"]["ordered"] == "250.00"
    assert _row(w, d2)["status"] == "changed"
    assert _confirm(w, d2, now["version"]).status_code == 200
    # D2 is linked to the owner: it becomes D1, and its purchase from D1a (now D1 too) leaves
    # every statement; its sale to D3 (D1 as well) too. What it confirmed is unchanged for what
    # its statement holds now (nothing): it stays confirmed.
    _link(w, w.owner.org_id, d2.org_id)
    moved = _view(w, d2, token=d2.token)
    assert (moved["tier"], moved["lines"]) == ("D1", [])
    assert (moved["status"], moved["changes"]) == ("confirmed", [])
    assert moved["confirmed_totals"]["ordered"] == "0.00"
    assert _row(w, d2)["status"] == "confirmed"


def test_the_board_judges_old_confirmations_in_a_fixed_number_of_queries(
    app, trading, count_queries
):
    w = trading
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    path = w.path(f"/reconciliation/statements?period={PERIOD}&tier=D1")

    def board():
        w.api.get(path, token=w.owner.token)  # the tier cache
        with count_queries() as counter:
            r = w.api.get(path, token=w.owner.token)
        assert r.status_code == 200, r.text
        return {i["org_id"]: i["status"] for i in r.json()["items"]}, counter.count

    _confirm_the_old_way(app, w, d1a)
    one, one_count = board()
    assert one == {d1a.org_id: "confirmed", d1b.org_id: "open"}
    # D1b has a sub-dealer's order beside its own with the owner, confirmed the old way too.
    _issue(w, d1b, w.owner.org_id, "PO-B-9", 1)
    _link(w, d1b.org_id, w.parties["D2"].org_id)
    _issue(w, w.parties["D2"], d1b.org_id, "PO-D2-B", 2)
    _confirm_the_old_way(app, w, d1b)
    two, two_count = board()
    assert two == {d1a.org_id: "confirmed", d1b.org_id: "confirmed"}
    assert one_count == two_count, (one_count, two_count)


def _summary(w, run) -> dict[str, dict]:
    return {row["Org code"]: row for row in _sheet_rows(_workbook(w, run)["Summary"])}


@pytest.mark.committed
def test_the_tier_workbook_says_an_old_confirmation_stands_until_its_figures_change(app, world):
    w = trading_chain(world)
    d1a = w.parties["D1a"]
    _ack(w, w.extra["core"], w.owner)
    _ship(w, w.extra["core"], 1, "10")
    _confirm_the_old_way(app, w, d1a)
    summary = _summary(w, _run(w, "D1"))
    assert summary["DLR-001"]["Statement status"] == "confirmed"
    assert summary["DLR-001"]["Confirmed at"] is not None
    assert summary["DLR-002"]["Statement status"] == "open"
    _receive(w, w.extra["core"], d1a, 1, "7")
    summary = _summary(w, _run(w, "D1", force=True))
    assert summary["DLR-001"]["Statement status"] == "changed"
    assert summary["DLR-001"]["Confirmed at"] is not None


def test_dispute_resolved_reaches_the_org_only_while_it_may_open_its_statement(world):
    w = world
    _grant(w, "orders", {"type": "all"})
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    grant_a = _grant_reconciliation(w, {"type": "org", "value": d1a.org_id})
    _grant_reconciliation(w, {"type": "org", "value": d1b.org_id})
    disputes = {}
    for party, number in ((d1a, "PO-A-1"), (d1b, "PO-B-1")):
        _order(w, party, number, 1)
        line = {"order_number": number, "line_no": 1, "field": "qty", "note": "short"}
        r = _dispute(w, party, _view(w, party)["version"], [line])
        assert r.status_code == 201, r.text
        disputes[party.org_id] = r.json()["id"]
    _revoke(w, grant_a)
    for dispute_id in disputes.values():
        r = w.api.post(
            w.path(f"/reconciliation/disputes/{dispute_id}/resolve"),
            {"resolution": "accepted", "note": "credit note follows"}, token=w.owner.token,
        )  # fmt: skip
        assert r.status_code == 200, r.text
    # D1a may no longer open its statement (or the dispute): not told; D1b and the owner are.
    assert _events(w, d1a, "dispute.resolved") == []
    (told,) = _events(w, d1b, "dispute.resolved")
    assert told["data"]["id"] == disputes[d1b.org_id]
    owner = {e["data"]["org_id"] for e in _events(w, w.owner, "dispute.resolved")}
    assert owner == {d1a.org_id, d1b.org_id}


def test_a_removed_orgs_statement_is_never_due_for_a_reminder(app, world):
    w = world
    _grant(w, "reconciliation", {"type": "tier", "value": "D1"})
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    ready = utcnow()
    with app.app_context():
        for party in (d1a, d1b):
            db.session.add(
                Statement(
                    chain_id=int(w.chain_id), org_id=int(party.org_id), period=PERIOD,
                    state="open", ready_at=ready, updated_at=ready,
                )
            )  # fmt: skip
        db.session.commit()
        ids = dict(
            db.session.execute(
                select(Statement.org_id, Statement.id).where(Statement.chain_id == int(w.chain_id))
            ).all()
        )
        later = ready + timedelta(days=6)
        assert [s.id for s in due_statements(db.session, later)] == sorted(ids.values())
        db.session.remove()
    r = w.api.delete(w.path(f"/members/{d1b.org_id}"), token=w.owner.token)
    assert r.status_code == 204, r.text
    with app.app_context():
        session = db.session
        # D1b's statement is neither loaded as due nor reminded; D1a's is, once.
        assert [s.id for s in due_statements(session, later)] == [ids[int(d1a.org_id)]]
        assert send_statement_reminders(session, later) == [ids[int(d1a.org_id)]]
        assert due_statements(session, later) == []
        session.commit()
        db.session.remove()
    assert len(_events(w, d1a, "statement.reminder")) == 1
    assert _events(w, w.owner, "statement.reminder") == []
