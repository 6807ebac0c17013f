"""The IdP's signed tokens, verified with joserfc against its JWKS: ID tokens (Core §3.1.3.7:
signature, `iss`, `aud`/`azp`, `exp`, `iat`, `nonce`) and logout tokens (Back-Channel Logout
§2.6: signature, `iss`, `aud`, `iat`, `exp`, `jti`, the event, `sub` or `sid`, no `nonce`)."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from supplychain.auth import digest

LEEWAY_SECONDS = 60
# How much earlier than an app's request the IdP's `auth_time` may be and still count as a fresh
# sign-in: the two clocks' disagreement, the leeway `iat` and `exp` get. NTP keeps servers within
# a second, and a minute stays far below any session an IdP would silently reuse.
AUTH_TIME_SKEW = LEEWAY_SECONDS


@dataclass(frozen=True)
class Demand:
    """A fresh sign-in an app's authorization request waits for (prompt=login or max_age, see
    identity/prompts.py): authenticated at the IdP since `since` (less AUTH_TIME_SKEW), and the
    request's `max_age` if it had one."""

    since: int
    max_age: int | None


LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_MAX_AGE = 300  # seconds a logout token without `exp` is believed after its `iat`


class TokenRefused(ValueError):
    """A token that must not be believed; the message says why (for the log, not the person)."""


def fetch_keys(client: httpx.Client, jwks_uri: str) -> KeySet:
    """The IdP's signing keys now (keys marked for encryption left out)."""
    try:
        response = client.get(jwks_uri, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TokenRefused(f"The JWKS did not answer: {exc}") from None
    if response.status_code != 200:
        raise TokenRefused(f"The JWKS answered HTTP {response.status_code}.")
    try:
        document = json.loads(response.content)
        keys = [
            key
            for key in document["keys"]
            if isinstance(key, dict) and key.get("use", "sig") == "sig"
        ]
        return KeySet.import_key_set({"keys": keys})
    except (ValueError, KeyError, TypeError, RecursionError, JoseError) as exc:
        raise TokenRefused(f"The JWKS is not a usable key set: {exc}") from None


def unverified_claims(token: str) -> dict[str, Any]:
    """A compact JWS's claims before any check (only to find which IdP's keys to check it with)."""
    try:
        payload = json.loads(jws.extract_compact(token.encode("ascii")).payload)
    except (ValueError, UnicodeError, JoseError, RecursionError):
        raise TokenRefused("Not a signed JWT.") from None
    if not isinstance(payload, dict):
        raise TokenRefused("Not a signed JWT.")
    return payload


def _verified(token: str, keys: KeySet, algs: Sequence[str]) -> jwt.Token:
    try:
        return jwt.decode(token, keys, algorithms=list(algs))
    except (JoseError, ValueError, UnicodeError, RecursionError) as exc:
        raise TokenRefused(f"Bad signature or form: {exc.__class__.__name__}: {exc}") from None


def _validate(claims: dict[str, Any], registry: jwt.JWTClaimsRegistry) -> None:
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise TokenRefused(f"Claim refused: {exc.__class__.__name__}: {exc}") from None


def verify_id_token(
    token: str,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce_hash: str,
    algs: Sequence[str],
) -> dict[str, Any]:
    """The ID token's claims once signature, issuer, audience, times and nonce all hold."""
    verified = _verified(token, keys, algs)
    claims = verified.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True},
    )
    _validate(claims, registry)
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise TokenRefused("Several audiences and `azp` is not this client.")
    nonce = claims["nonce"]
    if not isinstance(nonce, str) or not hmac.compare_digest(digest(nonce), nonce_hash):
        raise TokenRefused("The nonce is not the one this sign-in sent.")
    return claims


def verify_logout_token(
    token: str, keys: KeySet, issuer: str, client_id: str, algs: Sequence[str]
) -> dict[str, Any]:
    """The logout token's claims once it is shown to be one, for this client, from this IdP."""
    verified = _verified(token, keys, algs)
    typ = verified.header.get("typ")
    if typ is not None and str(typ).lower() not in ("logout+jwt", "application/logout+jwt", "jwt"):
        raise TokenRefused(f"A token of type {typ} is no logout token.")
    claims = verified.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        jti={"essential": True},
        events={"essential": True},
    )
    _validate(claims, registry)  # `exp`, when there, is checked here too
    # The final spec requires `exp`; IdPs written to its drafts (older Keycloak) send only
    # `iat`: such a token is believed for LOGOUT_MAX_AGE after it was issued.
    if "exp" not in claims and claims["iat"] < time.time() - LOGOUT_MAX_AGE - LEEWAY_SECONDS:
        raise TokenRefused("The logout token (without exp) is too old.")
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
        raise TokenRefused("The events claim holds no back-channel logout event.")
    if "nonce" in claims:
        raise TokenRefused("A logout token carries no nonce.")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not (isinstance(sub, str) and sub) and not (isinstance(sid, str) and sid):
        raise TokenRefused("A logout token names `sub` or `sid`.")
    return claims
