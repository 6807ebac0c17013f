"""Every header of every mail kind (notifications, digests, password reset) written from hostile
values stays well-formed, names its one recipient only, and decodes back to what it says."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from supplychain.outbound.deliveries import Claimed
from supplychain.outbound.mail.message import HeaderRefused, compose, one_line
from supplychain.outbound.mail.sending import _ChainFacts, _Person, _Writer, password_reset_message
from supplychain.outbound.mail.unsubscribe import unsubscribe_token, unsubscribe_user_id
from tests.mailcheck import check_mail, decoded, display_name

CONFIG = {
    "BASE_URL": "https://sc.example",
    "SECRET_KEY": "test-secret",
    "MAIL_FROM": '"华夏供应链 Huaxia, \\"Supply\\"" <noreply@huaxia.example>',
}
NAMES = [
    "张" * 200,
    "伟" * 199 + "A",
    'Li, "Wei" <boss@evil.example>',
    "O'Brien (Sales), Ltd; \\ back",
    "Zhang Wei",
    "X" * 200,
    "José Müller-Lüdenscheidt",
    "",
    "Line\r\nBcc: victim@evil.example",
]
TITLES = [
    "五月" + "长" * 198,
    "W" * 200,
    'Allocation, "urgent" <b>now</b> =?utf-8?b?Zm9v?=',
    "Brake pads\r\nBcc: victim@evil.example",
    "Short",
]
ADDRESSES = ["zhang.wei@huaxia-motor.example", "张伟@例子.中国", "li@bücher.example"]
CHAINS = ["华夏" * 100, 'Acme, "Chain" <x>']


def notice(chain_id: int, title: str, event_id: int) -> Claimed:
    return Claimed(
        id=event_id,
        channel="email",
        event_id=event_id,
        event_type="notice.published",
        chain_id=chain_id,
        occurred_at=datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
        data={"id": "41", "kind": "supply", "title": title},
        attempts=0,
        user_id=7,
    )


def expect_recipient(headers: dict[str, list[str]], name: str, address: str) -> None:
    shown, written = display_name(headers["to"][0])
    assert shown == one_line(name)
    local, _at, domain = address.rpartition("@")
    if local.isascii():
        assert written == f"{local}@{domain.encode('idna').decode('ascii')}"
    else:
        assert written == address


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_notifications_and_digests_from_hostile_values(lang):
    chains = {i: _ChainFacts(name, "Asia/Shanghai") for i, name in enumerate(CHAINS, 1)}
    writer = _Writer(CONFIG, chains)
    ids = itertools.count(1)
    for (name, address), title, chain_id in itertools.product(
        zip(NAMES, itertools.cycle(ADDRESSES)), TITLES, chains
    ):
        person = _Person(7, name, address, lang)
        one = writer.message(person, [notice(chain_id, title, next(ids))])
        message, headers = check_mail(one.data, one.smtputf8)
        expect_recipient(headers, name, address)
        subject = decoded(headers["subject"][0])
        assert subject.startswith(f"[{chains[chain_id].name}] ")
        assert subject.endswith(one_line(title))
        assert "\r" not in str(message["Subject"]) and "\n" not in str(message["Subject"])
        assert one.recipient.partition("@")[0] == address.partition("@")[0]
        assert one.smtputf8 == (not address.partition("@")[0].isascii())

        digest = writer.message(
            person, [notice(chain_id, title, next(ids)), notice(chain_id, "B" * 200, next(ids))]
        )
        _message, headers = check_mail(digest.data, digest.smtputf8)
        expect_recipient(headers, name, address)
        assert "2" in decoded(headers["subject"][0])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_password_reset_from_hostile_values(lang):
    for name, address in zip(NAMES, itertools.cycle(ADDRESSES)):
        user = SimpleNamespace(id=7, name=name, email=address, language=lang)
        mail = password_reset_message(CONFIG, user, "t" * 43)
        _message, headers = check_mail(mail.data, mail.smtputf8)
        expect_recipient(headers, name, address)
        assert (
            decoded(headers["subject"][0])
            == {"en": "Reset your password", "zh": "重置您的密码"}[lang]
        )
        assert display_name(headers["from"][0]) == (
            '华夏供应链 Huaxia, "Supply"',
            "noreply@huaxia.example",
        )


def write(**changes: str):
    values = {
        "sender": "Huaxia <noreply@huaxia.example>",
        "to_name": "Zhang Wei",
        "to_address": "zhang@huaxia.example",
        "subject": "Hello",
        "lang": "en",
        "text": "text",
        "html": "<p>html</p>",
        "unsubscribe_url": "https://sc.example/unsubscribe/x",
    }
    return compose(**{**values, **changes})


@pytest.mark.parametrize(
    "field,value",
    [
        ("to_address", "zhang@huaxia.example\r\nBcc: victim@evil.example"),
        ("to_address", "zhang@huaxia.example\nBcc: victim@evil.example"),
        ("to_address", "zhang@huaxia.example, victim@evil.example"),
        ("to_address", "Zhang <zhang@huaxia.example>"),
        ("to_address", "no-at-sign"),
        ("to_name", "Zhang\r\nBcc: victim@evil.example"),
        ("to_name", "Zhang\x00"),
        ("subject", "Hello\nBcc: victim@evil.example"),
        ("subject", "Hello\r"),
        ("sender", "Huaxia <noreply@huaxia.example>\r\nBcc: victim@evil.example"),
        ("unsubscribe_url", "https://sc.example/u\r\nBcc: victim@evil.example"),
    ],
)
def test_the_writer_refuses_line_breaks_and_extra_recipients(field, value):
    with pytest.raises(HeaderRefused):
        write(**{field: value})


def test_long_unbroken_ascii_is_encoded_and_folded():
    mail = write(subject="W" * 1200, to_name="N" * 300)
    _message, headers = check_mail(mail.data)
    assert decoded(headers["subject"][0]) == "W" * 1200
    assert display_name(headers["to"][0]) == ("N" * 300, "zhang@huaxia.example")


def test_short_ascii_stays_readable():
    mail = write(subject="New notice: Brake pads", to_name='Li, "Wei"')
    assert b"\r\nSubject: New notice: Brake pads\r\n" in mail.data
    assert b'\r\nTo: "Li, \\"Wei\\"" <zhang@huaxia.example>\r\n' in mail.data
    check_mail(mail.data)


def test_bodies_are_7bit_ascii_or_base64():
    mail = write(text="plain ascii\n", html="<p>" + "y" * 2000 + "</p>")
    message, _headers = check_mail(mail.data)
    plain, html = list(message.iter_parts())
    assert plain["Content-Transfer-Encoding"] == "7bit"
    assert html["Content-Transfer-Encoding"] == "base64"  # a line past 998
    assert html.get_content() == "<p>" + "y" * 2000 + "</p>"
    chinese = write(text="你好\n")
    message, _headers = check_mail(chinese.data)
    assert next(message.iter_parts()).get_content() == "你好\n"


def test_unsubscribe_tokens_are_plain_itsdangerous_and_old_links_still_work():
    from itsdangerous import URLSafeSerializer

    token = unsubscribe_token("k", 42)
    assert token == URLSafeSerializer("k", salt="unsubscribe").dumps({"u": 42})
    # Signed before, without trying zlib: the same token.
    assert token == "eyJ1Ijo0Mn0.Wgbf8ko4bjedRMaYw13wzsXX9SE"
    assert unsubscribe_user_id("k", token) == 42
    assert unsubscribe_user_id("other", token) is None
    assert unsubscribe_user_id("k", token[:-2]) is None
