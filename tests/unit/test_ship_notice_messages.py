"""What mail and WeCom robots say of ship notice events: headline, status, link to the page."""

from datetime import UTC, datetime
from types import SimpleNamespace

from supplychain.outbound.deliveries import Claimed
from supplychain.outbound.mail.content import describe_event
from supplychain.outbound.robot import robot_markdown

BASE = "https://sc.example.com"
DATA = {"id": "9", "number": "SN-20261207-ABC123", "status": "partially_received"}


def _claimed(event_type: str) -> Claimed:
    return Claimed(
        id=1, channel="email", event_id=1, event_type=event_type, chain_id=3,
        occurred_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC), data=DATA, attempts=0,
    )  # fmt: skip


def test_robot_messages_name_the_notice_and_link_to_it():
    zh = robot_markdown("ship_notice.received", 3, DATA, "zh", BASE)
    assert zh.startswith("**送货单已签收**")
    assert zh.endswith(f"({BASE}/chains/3/ship-notices/9)")
    en = robot_markdown("ship_notice.issued", 3, DATA, "en", BASE)
    assert en.startswith("**Ship notice issued**")


def test_mail_headlines_in_both_languages():
    chain = SimpleNamespace(name="Acme dealers", timezone="Asia/Shanghai")
    en = describe_event(_claimed("ship_notice.issued"), chain, "en", BASE)
    assert en.headline == "Ship notice SN-20261207-ABC123 issued"
    assert en.link == f"{BASE}/chains/3/ship-notices/9"
    zh = describe_event(_claimed("ship_notice.cancelled"), chain, "zh", BASE)
    assert zh.headline == "送货单 SN-20261207-ABC123 已取消"
    assert ("状态", "部分签收") in zh.facts
