"""Custom apps as OpenID Connect clients: registration of their redirect URIs and back-channel
logout URI, the client secret (shown once, stored as its SHA-256), rotation, and the client as
Authlib's server sees it."""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from supplychain.auth import digest
from supplychain.errors import Invalid
from supplychain.models import App, Chain, OidcClient
from supplychain.models.base import utcnow
from supplychain.net.addresses import UrlRefused, check_url

MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
SCOPES = ("openid", "profile", "email", "chain")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
LOOPBACK_NAMES = ("localhost",)
# What `new_client_id` makes: anything else names no client and never reaches the database
# (PostgreSQL refuses a NUL byte in a query parameter with an error, not an empty answer).
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_client_id() -> str:
    return "sca_" + secrets.token_urlsafe(18)


def new_client_secret() -> str:
    return "scs_" + secrets.token_urlsafe(32)


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: Any) -> str | None:
    """Why `uri` cannot be a redirect URI, or None: an absolute `https` URL, or `http` to a
    loopback host (RFC 8252 §7.3), without a fragment or credentials, at most MAX_URI_LENGTH."""
    if not isinstance(uri, str) or not uri:
        return "Not a URL."
    if len(uri) > MAX_URI_LENGTH:
        return f"At most {MAX_URI_LENGTH} characters."
    if not uri.isascii() or any(ch.isspace() or not ch.isprintable() for ch in uri):
        return "Not a valid URL: use ASCII without spaces."
    parts = urlsplit(uri)
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:
        return "Not a valid URL: bad port."
    if not host:
        return "Not a valid URL: no host."
    if "#" in uri:
        return "No fragment (#...) is allowed."
    if parts.username is not None or parts.password is not None:
        return "Credentials in the URL are not allowed."
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http" and _loopback(host):
        return None
    return "Only https, or http to a loopback address (127.0.0.1, [::1], localhost)."


def checked_redirect_uris(uris: Any) -> list[str]:
    """The redirect URIs without repeats; 422 naming `redirect_uris` when one is wrong."""
    if not isinstance(uris, list) or not uris:
        raise Invalid("Give redirect URIs.", {"redirect_uris": ["At least one URL."]})
    if len(uris) > MAX_REDIRECT_URIS:
        raise Invalid(
            "Too many redirect URIs.", {"redirect_uris": [f"At most {MAX_REDIRECT_URIS}."]}
        )
    problems = []
    for index, uri in enumerate(uris):
        problem = redirect_uri_problem(uri)
        if problem:
            problems.append(f"{index}: {problem}" if len(uris) > 1 else problem)
    if problems:
        raise Invalid("Check the redirect URIs.", {"redirect_uris": problems})
    return list(dict.fromkeys(uris))


def checked_logout_uri(uri: str | None, allow_private: bool) -> str | None:
    """The back-channel logout URI if the logout sender may reach it (the webhooks' rule)."""
    if uri in (None, ""):
        return None
    try:
        check_url(uri, allow_private)
    except UrlRefused as exc:
        raise Invalid("Check the logout URI.", {"backchannel_logout_uri": [str(exc)]})
    if "#" in uri:
        raise Invalid(
            "Check the logout URI.", {"backchannel_logout_uri": ["No fragment is allowed."]}
        )
    return uri


def make_client(
    session: Session,
    app: App,
    redirect_uris: list[str],
    backchannel_logout_uri: str | None,
) -> tuple[OidcClient, str]:
    """Make `app` a client; returns it and its secret (the only time the secret exists)."""
    secret = new_client_secret()
    client = OidcClient(
        app_id=app.id,
        client_id=new_client_id(),
        secret_hash=digest(secret),
        redirect_uris=redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
    )
    session.add(client)
    session.flush()
    return client, secret


def rotate_secret(client: OidcClient) -> str:
    """A new secret; the old one stops working at once."""
    secret = new_client_secret()
    client.secret_hash = digest(secret)
    client.secret_rotated_at = utcnow()
    return secret


@dataclass
class Client:
    """A client as Authlib's server asks about it (authlib's ClientMixin protocol)."""

    app_id: int
    app_key: str
    app_name: str
    chain_id: int
    owner_org_id: int
    timezone: str
    client_id: str
    secret_hash: str
    redirect_uris: list[str]
    backchannel_logout_uri: str | None
    scopes: tuple[str, ...] = field(default=SCOPES)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Never guessed: every authorization request must name its redirect URI exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


# Plain columns, not the ORM entity: a client is read on every token request and introspection.
CLIENT_COLUMNS = (
    OidcClient.app_id,
    OidcClient.client_id,
    OidcClient.secret_hash,
    OidcClient.redirect_uris,
    OidcClient.backchannel_logout_uri,
    App.key,
    App.name,
    App.chain_id,
    Chain.owner_org_id,
    Chain.timezone,
)
_CLIENT = (
    select(*CLIENT_COLUMNS)
    .join(App, App.id == OidcClient.app_id)
    .join(Chain, Chain.id == App.chain_id)
    .where(OidcClient.client_id == bindparam("client_id"))
)


def find_client(session: Session, client_id: str | None) -> Client | None:
    """The client with this id, or None."""
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        return None
    row = session.execute(_CLIENT, {"client_id": client_id}).first()
    if row is None:
        return None
    return client_of(*row)


def client_of(
    app_id: int,
    client_id: str,
    secret_hash: str,
    redirect_uris: list[str] | None,
    backchannel_logout_uri: str | None,
    key: str,
    name: str,
    chain_id: int,
    owner_org_id: int,
    timezone: str,
) -> Client:
    """The client of a row of CLIENT_COLUMNS."""
    return Client(
        app_id=app_id,
        app_key=key,
        app_name=name,
        chain_id=chain_id,
        owner_org_id=owner_org_id,
        timezone=timezone,
        client_id=client_id,
        secret_hash=secret_hash,
        redirect_uris=list(redirect_uris or []),
        backchannel_logout_uri=backchannel_logout_uri,
    )
