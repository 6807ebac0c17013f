"""Every request to a company IdP (discovery, token, JWKS, userinfo) goes out here: through the
webhooks' guarded transport (the host is resolved and checked at connect time, so no private or
loopback address is reached unless SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE=1), no proxy from the
environment, no redirects followed, a timeout on every step and a cap on the answer's size.

The guarded transport and the address rule are imported here and nowhere else in the SSO code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import current_app

from supplychain.net.addresses import UrlRefused, check_url
from supplychain.net.transport import GuardedTransport

__all__ = [
    "AnswerTooLarge",
    "UrlRefused",
    "allow_private",
    "check_browser_url",
    "check_idp_url",
    "idp_client",
]

TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 512 * 1024
USER_AGENT = "supplychain-sso/1"


class AnswerTooLarge(httpx.HTTPError):
    """The IdP's answer was larger than MAX_ANSWER_BYTES: it is dropped unread."""


def allow_private() -> bool:
    """Whether http and private or loopback addresses are allowed (tests, private networks)."""
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE"])


def check_idp_url(url: str, private_ok: bool) -> None:
    """Refuse (UrlRefused) an IdP address that is not https (http only when private addresses
    are allowed), or that the webhooks' address rule refuses."""
    if not private_ok and urlsplit(url).scheme.lower() != "https":
        raise UrlRefused(
            "Only https addresses are allowed (http only with SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE=1)."
        )
    check_url(url, private_ok)


def check_browser_url(url: str, private_ok: bool) -> None:
    """Refuse (UrlRefused) an address the person's browser is sent to that is not https (http
    only when private addresses are allowed), too long, or not a plain URL; its host is not
    resolved, as this server never connects to it."""
    check_url(url, allow_private=True)
    if not private_ok and urlsplit(url).scheme.lower() != "https":
        raise UrlRefused(
            "Only https addresses are allowed (http only with SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE=1)."
        )


class _CappedClient(httpx.Client):
    """httpx's client reading at most MAX_ANSWER_BYTES of any answer (then dropping it)."""

    def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        response = super().send(request, stream=True, **kwargs)
        if stream:
            return response
        raw = bytearray()
        try:
            for chunk in response.iter_raw():
                raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    raise AnswerTooLarge(f"The answer is larger than {MAX_ANSWER_BYTES} bytes.")
        finally:
            response.close()
        capped = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(raw),
            request=request,
            extensions=response.extensions,
        )
        capped.read()
        return capped


def idp_client(private_ok: bool) -> httpx.Client:
    """A short-lived client for the requests of one sign-in or one check."""
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    return _CappedClient(
        transport=GuardedTransport(private_ok, limits),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would bypass the address guard
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
    )
