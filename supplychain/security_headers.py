"""Security headers on every response: what a browser may load into a page, who may frame it.

Pages carry no script and no inline style at all, so their policy allows only files from this
site ('self'): an injected `<script>` or `style=` is refused by the browser, and no other site
may put a page in a frame (clickjacking of the order-acknowledgment form, say). Everything else
(JSON, files, drawings) is no page: its policy allows nothing to load and no framing either.

Written here rather than with flask-talisman: talisman redirects to HTTPS and overrides the
session cookie's Secure setting (both already decided elsewhere: the proxy terminates TLS, the
cookie follows `SUPPLYCHAIN_COOKIE_SECURE`), and decides HSTS from an X-Forwarded-Proto header
any client can send. Here HTTPS is what werkzeug says it is, which includes X-Forwarded-Proto only
from proxies trusted by `SUPPLYCHAIN_TRUSTED_PROXIES` (see `supplychain.proxies`).
"""

from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The chain drawing (`Accept: image/svg+xml`) styles itself with its own <style> element.
DRAWING_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
NOTHING_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"


def _policy(response: Response) -> str:
    if response.mimetype == "text/html":
        return PAGE_POLICY
    if response.mimetype == "image/svg+xml":
        return DRAWING_POLICY
    return NOTHING_POLICY


def add_security_headers(response: Response) -> Response:
    """CSP (no inline script, frame-ancestors 'none'), X-Frame-Options for older browsers,
    nosniff, Referrer-Policy same-origin, and HSTS when the request came over HTTPS."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _policy(response))
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def register_security_headers(app: Flask) -> None:
    """Add the security headers to every response the app gives, pages, API and errors alike."""
    app.after_request(add_security_headers)
