"""The demo's invoices of last month: one approved, one held on a price exception, one waiting;
the buyer's queue shows the two waiting ones; a second load records nothing more."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from supplychain.extensions import db
from supplychain.models import Invoice
from supplychain.models.base import utcnow
from supplychain.periods import previous_period
from supplychain.services import invoices
from tests.integration.test_demo_activity import OWNER, access_of, load

pytestmark = pytest.mark.committed

SJZ = "guo.qiang@sjz-yuxin.example"


def test_last_months_invoices(app):
    load(app)
    with app.app_context():
        buyer, owner = access_of(SJZ), access_of(OWNER)
        period = previous_period(
            "monthly", utcnow().astimezone(ZoneInfo(owner.chain.timezone))
        ).label
        page = invoices.invoices_page(
            db.session, buyer, box="incoming", status=None, period=period, page=1, page_size=50
        )
        got = {
            view.invoice.number: (view.invoice.status, view.match.status, view.match.exceptions)
            for view in page.items
        }
        assert got["26132000000000100451"] == ("approved", "matched", [])
        status, match, [exception] = got["26132000000000100452"]
        assert (status, match, exception["kind"]) == ("submitted", "exceptions", "price_variance")
        assert (exception["expected"], exception["actual"]) == ("520.00", "535.60")
        assert got["26132000000000100453"] == ("submitted", "matched", [])
        waiting = {v.invoice.number: v for v in page.items}["26132000000000100453"]
        # From the statement: the 26 tyres received and not invoiced by the other two.
        assert [(line.qty, line.unit_price) for line in waiting.lines] == [(26, 520)]
        assert all(v.invoice.statement_period == period for v in page.items)
    load(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 3
