"""The reconciliation service's rules that need no run: schedules, tiers and periods."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supplychain.errors import Forbidden, Invalid, NotFound
from supplychain.models import AuditEvent
from supplychain.services.reconciliation import ledger, schedules
from supplychain.services.reconciliation.schedules import ScheduleSpec
from tests.integration.conftest import Net

SH = ZoneInfo("Asia/Shanghai")


def _put(net: Net, who: str = "owner", **spec):
    values = {"frequency": "monthly", "day": 1, "hour": 2, "tiers": None, "enabled": True, **spec}
    return schedules.put_schedule(net.session, net.as_(who), ScheduleSpec(**values))


def test_a_schedule_is_set_and_replaced_by_owner_admins_only(net: Net):
    with pytest.raises(NotFound):
        schedules.get_schedule(net.session, net.as_("owner"))
    monthly = _put(net, day=31, hour=23, tiers=["D1", "U1", "D1"])
    assert (monthly.frequency, monthly.day, monthly.hour) == ("monthly", 31, 23)
    assert monthly.tiers == ["U1", "D1"]  # deduplicated, upstream first
    weekly = _put(net, frequency="weekly", day=7, hour=0, enabled=False)
    assert weekly.id == monthly.id and weekly.tiers is None and weekly.enabled is False
    got = schedules.get_schedule(net.session, net.as_("owner"))
    assert (got.frequency, got.day) == ("weekly", 7)
    for who in ("staff", "D1a"):
        with pytest.raises(Forbidden):
            _put(net, who=who)
        with pytest.raises(Forbidden):
            schedules.get_schedule(net.session, net.as_(who))
    actions = net.session.scalars(
        select(AuditEvent.action).where(AuditEvent.chain_id == net.chain.id)
    ).all()
    assert actions.count("reconciliation.schedule") == 2


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"day": 0}, "day"),
        ({"day": 32}, "day"),
        ({"frequency": "weekly", "day": 8}, "day"),
        ({"frequency": "weekly", "day": 0}, "day"),
        ({"hour": 24}, "hour"),
        ({"hour": -1}, "hour"),
        ({"tiers": ["core"]}, "tiers"),
        ({"tiers": ["unlinked"]}, "tiers"),
        ({"tiers": ["X1"]}, "tiers"),
        ({"tiers": []}, "tiers"),
    ],
)
def test_a_bad_schedule_names_its_field_and_saves_nothing(net: Net, spec: dict, field: str):
    with pytest.raises(Invalid) as bad:
        _put(net, **spec)
    assert set(bad.value.errors) == {field}
    with pytest.raises(NotFound):
        schedules.get_schedule(net.session, net.as_("owner"))


def test_only_tiers_present_upstream_or_downstream_are_reconciled(net: Net):
    d1 = ledger.check_tier(net.session, net.chain, "D1")
    assert d1 == {net.org("D1a"), net.org("D1b")}
    assert ledger.check_tier(net.session, net.chain, "U1") == {net.org("S1")}
    for tier in ("core", "unlinked", "D3", "U2", "Z1"):
        with pytest.raises(Invalid):
            ledger.check_tier(net.session, net.chain, tier)
    assert [ledger.nearer_tier(t) for t in ("D2", "D1", "U1", "U3")] == [
        "D1",
        "core",
        "core",
        "U2",
    ]


def test_a_period_is_well_formed_and_has_started():
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert ledger.check_period("2026-03", SH, now).label == "2026-03"
    assert ledger.check_period("2026-W11", SH, now).label == "2026-W11"
    for label in ("2026-13", "2026-W60", "march", "２０２６-01", "2026-04", "2026-W12"):
        with pytest.raises(Invalid) as bad:
            ledger.check_period(label, SH, now)
        assert set(bad.value.errors) == {"period"}, label
