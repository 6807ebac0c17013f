"""What every mail the service writes must be, checked on its bytes: the standard library parses
it without a defect, no line passes RFC 5322's 998 octets, RFC 2047's limits hold (an encoded
word at most 75 characters, a line holding one at most 76), one recipient in `To` and none
hidden (no Bcc, no Cc), and names and subjects decode back to the text they were written from
(adjacent encoded words joined, as RFC 2047 §6.2 says)."""

from __future__ import annotations

import re
from email import message_from_bytes, message_from_string, policy
from email.errors import NonASCIILocalPartDefect
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import unquote

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def raw_headers(data: bytes) -> dict[str, list[str]]:
    """Each header's raw values (unfolded: CRLF removed, RFC 5322 §2.2.3), by lower-case name."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    found: dict[str, list[str]] = {}
    for field in re.split(r"\r\n(?![ \t])", head):
        name, _colon, value = field.partition(":")
        found.setdefault(name.strip().lower(), []).append(value.replace("\r\n", "")[1:])
    return found


def decoded(raw: str) -> str:
    """An unstructured value as a reader sees it: encoded words decoded, adjacent ones joined."""
    return str(make_header(decode_header(raw)))


def display_name(raw_to: str) -> tuple[str, str]:
    """The (name, address) of a `To` value holding one mailbox, the name decoded or unquoted."""
    name, _lt, address = raw_to.rpartition("<")
    assert address.endswith(">"), raw_to
    name = name.strip()
    if name.startswith("=?"):
        name = decoded(name)
    elif name.startswith('"'):
        assert name.endswith('"'), raw_to
        name = unquote(name)  # and unescaped
    return name, address[:-1]


def check_mail(data: bytes, smtputf8: bool = False) -> tuple[EmailMessage, dict[str, list[str]]]:
    """Assert that `data` is a well-formed message; return it parsed and its raw headers."""
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    if not smtputf8:
        assert data.isascii()
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        words = ENCODED_WORD.findall(line)
        assert all(len(word) <= 75 for word in words), line
        if words:
            assert len(line) <= 76, line
    if smtputf8:
        message = message_from_string(data.decode("utf-8"), policy=policy.default)
    else:
        message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    defects = list(message.defects)
    for name in message:
        defects += message[name].defects
    for part in message.walk():
        defects += part.defects
    # RFC 6532 allows a UTF-8 local part; RFC 5322's parser flags it, and nothing else is allowed.
    allowed = (NonASCIILocalPartDefect,) if smtputf8 else ()
    assert [d for d in defects if not isinstance(d, allowed)] == []
    headers = raw_headers(data)
    assert "bcc" not in headers and "cc" not in headers
    assert len(headers["to"]) == 1 and len(headers["subject"]) == 1
    assert len(message["To"].addresses) == 1
    return message, headers
