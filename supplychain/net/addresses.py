"""Where outbound HTTP may go: the shape of a webhook URL and the public-address rule (SSRF).

A webhook URL is checked when it is registered and again on every connection the sender opens
(DNS can change between the two, or answer differently to each lookup): the sender's transport
resolves the host itself, checks every address and connects only to an address it checked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PRIVATE = "The host resolves to a loopback, private, link-local or reserved address."


class UrlRefused(ValueError):
    """A URL that may not be used for outbound HTTP; the message says why."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, Teredo, NAT64), if any: those
    reach the IPv4 address, so they are judged by it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private, link-local, multicast,
    reserved, unspecified or otherwise special (IPv6 forms of an IPv4 address judged by it)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    special = (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to (an IP literal is itself); [] when it does not resolve."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the zone is no part of the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def refused_addresses(addresses: list[IPAddress]) -> list[IPAddress]:
    """The addresses among `addresses` that outbound HTTP must not reach."""
    return [address for address in addresses if not is_public(address)]


def check_url(url: str, allow_private: bool) -> None:
    """Refuse (UrlRefused) a URL that is not http(s), too long, carries credentials or a bad
    port, or whose host resolves to a non-public address (unless `allow_private`).

    A host that does not resolve now is accepted: every delivery resolves and checks again."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"At most {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UrlRefused("Not a valid URL: use ASCII without spaces (punycode for names).")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UrlRefused("Only http and https URLs are allowed.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UrlRefused("Not a valid URL: bad port.") from None
    if not host:
        raise UrlRefused("Not a valid URL: no host.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Credentials in the URL are not allowed.")
    if allow_private:
        return
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise UrlRefused(PRIVATE)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    if refused_addresses(resolve(host, port or default_port)):
        raise UrlRefused(PRIVATE)
