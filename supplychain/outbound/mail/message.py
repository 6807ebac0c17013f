"""Messages as bytes, written by the standard library's `email` package (compat32 `email.mime`
and `email.header.Header`, as Django's mail does), so every mail system takes them.

The writer trusts nothing it is given: a line break or another control character in any header
value, name or address is refused (`HeaderRefused`, as Django's `forbid_multi_line_headers` and
`sanitize_address` do), so no text becomes a header. Callers that put people's text into a
header (a title in a subject, a person's name) pass it through `one_line` first. Headers are
folded at 76 characters: ASCII at its spaces; anything else, or ASCII with a word too long to
fold, as RFC 2047 encoded words (each at most 75 characters, on its own line of at most 76);
no line passes RFC 5322's 998. An address's domain is written in IDNA (punycode); an address
whose local part is not ASCII is written as UTF-8 and sent with SMTPUTF8 (RFC 6531/6532).
Bodies are 7bit when they are short-lined ASCII, else base64.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import base64mime
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache
from io import BytesIO

# Control characters (CR and LF above all) never reach a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LINE = 998  # RFC 5322's hard limit on a line, CRLF excluded
FOLD_AT = 76  # RFC 2047: a line with encoded words is at most 76 characters
# An ASCII word longer than this cannot be folded: the header is written as encoded words.
MAX_ASCII_WORD = FOLD_AT - len("Subject: ")


class _Policy(Compat32):
    """compat32 at 76 characters, CRLF; a short ASCII value without line breaks is written as
    it is without going through `Header` (which would return it unchanged: the same bytes,
    in a tenth of the time; every message has a dozen such headers), and a value `Header`
    already folded (`_Folded`) is not folded a second time."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if isinstance(value, _Folded):
            return f"{name}: {value}{self.linesep}"
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + 2 + len(value) <= (self.max_line_length or MAX_LINE)
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]


POLICY = _Policy(max_line_length=FOLD_AT, linesep="\r\n")
# Part boundaries: random per process, counted per message (never in base64, nor by chance in text).
_BOUNDARY_PREFIX = secrets.token_hex(8)
_boundaries = itertools.count()


class _Folded(str):
    """A header value as `Header.encode` folded it for its header (CRLF, 76 characters)."""


class HeaderRefused(ValueError):
    """A header value, name or address that cannot be written into mail; the message says why."""


@dataclass(frozen=True)
class Mail:
    """A message ready to leave: its envelope and its bytes (RFC 5322, CRLF line ends)."""

    sender: str
    recipient: str
    data: bytes
    to: str = ""  # the recipient as "name <address>", for logs
    smtputf8: bool = False  # an address is not ASCII: the server must take SMTPUTF8


def one_line(text: str) -> str:
    """People's text made fit for a header: each line break or other control character becomes
    a space (everything else is kept as it is)."""
    return _CONTROL.sub(" ", text)


def _plain(value: str) -> bool:
    """Whether a value can be written as it is: ASCII, its words short enough to fold, and
    nothing a reader would take for an encoded word ("=?")."""
    return (
        value.isascii()
        and "=?" not in value
        and all(len(word) <= MAX_ASCII_WORD for word in value.split(" "))
    )


def _refuse_controls(what: str, value: str) -> None:
    if _CONTROL.search(value):
        raise HeaderRefused(f"{what} contains a line break or another control character.")


def _folded(header: Header) -> _Folded:
    """A Header folded once, as the generator would fold it (the policy writes it as is)."""
    return _Folded(header.encode(linesep="\r\n", maxlinelen=FOLD_AT))


def header_value(name: str, value: str) -> str:
    """An unstructured header's value (a subject): ASCII as it is when its words fold, else
    encoded words. Refuses control characters."""
    _refuse_controls(name, value)
    if _plain(value):
        return value
    return _folded(Header(value, "utf-8", header_name=name))


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise HeaderRefused("The address's domain is not a valid name.") from None


def sanitize_address(header_name: str, name: str, address: str) -> tuple[str, str, bool]:
    """A `Name <address>` header value, the envelope address, and whether the address needs
    SMTPUTF8. Refuses control characters anywhere, and an address that is not one mailbox."""
    _refuse_controls(f"The name in {header_name}", name)
    _refuse_controls(f"The address in {header_name}", address)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c in address for c in ' <>,;"()[]\\'):
        raise HeaderRefused(f"The address in {header_name} is not one mailbox.")
    domain = _ascii_domain(domain) if local.isascii() else domain
    envelope = f"{local}@{domain}"
    if not name:
        shown = name
    elif _plain(name):
        shown = formataddr((name, "x@x"))[: -len(" <x@x>")]  # quoted where it must be
    else:
        shown = None
    if local.isascii():
        value = Header(header_name=header_name)
        if shown is None:
            value.append(name, "utf-8")
        elif shown:
            value.append(shown, "us-ascii")
        value.append(f"<{envelope}>", "us-ascii")
        return _folded(value), envelope, False
    # RFC 6532: the address itself as UTF-8 (written as is: the generator passes surrogate-
    # escaped bytes through), the name folded on lines of its own before it.
    raw = envelope.encode("utf-8").decode("ascii", "surrogateescape")
    if shown is None:
        shown = Header(name, "utf-8", header_name=header_name).encode(
            linesep="\r\n", maxlinelen=FOLD_AT
        )
    text = f"{shown}\r\n <{raw}>" if shown else f"<{raw}>"
    return text, envelope, True


def _text_part(subtype: str, text: str) -> Message:
    """A text/<subtype> UTF-8 part: 7bit when it is short-lined ASCII, else base64 (what
    `MIMEText` makes, without its parameter parsing)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    part = Message(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    if text.isascii() and all(len(line) <= MAX_LINE for line in text.split("\n")):
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(text)
    else:
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64mime.body_encode(text.encode("utf-8")))
    return part


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
    """A multipart/alternative message (plain text, then HTML) to one person; with
    `unsubscribe_url`, the RFC 8058 one-click unsubscribe headers. Raises HeaderRefused (a
    ValueError) for a value that cannot be a header."""
    from_value, from_address, from_utf8 = sender_header(sender)
    to_value, to_envelope, to_utf8 = sanitize_address("To", to_name, to_address)
    message = Message(policy=POLICY)
    message["From"] = from_value
    message["To"] = to_value
    message["Subject"] = header_value("Subject", subject)
    message["Date"] = format_datetime(datetime.now().astimezone())
    domain = from_address.rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=_ascii_domain(domain))
    message["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    if unsubscribe_url:
        _refuse_controls("List-Unsubscribe", unsubscribe_url)
        if not unsubscribe_url.isascii() or len(unsubscribe_url) > MAX_LINE - 30:
            raise HeaderRefused("The unsubscribe link is not a short ASCII URL.")
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["MIME-Version"] = "1.0"
    boundary = f"=_sc_{_BOUNDARY_PREFIX}_{next(_boundaries)}"
    message["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    message.attach(_text_part("plain", text))
    message.attach(_text_part("html", html))
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=POLICY).flatten(message)
    return Mail(
        from_address,
        to_envelope,
        buffer.getvalue(),
        f"{to_name} <{to_address}>",
        from_utf8 or to_utf8,
    )


@lru_cache(maxsize=8)
def sender_header(setting: str) -> tuple[str, str, bool]:
    """The From value, the envelope sender and whether it needs SMTPUTF8, of `MAIL_FROM`."""
    _refuse_controls("MAIL_FROM", setting)  # parseaddr would quietly drop what follows
    name, address = parseaddr(setting)
    return sanitize_address("From", name, address or setting)
