"""Messages as bytes: RFC 5322 headers and a multipart/alternative body (text, then HTML)."""

from __future__ import annotations

import base64
import itertools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache

# --- messages as bytes -------------------------------------------------------------------------

# Control characters (CR and LF above all) never reach a header: a title cannot add headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_LINE = 998  # RFC 5322: a line longer than this is sent base64-encoded
# Part boundaries: random per process, counted per message (never in base64, nor by chance in text).
_BOUNDARY_PREFIX = secrets.token_hex(12)
_boundaries = itertools.count()


@dataclass(frozen=True)
class Mail:
    """A message ready to leave: its envelope and its bytes (RFC 5322, CRLF line ends)."""

    sender: str
    recipient: str
    data: bytes
    to: str = ""  # the To header as written, for logs
    smtputf8: bool = False  # an address is not ASCII: the server must take SMTPUTF8


def _header(name: str, value: str) -> str:
    """One header line: ASCII as is (folded at spaces when long), anything else as RFC 2047
    encoded words, one per folded line."""
    value = _CONTROL.sub(" ", value)
    if value.isascii():
        return _fold(f"{name}: {value}")
    return f"{name}: " + "\r\n ".join(_encoded_words(value))


def _fold(line: str, width: int = 78) -> str:
    """An ASCII header line folded at spaces into lines of about `width`."""
    if len(line) <= width:
        return line
    lines, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n ".join(lines)


def _encoded_words(text: str, size: int = 45) -> list[str]:
    """`text` as `=?utf-8?b?...?=` words of at most `size` bytes each (a word stays within the
    75 characters RFC 2047 allows; characters are never cut in two)."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > size:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words]


def _address(name: str, address: str) -> tuple[str, bool]:
    """`Name <address>` for a header (the name encoded when not ASCII) and whether the address
    itself needs SMTPUTF8."""
    name = _CONTROL.sub(" ", name).strip()
    if name and not name.isascii():
        name_part = " ".join(_encoded_words(name))
    elif name:
        name_part = formataddr((name, "x"))[: -len(" <x>")]  # quoted where it must be
    else:
        name_part = ""
    shown = f"{name_part} <{address}>" if name_part else address
    return shown, not address.isascii()


def _text_part(subtype: str, text: str) -> bytes:
    """A text/<subtype> UTF-8 part: 7bit when it is short-lined ASCII, else base64."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\r\n".join(lines) + "\r\n"
    if body.isascii() and all(len(line) <= MAX_LINE for line in lines):
        encoding, payload = "7bit", body.encode("ascii")
    else:
        encoding = "base64"
        payload = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode("ascii") + payload


def compose(
    *,
    sender: str,
    to_name: str,
    to_address: str,
    subject: str,
    lang: str,
    text: str,
    html: str,
    unsubscribe_url: str | None = None,
) -> Mail:
    """A multipart/alternative message (plain text, then HTML); with `unsubscribe_url`, the
    RFC 8058 one-click unsubscribe headers."""
    from_header, from_address, from_utf8 = _sender(sender)
    to_header, to_utf8 = _address(to_name, to_address)
    boundary = f"=_sc_{_BOUNDARY_PREFIX}_{next(_boundaries)}"
    domain = from_address.rpartition("@")[2]
    lines = [
        f"From: {from_header}",
        f"To: {to_header}",
        _header("Subject", subject),
        f"Date: {format_datetime(datetime.now().astimezone())}",
        f"Message-ID: {make_msgid(domain=domain if domain.isascii() and domain else None)}",
        f"Content-Language: {'zh-CN' if lang == 'zh' else 'en'}",
    ]
    if unsubscribe_url:
        lines.append(f"List-Unsubscribe: <{_CONTROL.sub('', unsubscribe_url)}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8" if to_utf8 or from_utf8 else "ascii")
    dash = f"--{boundary}\r\n".encode("ascii")
    data = b"".join(
        (
            head,
            dash,
            _text_part("plain", text),
            dash,
            _text_part("html", html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )
    return Mail(from_address, to_address, data, to_header, from_utf8 or to_utf8)


@lru_cache(maxsize=8)
def _sender(setting: str) -> tuple[str, str, bool]:
    """The From header, the envelope sender and whether it needs SMTPUTF8, of `MAIL_FROM`."""
    name, address = parseaddr(setting)
    address = address or setting
    header, utf8 = _address(name, address)
    return header, address, utf8
