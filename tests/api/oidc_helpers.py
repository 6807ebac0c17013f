"""A relying party written for the tests: drives the provider's endpoints as an app would
(PKCE S256, state, nonce), through a person's no-JavaScript browser signed in to the pages."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import World
from tests.ui.conftest import Web

REDIRECT = "https://portal.example/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def register(world: World, key: str = "portal", **extra: Any) -> dict:
    body = {
        "key": key,
        "name": "Dealer portal",
        "url": "https://portal.example/",
        "redirect_uris": [REDIRECT],
        **extra,
    }
    r = world.api.post(world.path("/apps"), body, token=world.owner.token)
    assert r.status_code == 201, r.text
    return r.json()


def grant(world: World, app_key: str, scope_type: str, value: str | None = None) -> dict:
    body: dict[str, Any] = {"app": app_key, "scope": {"type": scope_type}}
    if value is not None:
        body["scope"]["value"] = value
    r = world.api.post(world.path("/grants"), body, token=world.owner.token)
    assert r.status_code == 201, r.text
    return r.json()


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Rp:
    """One app (client) talking to the provider."""

    web: Web
    client_id: str
    client_secret: str
    redirect_uri: str = REDIRECT
    last: dict[str, str] = field(default_factory=dict)

    def authorize_params(self, **over: Any) -> dict[str, str]:
        verifier, challenge = pkce()
        self.last = {"verifier": verifier, "state": secrets.token_urlsafe(8)}
        self.last["nonce"] = secrets.token_urlsafe(8)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email chain",
            "state": self.last["state"],
            "nonce": self.last["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(over)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **over: Any) -> Any:
        return self.web.get(
            "/oauth/authorize?" + urlencode(self.authorize_params(**over)), allow_redirects=False
        )

    def code(self, **over: Any) -> str:
        r = self.authorize(**over)
        assert r.status_code == 302, r.text[:300]
        got = query(r.headers["Location"])
        assert "code" in got, got
        assert got["state"] == self.last["state"]
        return got["code"]

    def token(self, data: dict[str, str], auth: str = "basic", **kw: Any) -> Any:
        headers = {}
        if auth == "basic":
            raw = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif auth == "post":
            data = {**data, "client_id": self.client_id, "client_secret": self.client_secret}
        return self.web.transport.send("POST", "/oauth/token", data=data, headers=headers, **kw)

    def exchange(self, code: str, **kw: Any) -> Any:
        return self.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.last["verifier"],
            },
            **kw,
        )

    def tokens(self) -> dict:
        r = self.exchange(self.code())
        assert r.status_code == 200, r.text
        return r.json()

    def refresh(self, refresh_token: str) -> Any:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _client_call(self, path: str, data: dict[str, str], auth: bool = True) -> Any:
        headers = {}
        if auth:
            raw = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return self.web.transport.send("POST", path, data=data, headers=headers)

    def introspect(self, token: str, auth: bool = True) -> Any:
        return self._client_call("/oauth/introspect", {"token": token}, auth)

    def revoke(self, token: str, hint: str | None = None) -> Any:
        data = {"token": token} | ({"token_type_hint": hint} if hint else {})
        return self._client_call("/oauth/revoke", data)

    def userinfo(self, access_token: str) -> Any:
        return self.web.transport.send(
            "GET", "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )

    def id_token_claims(self, id_token: str) -> dict:
        jwks = self.web.transport.send("GET", "/oauth/jwks").json()
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
        return dict(token.claims) | {"_header": dict(token.header)}


def shared_portal(world: World) -> dict:
    """The owner's app "portal", registered as a client and shared with tier D1."""
    created = register(world)
    grant(world, "portal", "tier", "D1")
    return created


def rp_for(app: Any, world: World, portal: dict, person: str | None = "D1a") -> Rp:
    """A relying party for `portal` in the browser of `person` ("owner", a party key, or None
    for nobody signed in)."""
    web = Web(app)
    if person is not None:
        email = world.owner.email if person == "owner" else world.parties[person].email
        web.login(email)
    return Rp(web, portal["client_id"], portal["client_secret"])
