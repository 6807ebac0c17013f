"""The notices service: audiences, inbox counts, acknowledgments, withdrawal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.models import Notice, NoticeRecipient
from supplychain.services import inbox as inbox_service
from supplychain.services import notice_answers, notices
from supplychain.services.notices import Audience, NewItem
from tests.integration.conftest import Net


def _send(net: Net, who: str = "owner", title: str = "Brake pads for May", **audience) -> Notice:
    return notices.broadcast_notice(
        net.session,
        net.as_(who),
        kind="supply",
        title=title,
        body="Tell us how many you need.",
        items=[NewItem("BRK-100", Decimal("500")), NewItem("BRK-200", Decimal("300"))],
        audience=Audience(**audience),
        requires_ack=True,
        ack_due=None,
    )


def _recipients(net: Net, notice: Notice) -> set[str]:
    ids = set(
        net.session.scalars(
            select(NoticeRecipient.org_id).where(NoticeRecipient.notice_id == notice.id)
        )
    )
    return {key for key, org in net.orgs.items() if org.id in ids}


def test_a_notice_to_a_tier_reaches_that_tier_only(net: Net):
    notice = _send(net, tiers=["D1"])
    assert _recipients(net, notice) == {"D1a", "D1b"}
    assert notice.recipients_count == 2


def test_an_audience_is_the_union_of_its_parts_minus_the_sender(net: Net):
    union = _send(net, tiers=["U1"], groups=["Dealers/North China"], orgs=[net.org("D1b")])
    assert _recipients(net, union) == {"S1", "D1a", "D1b", "D2"}
    everyone = _send(net, all=True)
    assert _recipients(net, everyone) == {"S1", "D1a", "D1b", "D2"}
    with pytest.raises(Invalid, match="matches nobody"):
        _send(net, orgs=[net.org("owner")])


def test_an_audience_naming_what_the_chain_does_not_have_is_refused(net: Net):
    with pytest.raises(Invalid) as bad:
        _send(net, tiers=["D9"], groups=["Nowhere"], orgs=[net.org("outsider")])
    assert set(bad.value.errors["audience"]) == {"tiers", "groups", "orgs"}
    assert net.session.scalar(select(Notice.id)) is None


def test_partners_address_only_the_owner_and_the_orgs_they_link_to(net: Net):
    up_and_down = _send(net, who="D1a", orgs=[net.org("owner"), net.org("D2")])
    assert _recipients(net, up_and_down) == {"owner", "D2"}
    with pytest.raises(Forbidden):
        _send(net, who="D1a", orgs=[net.org("D1b")])
    with pytest.raises(Forbidden):
        _send(net, who="D1a", tiers=["D2"])


def test_inbox_counts_follow_reads_and_acknowledgments_per_org(net: Net):
    first = _send(net, tiers=["D1"], title="First")
    _send(net, tiers=["D1"], title="Second")
    d1a = net.as_("D1a")

    def inbox(access, state=None):
        return inbox_service.inbox_page(net.session, access, state, 1, 50)

    assert [n["title"] for n in inbox(d1a).items] == ["Second", "First"]
    assert (inbox(d1a, "unread").total, inbox(d1a, "unacked").total) == (2, 2)
    notices.open_notice(net.session, d1a, first.id)
    assert (inbox(d1a, "unread").total, inbox(d1a, "unacked").total) == (1, 2)
    notice_answers.acknowledge_notice(net.session, d1a, first.id, None)
    assert (inbox(d1a, "unread").total, inbox(d1a, "unacked").total) == (1, 1)
    # Another recipient org keeps its own state.
    assert (inbox(net.as_("D1b"), "unread").total, inbox(net.as_("D1b")).total) == (2, 2)
    assert inbox(net.as_("D2")).total == 0
    sent_page = inbox_service.sent_page(net.session, net.as_("owner"), None, 1, 50)
    sent = {n["title"]: n["counts"] for n in sent_page.items}
    assert sent["First"] == {"recipients": 2, "read": 1, "acked": 1, "responded": 0}
    assert sent["Second"] == {"recipients": 2, "read": 0, "acked": 0, "responded": 0}
    with pytest.raises(Invalid):
        inbox(d1a, "starred")


def test_a_second_acknowledgment_returns_the_first(net: Net):
    notice = _send(net, tiers=["D1"])
    first, created = notice_answers.acknowledge_notice(
        net.session, net.as_("D1a"), notice.id, "Got it"
    )
    assert created and first.acked_at is not None and first.read_at is not None
    again, created_again = notice_answers.acknowledge_notice(
        net.session, net.as_("D1a"), notice.id, "Again"
    )
    assert not created_again
    assert (again.acked_at, again.ack_note) == (first.acked_at, "Got it")


def test_only_recipients_acknowledge_and_a_withdrawn_notice_takes_no_new_ones(net: Net):
    notice = _send(net, tiers=["D1"])
    with pytest.raises(NotFound):
        notice_answers.acknowledge_notice(net.session, net.as_("S1"), notice.id, None)
    notice_answers.acknowledge_notice(net.session, net.as_("D1a"), notice.id, None)
    with pytest.raises(Forbidden):
        notices.withdraw_notice(net.session, net.as_("D1a"), notice.id)
    notices.withdraw_notice(net.session, net.as_("owner"), notice.id)
    with pytest.raises(Conflict):
        notice_answers.acknowledge_notice(net.session, net.as_("D1b"), notice.id, None)
    # The acknowledgment given before the withdrawal stands.
    _row, created = notice_answers.acknowledge_notice(net.session, net.as_("D1a"), notice.id, None)
    assert not created
    with pytest.raises(Conflict):
        notices.withdraw_notice(net.session, net.as_("owner"), notice.id)
