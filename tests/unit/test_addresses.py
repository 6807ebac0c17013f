"""The public-address rule and URL checks behind the webhook SSRF guard."""

import ipaddress

import pytest

from supplychain.net import addresses
from supplychain.net.addresses import UrlRefused, check_url, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2001:db8::1",
    ],
)
def test_special_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


def test_a_name_is_judged_by_every_address_it_resolves_to(monkeypatch):
    answers = {"mixed.example": ["93.184.215.14", "10.0.0.5"], "fine.example": ["8.8.4.4"]}
    monkeypatch.setattr(
        addresses.socket,
        "getaddrinfo",
        lambda host, port, **kw: [(2, 1, 6, "", (a, port)) for a in answers[host]],
    )
    with pytest.raises(UrlRefused, match="private"):
        check_url("https://mixed.example/hook", allow_private=False)
    check_url("https://fine.example/hook", allow_private=False)
    check_url("https://mixed.example/hook", allow_private=True)


def test_a_name_that_does_not_resolve_now_is_checked_at_delivery(monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("no such name")

    monkeypatch.setattr(addresses.socket, "getaddrinfo", fail)
    check_url("https://not-yet.example/hook", allow_private=False)
    assert addresses.resolve("not-yet.example", 443) == []


@pytest.mark.parametrize(
    "url",
    ["http://localhost/x", "http://api.localhost/x", "https://LocalHost./x"],
)
def test_localhost_names_are_refused_whatever_dns_says(url):
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=False)
