"""The demo's ship notices: a supplier with a GS1 company prefix, one notice received by scanning
its labels, one in transit; its labels print and scan back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supplychain.demo.seeding import DEFAULT_SEED, load_demo
from supplychain.extensions import db
from supplychain.models import Org, ShipNotice, ShipNoticePackage
from supplychain.services import shipping
from tests.api.test_ship_documents import read_pdf
from tests.api.test_ship_notices import gs1_check
from tests.integration.test_demo_activity import OWNER, SUPPLIER, access_of

pytestmark = pytest.mark.committed


def test_a_notice_received_by_scan_and_one_in_transit(app):
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
        supplier = access_of(SUPPLIER)
        org = db.session.get(Org, supplier.actor.org_id)
        assert org.gs1_company_prefix == "0614141"
        notices = db.session.scalars(select(ShipNotice).order_by(ShipNotice.id)).all()
        ours = [n for n in notices if n.seller_id == org.id and n.carrier_code == "DBL"]
        assert [n.status for n in ours] == ["received", "issued"]
        received, in_transit = ours
        packages = db.session.scalars(
            select(ShipNoticePackage).where(ShipNoticePackage.notice_id == received.id)
        ).all()
        assert len(packages) == 3 and all(p.received_at is not None for p in packages)
        for package in packages:
            assert package.sscc.startswith("00614141")
            assert int(package.sscc[17]) == gs1_check(package.sscc[:17])
        assert received.created_at < received.updated_at
        # The orders saw the receipt, with the notice's number as its reference.
        owner = access_of(OWNER)
        view = shipping.get_notice(db.session, owner, received.id)
        assert {line.line.received_qty for line in view.lines} == {
            line.line.qty for line in view.lines
        }
        transit = shipping.get_notice(db.session, owner, in_transit.id)
        assert all(line.line.received_qty == 0 for line in transit.lines)
        assert transit.notice.expected_at > transit.notice.shipped_at

        from supplychain.documents.pdf import labels_pdf

        pages = read_pdf(labels_pdf(transit))
        assert len(pages) == 2
        assert ("Code128", "]C1", f"(00){transit.packages[0].sscc}") in pages[0]["codes"]
        assert "Ningbo Precision Castings" in pages[0]["text"]
