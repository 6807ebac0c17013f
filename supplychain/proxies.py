"""Who the client is on the network: its address, and whether it came over HTTPS.

Behind a reverse proxy every request comes from the proxy; the client's address is in the
X-Forwarded-For header the proxy adds. A client can send that header too, so it is believed only
for the number of proxies `SUPPLYCHAIN_TRUSTED_PROXIES` names (each appends the address it saw;
werkzeug's ProxyFix takes the one that many hops from the right, which no client can forge).
With 0 (the default) the header is ignored: the address is the connection's peer.
X-Forwarded-Proto is believed for the same hops, so HTTPS at the proxy counts as HTTPS here.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


def trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For and X-Forwarded-Proto from `TRUSTED_PROXIES` proxy hops."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def client_address() -> str:
    """The address of the client of this request (what throttling counts sign-ins by)."""
    return request.remote_addr or "unknown"
