"""The OAuth 2 / OpenID Connect client of one IdP: Authlib's protocol client (authorization URL
with PKCE S256, `state`, `nonce`; the code exchange with client authentication) speaking through
the guarded httpx client of `outbound`."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.client import OAuth2Client

SCOPES = "openid email profile"


class _HttpxClientAuth(httpx.Auth, ClientAuth):
    """Authlib's client authentication (client_secret_basic or _post) as an httpx Auth."""

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url, headers, body = self.prepare(
            request.method, str(request.url), request.headers, request.content
        )
        body = body.encode("utf-8") if isinstance(body, str) else body
        headers["Content-Length"] = str(len(body))
        yield httpx.Request(
            request.method, url, headers=headers, content=body, extensions=request.extensions
        )


class RelyingParty(OAuth2Client):
    """Authlib's OAuth 2 client over an httpx client (the session it sends with)."""

    client_auth_class = _HttpxClientAuth


def relying_party(
    client: httpx.Client | None,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    token_auth_method: str,
) -> RelyingParty:
    """The client of one connection, sending through `client` (None: it only builds URLs)."""
    return RelyingParty(
        session=client,
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=token_auth_method,
        scope=SCOPES,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def authorization_url(
    rp: RelyingParty,
    endpoint: str,
    state: str,
    nonce: str,
    verifier: str,
    login_hint: str,
    reauth: dict[str, str] | None = None,
) -> str:
    """Where to send the person: the IdP's authorization endpoint with the code flow's request
    (and `reauth`'s `prompt`/`max_age` when the person must authenticate again)."""
    url, _state = rp.create_authorization_url(
        endpoint,
        state=state,
        code_verifier=verifier,
        nonce=nonce,
        login_hint=login_hint,
        **(reauth or {}),
    )
    return url


def exchange_code(
    rp: RelyingParty, token_endpoint: str, code: str, verifier: str
) -> dict[str, Any]:
    """The token response for an authorization code (Authlib raises OAuth2Error on an error
    answer, httpx errors on a broken one)."""
    return dict(
        rp.fetch_token(
            token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )
    )
