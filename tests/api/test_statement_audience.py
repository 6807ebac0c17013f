"""Statements and tier runs, committed: the tier workbook's lines and statement statuses follow
the statement scope (a D2 org trading with D1 and D3), and `statement.ready` and
`statement.reminder` reach only the orgs the reconciliation app is shared with; an org granted
the app after its statement was made ready is not told of it until a run makes it ready again,
and one whose grant was revoked is reminded once it has the app again."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
import pytest

from supplychain.models.base import utcnow
from tests.api.test_statement_scope import PO_DOWN, PO_UP, _ack, _sheet_rows, trading_chain
from tests.api.test_statements import PERIOD, _board, _confirm, _events, _view
from tests.api.test_statements_ready import _remind, _statement_id

# A run commits step by step in sessions of its own: these tests commit for real.
pytestmark = pytest.mark.committed


def _run(w, tier, force=False):
    r = w.api.post(
        w.path("/reconciliation/runs"), {"tier": tier, "period": PERIOD, "force": force},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded", r.json()
    return r.json()


def _workbook(w, run):
    f = w.api.get(w.path(f"/reconciliation/runs/{run['id']}/file"), token=w.owner.token)
    assert f.status_code == 200, f.text
    return openpyxl.load_workbook(io.BytesIO(f.content))


def _grant(w, scope):
    r = w.api.post(
        w.path("/grants"), {"app": "reconciliation", "scope": scope}, token=w.owner.token
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _revoke(w, grant_id):
    assert w.api.delete(w.path(f"/grants/{grant_id}"), token=w.owner.token).status_code == 204


def _ready(w):
    return {i["org_id"]: i["ready_at"] for i in _board(w, w.owner.token, "&tier=D1")["items"]}


def test_tier_workbooks_list_and_rate_each_org_by_its_statement_scope(world):
    w = trading_chain(world)
    d2, d3 = w.parties["D2"], w.parties["D3"]
    assert _confirm(w, d2, _view(w, d2)["version"]).status_code == 200
    _ack(w, w.extra["down"], d2)  # D3's statement moves; D2's confirmation stands
    d2_book = _workbook(w, _run(w, "D2"))
    lines = _sheet_rows(d2_book["Lines"])
    assert {(r["Org code"], r["Order no."], r["Role"]) for r in lines} == {
        ("DLR-101", PO_UP, "buyer")
    }
    (summary,) = _sheet_rows(d2_book["Summary"])
    assert (summary["Org code"], summary["Statement status"]) == ("DLR-101", "confirmed")
    assert summary["Confirmed at"] is not None
    d3_book = _workbook(w, _run(w, "D3"))
    assert [(r["Org code"], r["Order no."]) for r in _sheet_rows(d3_book["Lines"])] == [
        ("DLR-201", PO_DOWN)
    ]
    (summary,) = _sheet_rows(d3_book["Summary"])
    assert summary["Statement status"] == "open"
    # The partners' own statements say the same.
    assert _view(w, d2)["status"] == "confirmed" and _view(w, d3)["status"] == "open"


def test_only_orgs_with_the_app_are_told_and_reminded(world, app):
    w = world
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    _grant(w, {"type": "org", "value": d1a.org_id})
    _run(w, "D1")
    (event,) = _events(w, d1a, "statement.ready")
    assert event["data"]["org_id"] == d1a.org_id
    # D1b could not open its statement: neither told nor marked ready, nor reminded.
    assert _events(w, d1b, "statement.ready") == []
    ready = _ready(w)
    assert ready[d1a.org_id] is not None and ready[d1b.org_id] is None
    assert _remind(app, utcnow() + timedelta(days=5, minutes=1)) == [_statement_id(app, d1a.org_id)]
    # Granted later: no reminder of a statement it was never told of...
    _grant(w, {"type": "org", "value": d1b.org_id})
    assert _remind(app, utcnow() + timedelta(days=30)) == []
    assert _events(w, d1b, "statement.reminder") == []
    # ...until a run makes it ready for it: told, then reminded 5 days later like any other.
    _run(w, "D1", force=True)
    assert len(_events(w, d1b, "statement.ready")) == 1
    assert _statement_id(app, d1b.org_id) in _remind(app, utcnow() + timedelta(days=5, minutes=1))
    assert len(_events(w, d1b, "statement.reminder")) == 1


def test_a_revoked_org_is_reminded_once_it_has_the_app_again(world, app):
    w = world
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    tier = _grant(w, {"type": "tier", "value": "D1"})
    _run(w, "D1")
    assert len(_events(w, d1b, "statement.ready")) == 1
    _revoke(w, tier)
    _grant(w, {"type": "org", "value": d1a.org_id})
    due = utcnow() + timedelta(days=5, minutes=1)
    assert _remind(app, due) == [_statement_id(app, d1a.org_id)]
    assert _events(w, d1b, "statement.reminder") == []
    assert _remind(app, due) == []  # still not, and nothing claimed for it
    _grant(w, {"type": "group", "value": "Dealers/East China"})
    assert _remind(app, due + timedelta(days=1)) == [_statement_id(app, d1b.org_id)]
    assert _remind(app, due + timedelta(days=2)) == []  # once
    assert len(_events(w, d1b, "statement.reminder")) == 1
    assert len(_events(w, d1a, "statement.reminder")) == 1
