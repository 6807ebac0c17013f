"""An issuer's OpenID Connect discovery document (Discovery 1.0 §4), fetched and checked: it
must answer, be a JSON object, name exactly this issuer, and offer what the code flow needs."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx

from supplychain.identity_sso.outbound import (
    UrlRefused,
    check_browser_url,
    check_idp_url,
    idp_client,
)

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"
# Asymmetric signatures only: an HS256 ID token would be signed with the client secret.
ASYMMETRIC_ALGS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip


class DiscoveryFailed(ValueError):
    """The issuer's discovery failed; the message says why, for the `issuer` field."""


@dataclass(frozen=True)
class Discovered:
    """What the sign-in needs of an IdP, as its discovery document says."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str
    token_auth_method: str
    signing_algs: tuple[str, ...]


def discovery_url(issuer: str) -> str:
    """Where the issuer's document is: the issuer with the well-known path appended (§4)."""
    return issuer.rstrip("/") + WELL_KNOWN


def discover(issuer: str, private_ok: bool) -> Discovered:
    """Fetch and check `issuer`'s discovery document; DiscoveryFailed saying what is wrong."""
    try:
        check_idp_url(issuer, private_ok)
    except UrlRefused as exc:
        raise DiscoveryFailed(str(exc)) from None
    url = discovery_url(issuer)
    try:
        with idp_client(private_ok) as client:
            response = client.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        log.info("Discovery of %s failed: %s", issuer, exc)
        raise DiscoveryFailed(f"The issuer does not answer at {url}.") from None
    if response.status_code != 200:
        raise DiscoveryFailed(f"The issuer answered HTTP {response.status_code} at {url}.")
    try:
        document = json.loads(response.content)
    except (ValueError, RecursionError):
        raise DiscoveryFailed("The issuer's discovery document is not JSON.") from None
    if not isinstance(document, dict):
        raise DiscoveryFailed("The issuer's discovery document is not a JSON object.")
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryFailed(
            "The discovery document names another issuer: the issuer must be exactly the one "
            "its document names."
        )
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        endpoints[name] = _endpoint(document, name, private_ok, required=True)
    userinfo = _endpoint(document, "userinfo_endpoint", private_ok, required=False)
    types = document.get("response_types_supported")
    if not isinstance(types, list) or "code" not in types:
        raise DiscoveryFailed("The issuer does not offer the authorization code flow.")
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise DiscoveryFailed("The issuer does not take PKCE with S256.")
    return Discovered(
        issuer=named,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        userinfo_endpoint=userinfo,
        jwks_uri=endpoints["jwks_uri"],
        token_auth_method=_token_auth_method(document),
        signing_algs=_signing_algs(document),
    )


def _endpoint(document: dict, name: str, private_ok: bool, required: bool) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryFailed(f"The discovery document has no {name}.")
    try:
        if name == "authorization_endpoint":
            # The person's browser goes there, not this server: a company's IdP may well be on
            # its own network. It must still be https.
            check_browser_url(value, private_ok)
        else:
            check_idp_url(value, private_ok)
    except UrlRefused as exc:
        raise DiscoveryFailed(f"The discovery document's {name} is refused: {exc}") from None
    return value


def _token_auth_method(document: dict) -> str:
    """client_secret_basic (the default, §3 of Discovery) unless only _post is offered."""
    offered = document.get("token_endpoint_auth_methods_supported")
    if not isinstance(offered, list) or "client_secret_basic" in offered:
        return "client_secret_basic"
    if "client_secret_post" in offered:
        return "client_secret_post"
    raise DiscoveryFailed("The issuer takes neither client_secret_basic nor client_secret_post.")


def _signing_algs(document: dict) -> tuple[str, ...]:
    offered = document.get("id_token_signing_alg_values_supported")
    if not isinstance(offered, list):
        return ("RS256",)  # Core §15.1: RS256 is the one every provider must support
    algs = tuple(alg for alg in ASYMMETRIC_ALGS if alg in offered)
    if not algs:
        raise DiscoveryFailed("The issuer signs ID tokens with no asymmetric algorithm.")
    return algs
