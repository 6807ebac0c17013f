"""Mail written from hostile names, titles and addresses, as a real SMTP server receives it:
well-formed, to its one recipient only; an address that cannot be written fails its own
delivery and nobody else's; the CLI refuses such an address as the API does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from supplychain.cli import main
from supplychain.extensions import db
from supplychain.models import User
from supplychain.outbound.mail.sending import send_email_deliveries
from tests.integration.test_email import BASE, NOTICE, claim
from tests.mailcheck import check_mail, decoded, display_name
from tests.mailserver import Collector, app_mailing_to_server

LONG_CHINESE_NAME = "张" * 200
QUOTED_NAME = 'Li, "Wei" <boss@evil.example>'
CHINESE_ADDRESS = "李伟@例子.中国"


@pytest.fixture
def smtp(app, monkeypatch) -> Iterator[Collector]:
    with app_mailing_to_server(app, monkeypatch, BASE) as collector:
        yield collector


def rename(app, user_id: str, name: str, email: str | None = None) -> None:
    with app.app_context():
        user = db.session.get(User, int(user_id))
        user.name = name
        if email is not None:
            user.email = email
        db.session.commit()


def test_hostile_names_and_titles_arrive_well_formed(app, world, smtp):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    rename(app, d1a.user_id, LONG_CHINESE_NAME)
    rename(app, d1b.user_id, QUOTED_NAME, CHINESE_ADDRESS)
    long_title = "五月" + "长" * 198
    hostile_title = "W" * 200 + "\r\nBcc: victim@evil.example"
    first = claim(app, world, d1a.user_id, "notice.published", {**NOTICE, "title": long_title})
    second = claim(app, world, d1b.user_id, "notice.published", {**NOTICE, "title": hostile_title})
    digest = claim(app, world, d1a.user_id, "order.issued", {"id": "7", "number": "PO-1"})

    outcomes = send_email_deliveries(app, [first, second, digest])

    assert all(outcome.ok for outcome in outcomes.values()), outcomes
    by_rcpt = {m.recipients[0]: m for m in smtp.messages}
    assert sorted(by_rcpt) == sorted([d1a.email, CHINESE_ADDRESS])
    assert "victim@evil.example" not in b"".join(m.raw for m in smtp.messages).decode()

    received = by_rcpt[d1a.email]
    _message, headers = check_mail(received.raw)
    assert display_name(headers["to"][0]) == (LONG_CHINESE_NAME, d1a.email)
    assert "2" in decoded(headers["subject"][0])  # the digest: both of theirs in one message

    received = by_rcpt[CHINESE_ADDRESS]
    _message, headers = check_mail(received.raw, smtputf8=True)
    assert display_name(headers["to"][0]) == (QUOTED_NAME, CHINESE_ADDRESS)
    assert decoded(headers["subject"][0]).endswith("W" * 200 + "  Bcc: victim@evil.example")


def test_an_address_with_a_line_break_fails_its_own_delivery_only(app, world, smtp):
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    rename(app, d1a.user_id, "Zhang", d1a.email + "\r\nBcc: victim@evil.example")
    bad = claim(app, world, d1a.user_id, "notice.published", NOTICE)
    good = claim(app, world, d1b.user_id, "notice.published", NOTICE)

    outcomes = send_email_deliveries(app, [bad, good])

    assert outcomes[good.id].ok
    assert not outcomes[bad.id].ok and not outcomes[bad.id].retry
    assert "cannot be written" in (outcomes[bad.id].error or "")
    assert [m.recipients for m in smtp.messages] == [[d1b.email]]


def test_a_sender_setting_with_a_line_break_fails_no_one_for_good(app, world, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_FROM", "SC <sc@sc.example>\r\nBcc: victim@evil.example")
    claimed = claim(app, world, world.parties["D1a"].user_id, "notice.published", NOTICE)

    outcome = send_email_deliveries(app, [claimed])[claimed.id]

    assert not outcome.ok and outcome.retry and "MAIL_FROM" in (outcome.error or "")
    assert smtp.messages == []


@pytest.mark.parametrize(
    "email",
    ["boss@huaxia.example\r\nBcc: victim@evil.example", "boss@huaxia.example\n", "not-an-email"],
)
def test_bootstrap_refuses_an_email_the_api_refuses(email):
    result = CliRunner().invoke(
        main,
        ["bootstrap", "--org-name", "Acme", "--email", email, "--name", "Boss", "--password", "x"],
    )
    assert result.exit_code == 2
    assert "Not a valid email address." in result.output
