"""Authlib's authorization server wired to our tables: the code grant with PKCE S256 and OpenID
Connect, rotating refresh tokens with reuse detection, introspection, revocation, userinfo.

What Authlib does: request parsing and validation, client authentication (`client_secret_basic`,
`client_secret_post`), the code and refresh grants, PKCE verification, ID token claims and
signing (joserfc), RFC 9207 `iss`, the introspection and revocation endpoints, error responses.
What is ours (Authlib leaves it to the application): storage (digests only), the pairwise `sub`,
`sid`, the grant as the consent, a single use of codes and refresh tokens that survives
concurrent requests (a conditional UPDATE), and revoking a family on reuse. Two small rules are
stricter than Authlib's defaults: PKCE is required of confidential clients too, and only S256.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode
from flask import Flask, current_app, g
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from supplychain.auth import digest
from supplychain.extensions import db
from supplychain.identity import keys
from supplychain.identity.claims import pairwise_sub, user_claims
from supplychain.identity.clients import (
    AUTH_METHODS,
    CLIENT_COLUMNS,
    Client,
    client_of,
    find_client,
)
from supplychain.models import (
    ApiToken,
    App,
    Chain,
    OidcClient,
    OidcCode,
    OidcSession,
    OidcToken,
    User,
)
from supplychain.models.base import utcnow
from supplychain.services.app_access import orgs_with_app

CODE_SECONDS = 60
ACCESS_SECONDS = 600
ID_TOKEN_SECONDS = 600
REFRESH_DAYS = 30
MAX_NONCE = 500  # OidcCode.nonce's column
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SERVER = "supplychain_oidc_server"
PROTECTOR = "supplychain_oidc_protector"


def issuer() -> str:
    """The issuer: SUPPLYCHAIN_BASE_URL, never a request's Host."""
    return current_app.config["BASE_URL"]


_MEMO = "oidc_memo"


def _once(key: tuple, load: Any) -> Any:
    """`load()` once per request for `key`: Authlib validates an authorization request twice
    (the consent check, then the response) and asks for the signing key twice per ID token."""
    memo = g.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = load()
    return memo[key]


@dataclass
class Person:
    """The signed-in person an app session belongs to (Authlib's "user")."""

    user: User
    app_session: OidcSession
    chain: Chain
    auth_time: int

    def get_user_id(self) -> int:
        return self.user.id


@dataclass
class Code:
    """An authorization code row as Authlib's AuthorizationCodeMixin."""

    row: OidcCode
    app_session: OidcSession
    user: User
    chain: Chain

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token:
    """A token row as Authlib's TokenMixin; `kind` says which of its two secrets was shown."""

    row: OidcToken
    app_session: OidcSession
    client: Client
    kind: str  # "access_token" or "refresh_token"
    login_live: bool
    user: User | None = None  # loaded with the token where the caller needs the person
    chain: Chain | None = None

    @property
    def scope(self) -> str:
        return self.row.scope

    def check_client(self, client: Client) -> bool:
        return client is not None and client.app_id == self.client.app_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return ACCESS_SECONDS

    def _expires_at(self) -> datetime | None:
        if self.kind == "refresh_token":
            return self.row.refresh_expires_at
        return self.row.access_expires_at

    def is_expired(self) -> bool:
        expires = self._expires_at()
        return expires is None or expires <= utcnow()

    def is_revoked(self) -> bool:
        dead = self.row.revoked_at is not None or self.app_session.ended_at is not None
        if self.kind == "refresh_token":
            dead = dead or self.row.rotated_at is not None
        return dead or not self.login_live

    def is_active(self) -> bool:
        return not self.is_expired() and not self.is_revoked()

    def get_user(self) -> Person:
        session = db.session
        chain = self.chain or session.get(Chain, self.client.chain_id)
        user = self.user or session.get(User, self.app_session.user_id)
        assert chain is not None and user is not None
        return Person(user, self.app_session, chain, int(self.row.issued_at.timestamp()))

    def get_client(self) -> Client:
        return self.client


def _token_by(column: Any) -> Any:
    """A token, its app session, whether its sign-in session lives, and its client: one query."""
    return (
        select(OidcToken, OidcSession, ApiToken.is_live, *CLIENT_COLUMNS)
        .join(OidcSession, OidcSession.id == OidcToken.session_id)
        .join(ApiToken, ApiToken.id == OidcSession.login_token_id)
        .join(OidcClient, OidcClient.app_id == OidcSession.app_id)
        .join(App, App.id == OidcClient.app_id)
        .join(Chain, Chain.id == App.chain_id)
        .where(column == bindparam("hash"))
    )


_TOKEN_BY_ACCESS = _token_by(OidcToken.access_hash)
_TOKEN_BY_REFRESH = _token_by(OidcToken.refresh_hash)
# A bearer token at userinfo, with the person and the chain its claims are about.
_BEARER = (
    _token_by(OidcToken.access_hash)
    .add_columns(User, Chain)
    .join(User, User.id == OidcSession.user_id)
)


def find_token(session: Session, secret: str | None, hint: str | None = None) -> Token | None:
    """The token whose access or refresh secret is `secret` (the hint picks which to try
    first), or None."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return None
    kinds = ["access_token", "refresh_token"]
    if hint == "refresh_token":
        kinds.reverse()
    hashed = digest(secret)
    for kind in kinds:
        stmt = _TOKEN_BY_ACCESS if kind == "access_token" else _TOKEN_BY_REFRESH
        row = session.execute(stmt, {"hash": hashed}).first()
        if row is not None:
            token, app_session, live, *client = row
            return Token(token, app_session, client_of(*client), kind, bool(live))
    return None


def revoke_family(session: Session, code_id: int) -> None:
    """Revoke every token that descends from one code, and keep that whatever the request's
    answer (it is an error answer, which rolls the request back): committed at once."""
    session.execute(
        update(OidcToken)
        .where(OidcToken.code_id == code_id, OidcToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()


def still_covered(session: Session, client: Client, org_id: int) -> bool:
    """The grant is the consent: the person's org may use the app now (`apps.orgs_with_app`)."""
    chain = session.get(Chain, client.chain_id)
    return chain is not None and org_id in orgs_with_app(session, chain, client.app_key, [org_id])


# --- grants ----------------------------------------------------------------------------------


class S256Challenge(CodeChallenge):
    """PKCE as RFC 7636 says, required of every client (Authlib requires it of public clients
    only) and with S256 only (`plain` and a missing method are refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class NonceCheck:
    """A `nonce` the code can keep: at most MAX_NONCE characters and no control characters
    (PostgreSQL refuses a NUL byte with an error). Checked on every authorization request, with
    `openid` or without (the code keeps the nonce either way), before the replay check looks it
    up; refused as `invalid_request` to the redirect URI."""

    def __call__(self, grant: Any) -> None:
        # A "before" hook: Authlib keeps hooks of one kind in a set, so only this one is sure to
        # run before OpenID Connect's replay check (an "after" hook of the same step).
        grant.register_hook("before_validate_authorization_request_payload", self.validate)

    @staticmethod
    def validate(grant: Any, redirect_uri: str) -> None:
        nonce = grant.request.payload.data.get("nonce")
        if nonce is None:
            return
        if not isinstance(nonce, str) or len(nonce) > MAX_NONCE or _CONTROL.search(nonce):
            raise InvalidRequestError(
                f"nonce: at most {MAX_NONCE} characters, without control characters."
            )


class RequestNotSupported(OAuth2Error):
    error = "request_not_supported"


class RequestUriNotSupported(OAuth2Error):
    error = "request_uri_not_supported"


class NoRequestObjects:
    """OpenID Connect Core §6.1/§6.2: request objects are not taken (discovery says so), and an
    RP that sends one is told so at its redirect URI, not ignored (it may rely on what the
    object says)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("before_validate_authorization_request_payload", self.validate)

    @staticmethod
    def validate(grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupported("Request objects are not supported.")
        if "request_uri" in data:
            raise RequestUriNotSupported("request_uri is not supported.")


# A code of one client, with its app session, the person and the chain (one query).
_CODE = (
    select(OidcCode, OidcSession, User, Chain)
    .join(OidcSession, OidcSession.id == OidcCode.session_id)
    .join(User, User.id == OidcSession.user_id)
    .join(App, App.id == OidcSession.app_id)
    .join(Chain, Chain.id == App.chain_id)
    .where(OidcCode.code_hash == bindparam("hash"), OidcSession.app_id == bindparam("app_id"))
)

_USE_CODE = (
    update(OidcCode)
    .where(OidcCode.id == bindparam("code_id"), OidcCode.used_at.is_(None))
    .values(used_at=bindparam("now"))
)
_NONCE = (
    select(OidcCode.id)
    .join(OidcSession, OidcSession.id == OidcCode.session_id)
    .where(OidcSession.app_id == bindparam("app_id"), OidcCode.nonce == bindparam("nonce"))
    .limit(1)
)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def save_authorization_code(self, code: str, request: Any) -> None:
        person: Person = request.user
        data = request.payload.data
        db.session.add(
            OidcCode(
                code_hash=digest(code),
                session_id=person.app_session.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data.get("code_challenge_method") or "S256",
                auth_time=person.auth_time,
                expires_at=utcnow() + timedelta(seconds=CODE_SECONDS),
            )
        )
        db.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        if not isinstance(code, str) or len(code) > 200:
            return None
        session = db.session
        found = session.execute(_CODE, {"hash": digest(code), "app_id": client.app_id}).first()
        if found is None:
            return None
        row, app_session, user, chain = found
        if row.used_at is not None:
            # A second use: refused, and what the first use issued is revoked (RFC 6749 §4.1.2).
            revoke_family(session, row.id)
            return None
        if row.expires_at <= utcnow() or app_session.ended_at is not None:
            return None
        return Code(row, app_session, user, chain)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        # Single use even when two exchanges race: only one UPDATE finds it unused.
        used = db.session.execute(
            _USE_CODE, {"code_id": authorization_code.row.id, "now": utcnow()}
        )
        if used.rowcount != 1:
            raise InvalidGrantError("The code was used already.")

    def authenticate_user(self, authorization_code: Code) -> Person | None:
        code = authorization_code
        return Person(code.user, code.app_session, code.chain, code.row.auth_time)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        session = db.session
        token = find_token(session, refresh_token, "refresh_token")
        if token is None or token.kind != "refresh_token":
            return None
        if token.row.rotated_at is not None:
            # A rotated refresh token came back: someone holds a copy. The family goes.
            revoke_family(session, token.row.code_id)
            return None
        if not token.is_active():
            return None
        if not still_covered(session, token.client, token.app_session.org_id):
            return None
        return token

    def authenticate_user(self, refresh_token: Token) -> Person | None:
        return refresh_token.get_user()

    def revoke_old_credential(self, refresh_token: Token) -> None:
        now = utcnow()
        rotated = db.session.execute(
            update(OidcToken)
            .where(OidcToken.id == refresh_token.row.id, OidcToken.rotated_at.is_(None))
            .values(rotated_at=now, revoked_at=now)
        )
        if rotated.rowcount != 1:
            raise InvalidGrantError("The refresh token was used already.")


class OpenIDConnect(OpenIDCode):
    """OpenID Connect on the code grant: ID tokens signed RS256 with the database key (`kid`),
    carrying the pairwise `sub`, `sid`, `auth_time` and the `nonce`."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        client = request.client
        if client is None:
            return False

        def load() -> bool:
            found = db.session.scalar(_NONCE, {"app_id": client.app_id, "nonce": nonce})
            return found is not None

        return _once(("nonce", client.app_id, nonce), load)

    def resolve_client_private_key(self, client: Client) -> Any:
        return _once(("signing_key",), lambda: keys.signing_key(db.session))

    def get_client_algorithm(self, client: Client) -> str:
        return keys.ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {
            "alg": keys.ALG,
            "kid": self.resolve_client_private_key(client).kid or "",
            "typ": "JWT",
        }

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": issuer(),
            "aud": [client.client_id],
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = authorization_code.app_session.sid
        claims["auth_time"] = authorization_code.row.auth_time
        return claims

    def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
        return user_claims(db.session, user.chain, user.user, scope)


# --- endpoints -------------------------------------------------------------------------------


def _token_once(secret: str | None, hint: str | None) -> Token | None:
    return _once(("token", secret, hint), lambda: find_token(db.session, secret, hint))


def prefetch_introspection(form: Any) -> None:
    """Read the token to introspect before Authlib authenticates the caller: its row carries its
    client's columns, so when the caller is that client (the usual case) both come from one
    statement. Authlib still checks the caller's credentials against that row; another client
    is read by itself, as without this."""
    secret, hint = form.get("token"), form.get("token_type_hint")
    token = _token_once(secret, hint)
    if token is not None:
        g.setdefault(_MEMO, {}).setdefault(("client", token.client.client_id), token.client)


def _require_token(request: Any) -> None:
    """`token` is required; `token_type_hint` is only a hint. RFC 7662 §2.1 and RFC 7009 §2.1
    let the server ignore it, and `find_token` looks for both kinds anyway: an unknown hint is
    not an error (Authlib answers it with a 401, which tells the app its credentials are
    wrong)."""
    if "token" not in request.form:
        raise InvalidRequestError("Missing 'token'.")


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def check_params(self, request: Any, client: Client) -> None:
        _require_token(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _token_once(token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        # Another app's token is as good as unknown: {"active": false}.
        return token.check_client(client)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        row = token.row
        expires = token._expires_at()
        return {
            "active": True,
            "client_id": token.client.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": row.scope,
            "sub": pairwise_sub(token.client.chain_id, token.app_session.user_id),
            "sid": token.app_session.sid,
            "aud": token.client.client_id,
            "iss": issuer(),
            "iat": int(row.issued_at.timestamp()),
            "exp": int(expires.timestamp()) if expires else None,
        }


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def check_params(self, request: Any, client: Client) -> None:
        _require_token(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(db.session, token_string, token_type_hint)

    def authenticate_token(self, request: Any, client: Client) -> Token | None:
        # RFC 7009 §2.2: an invalid token, or another client's, is answered 200 all the same.
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: Token, request: Any) -> None:
        # One row holds the access token and the refresh token issued with it: revoking either
        # revokes both (a refresh token takes its access tokens along).
        db.session.execute(
            update(OidcToken)
            .where(OidcToken.id == token.row.id, OidcToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or not isinstance(token_string, str) or len(token_string) > 200:
            return None
        row = db.session.execute(_BEARER, {"hash": digest(token_string)}).first()
        if row is None:
            return None
        token, app_session, live, *client, user, chain = row
        return Token(
            token, app_session, client_of(*client), "access_token", bool(live), user, chain
        )


def _query_client(client_id: str) -> Client | None:
    if not isinstance(client_id, str):
        return None
    return _once(("client", client_id), lambda: find_client(db.session, client_id))


def _save_token(token: dict[str, Any], request: Any) -> None:
    if request.authorization_code is not None:
        session_id, code_id = (
            request.authorization_code.app_session.id,
            request.authorization_code.row.id,
        )
    else:
        old: Token = request.refresh_token
        session_id, code_id = old.app_session.id, old.row.code_id
    now = utcnow()
    refresh = token.get("refresh_token")
    db.session.add(
        OidcToken(
            session_id=session_id,
            code_id=code_id,
            access_hash=digest(token["access_token"]),
            refresh_hash=digest(refresh) if refresh else None,
            scope=token.get("scope") or "",
            issued_at=now,
            access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
            refresh_expires_at=now + timedelta(days=REFRESH_DAYS) if refresh else None,
        )
    )
    db.session.flush()


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return issuer()


def _authenticate_post(query_client: Any, request: Any) -> Client | None:
    """`client_secret_post`, answering an unknown client like a wrong secret: with 401."""
    from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_post

    try:
        return authenticate_client_secret_post(query_client, request)
    except InvalidClientError:
        return None


def _authenticate_basic(query_client: Any, request: Any) -> Client | None:
    """`client_secret_basic`, answering credentials that are not UTF-8 like wrong ones (401):
    Authlib decodes them unguarded."""
    from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic

    try:
        return authenticate_client_secret_basic(query_client, request)
    except UnicodeDecodeError:
        return None


def init_provider(app: Flask) -> None:
    """Build the app's authorization server and resource protector."""
    app.config.setdefault(
        "OAUTH2_TOKEN_EXPIRES_IN",
        {
            "authorization_code": ACCESS_SECONDS,
            "refresh_token": ACCESS_SECONDS,
        },
    )
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_client_auth_method("client_secret_post", _authenticate_post)
    server.register_client_auth_method("client_secret_basic", _authenticate_basic)
    server.register_grant(
        CodeGrant,
        [
            S256Challenge(required=True),
            NonceCheck(),
            NoRequestObjects(),
            OpenIDConnect(require_nonce=False),
        ],
    )
    server.register_grant(RefreshGrant)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    server.register_extension(Issuer())
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    app.extensions[SERVER] = server
    app.extensions[PROTECTOR] = protector


def server() -> AuthorizationServer:
    return current_app.extensions[SERVER]


def protector() -> ResourceProtector:
    return current_app.extensions[PROTECTOR]
