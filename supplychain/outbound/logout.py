"""The `logout` delivery channel: OpenID Connect Back-Channel Logout 1.0 tokens, posted to each
app's `backchannel_logout_uri` by the delivery workers (retries and leases as for webhooks)
through `outbound.http`, the webhooks' guarded HTTP client (no private addresses unless allowed, no redirects,
short timeouts, a few KB of answer read).

Authlib has no back-channel logout (authlib#560), so the token is built here and signed with
joserfc: header `typ: logout+jwt`, claims `iss`, `aud` (the client id), `iat`, `exp` (2 min),
`jti`, `sid`, `sub`, `events` with the back-channel logout member, and no `nonce`. It is signed
when sent (each attempt gets a fresh `iat`/`exp`/`jti`), with the signing key of that moment.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

import httpx
from flask import Flask
from joserfc import jwt
from sqlalchemy import select

from supplychain.extensions import db
from supplychain.identity import keys
from supplychain.models import OidcLogout
from supplychain.outbound.channel import Channel
from supplychain.outbound.deliveries import Claimed, Outcome
from supplychain.outbound.http import describe_error, post, release, resources

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LIFETIME = 120


def logout_token(key: keys.RSAKey, issuer: str, logout: OidcLogout) -> str:
    """A signed logout token for one app session."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": logout.client_id,
        "iat": now,
        "exp": now + LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "sub": logout.sub,
        "sid": logout.sid,
        "events": {EVENT: {}},
    }
    header = {"alg": keys.ALG, "kid": key.kid or "", "typ": "logout+jwt"}
    return jwt.encode(header, claims, key, [keys.ALG])


def send_logout_tokens(app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
    """Post a logout token for each claimed delivery; an outcome for every one."""
    ids = {c.endpoint_id for c in claimed if c.endpoint_id is not None}
    with app.app_context():
        session = db.session
        try:
            rows = session.scalars(select(OidcLogout).where(OidcLogout.id.in_(ids))).all()
            logouts = {row.id: row.uri for row in rows}
            by_id = {row.id: row for row in rows}
            key = keys.signing_key(session)
            bodies = {
                c.id: urlencode(
                    {
                        "logout_token": logout_token(
                            key, app.config["BASE_URL"], by_id[c.endpoint_id]
                        )
                    }
                )
                for c in claimed
                if c.endpoint_id in logouts
            }
            session.commit()  # signing_key may have made the first key
        finally:
            session.remove()
    pool = resources(app)
    timeout = app.config["WEBHOOK_TIMEOUT"]

    def send(delivery: Claimed) -> tuple[int, Outcome]:
        uri = logouts.get(delivery.endpoint_id or 0)
        if uri is None or delivery.id not in bodies:
            return delivery.id, Outcome(ok=False, error="The logout is gone.", retry=False)
        headers = {"content-type": "application/x-www-form-urlencoded"}
        try:
            status, _answer = post(pool.client, uri, bodies[delivery.id], headers, timeout)
        except httpx.TimeoutException:
            return delivery.id, Outcome(ok=False, error=f"No answer within {timeout:g} s.")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return delivery.id, Outcome(ok=False, error=describe_error(exc))
        if 200 <= status < 300:
            return delivery.id, Outcome(ok=True, status_code=status)
        # Back-Channel Logout 1.0 §2.8: 400 when the RP could not log out (retried: it may be
        # a passing failure); a redirect is never followed.
        return delivery.id, Outcome(ok=False, status_code=status, error=f"HTTP {status}.")

    return dict(pool.pool.map(send, claimed))


class LogoutChannel(Channel):
    """Back-channel logout tokens to the apps whose sessions ended."""

    name = "logout"

    def send(self, app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
        return send_logout_tokens(app, claimed)

    def release(self, app: Flask) -> None:
        release(app)
