"""The owner's dispute queue (`disputes.open_disputes`): the open disputes of a period, by
tier, oldest first; resolved ones leave it; a partner sees only its own; bad input is 422."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from supplychain.errors import Forbidden, Invalid
from supplychain.periods import monthly_period
from supplychain.services import orders
from supplychain.services.reconciliation import disputes as d
from supplychain.services.reconciliation import statement_view as sv
from tests.factories import GrantFactory
from tests.integration.conftest import Net


def _period(net: Net) -> str:
    return monthly_period(datetime.now(ZoneInfo(net.chain.timezone)).date()).label


def _buy(net: Net, who: str, number: str) -> None:
    orders.issue_order(
        net.session,
        net.as_(who),
        counterparty_id=net.org("D1a") if who == "D2" else net.orgs["owner"].id,
        issuer_role="buyer",
        number=number,
        currency=None,
        ack_due=None,
        lines=[orders.NewLine(line_no=1, sku="BRK-1", qty=Decimal(5), unit_price=Decimal(3))],
    )


def _dispute(net: Net, who: str, number: str) -> int:
    period = _period(net)
    view = sv.statement_view(net.session, net.as_(who), period, None)
    line = d.DisputedLine(order_number=number, line_no=1, field="qty", note="We ordered 4")
    return d.open_dispute(net.session, net.as_(who), period, view["version"], [line], None).id


@pytest.fixture
def queue(net: Net) -> Net:
    GrantFactory(chain=net.chain, app_key="reconciliation")
    _buy(net, "D1a", "PO-A")
    _buy(net, "D1b", "PO-B")
    _buy(net, "D2", "PO-SUB")
    return net


def test_the_queue_lists_open_disputes_by_tier_and_partners_see_their_own(queue: Net):
    net = queue
    period = _period(net)
    first = _dispute(net, "D1b", "PO-B")
    second = _dispute(net, "D1a", "PO-A")
    sub = _dispute(net, "D2", "PO-SUB")
    owner = net.as_("staff")
    listed = d.open_disputes(net.session, owner, period)
    assert [d.id for d in listed] == [first, second, sub]
    assert [(x.order_number, x.field) for x in listed[0].lines] == [("PO-B", "qty")]
    assert [d.id for d in d.open_disputes(net.session, owner, period, "D1")] == [first, second]
    assert [d.id for d in d.open_disputes(net.session, owner, period, "D2")] == [sub]
    assert d.open_disputes(net.session, owner, period, "U1") == []
    # A partner: only its own, whatever tier it names.
    assert [d.id for d in d.open_disputes(net.session, net.as_("D1a"), period, "D1")] == [second]

    # Resolved: off the queue; another period has none.
    d.resolve_dispute(net.session, owner, first, "rejected", "The figures stand.")
    assert [d.id for d in d.open_disputes(net.session, owner, period)] == [second, sub]
    assert d.open_disputes(net.session, owner, "2020-01") == []


def test_the_queue_refuses_bad_input_and_apps_not_shared(queue: Net):
    net = queue
    owner = net.as_("owner")
    for period, tier in (("2026-13", None), ("2999-01", None), (_period(net), "core")):
        with pytest.raises(Invalid):
            d.open_disputes(net.session, owner, period, tier)
    # S1 has the app (shared with all) but no statement of its own in dispute: nothing.
    assert d.open_disputes(net.session, net.as_("S1"), _period(net)) == []


def test_a_partner_without_the_app_gets_no_queue(net: Net):
    GrantFactory(chain=net.chain, app_key="reconciliation", scope_type="tier", scope_value="D1")
    with pytest.raises(Forbidden):
        d.open_disputes(net.session, net.as_("D2"), _period(net))
