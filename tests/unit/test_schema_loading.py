"""Schemas load as the services take their arguments: a list's query as keyword arguments, a
new order's, notice's or ship notice's body with its lines, items and packages as the services'
own values."""

from datetime import date
from decimal import Decimal

import marshmallow as ma
import pytest

from supplychain.schemas.notices import NoticeCreateSchema
from supplychain.schemas.orders import OrderCreateSchema, OrderQuerySchema
from supplychain.schemas.reconciliation import BoardQuerySchema
from supplychain.schemas.shipping import ShipNoticeCreateSchema
from supplychain.services.notices import Audience, NewItem
from supplychain.services.orders import NewLine
from supplychain.services.shipping import NewPackage, NoticeLineIn


def test_a_filter_left_out_loads_as_none_and_the_page_as_its_default():
    assert OrderQuerySchema().load({"status": "issued", "from": "2026-01-31"}) == {
        "status": "issued",
        "counterparty_id": None,
        "date_from": date(2026, 1, 31),
        "date_to": None,
        "page": 1,
        "page_size": 50,
    }


def test_a_bad_filter_is_still_refused_by_name():
    with pytest.raises(ma.ValidationError) as refused:
        BoardQuerySchema().load({"period": "2026-01", "status": "nonsense"})
    assert set(refused.value.messages) == {"status"}


def test_a_new_orders_lines_load_as_the_services_lines():
    loaded = OrderCreateSchema().load(
        {
            "counterparty_id": "7",
            "issuer_role": "buyer",
            "lines": [{"line_no": 1, "sku": "A-1", "qty": "2.5", "unit_price": "3"}],
        }
    )
    assert loaded["lines"] == [
        NewLine(line_no=1, sku="A-1", qty=Decimal("2.5"), unit_price=Decimal("3"))
    ]


def test_a_notices_items_and_audience_load_as_the_services_values():
    loaded = NoticeCreateSchema().load(
        {
            "kind": "supply",
            "title": "Stock",
            "items": [{"sku": "A-1", "qty": "4"}],
            "audience": {"tiers": ["D1"]},
        }
    )
    assert loaded["items"] == [NewItem(sku="A-1", qty=Decimal("4"))]
    assert loaded["audience"] == Audience(tiers=["D1"])


def test_a_ship_notices_carrier_loads_as_its_name_and_code():
    body = {
        "buyer_id": "3",
        "carrier": {"name": "SF Express", "code": "SF"},
        "packages": [{"ref": "1"}],
        "lines": [{"order_id": "9", "line_no": 2, "qty": "1", "package": "1"}],
    }
    loaded = ShipNoticeCreateSchema().load(body)
    assert "carrier" not in loaded
    assert (loaded["carrier_name"], loaded["carrier_code"]) == ("SF Express", "SF")
    assert loaded["packages"] == [NewPackage(ref="1")]
    assert loaded["lines"] == [NoticeLineIn(order_id=9, line_no=2, qty=Decimal("1"), package="1")]
    without = ShipNoticeCreateSchema().load({**body, "carrier": None})
    assert (without["carrier_name"], without["carrier_code"]) == (None, None)
