"""The HTTP endpoints of the OpenID Connect provider (`supplychain.identity`), outside /api/v1:
discovery, JWKS, authorize, token, userinfo, introspection, revocation. They take form bodies and
answer RFC 6749 errors; the authorization endpoint answers people with the sign-in page and, when
it cannot redirect, an error page."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, jsonify, redirect, request, url_for
from sqlalchemy import select

from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.identity import keys, prompts, provider
from supplychain.identity.claims import pairwise_sub, session_sid, user_claims
from supplychain.identity.clients import AUTH_METHODS, SCOPES
from supplychain.models import Chain, OidcSession
from supplychain.services.app_access import orgs_with_app
from supplychain.ui import security
from supplychain.ui.base import error_page
from supplychain.ui.i18n import gettext

blp = Blueprint("oidc", __name__)
CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "name",
    "locale",
    "zoneinfo",
    "email",
    "email_verified",
    "chain_id",
    "org_id",
    "org_name",
    "org_custom_id",
    "org_role",
    "tier",
    "groups",
)


def _endpoint(name: str) -> str:
    return provider.issuer() + url_for(name)


@blp.get("/.well-known/openid-configuration")
def discovery() -> Any:
    """OpenID Connect Discovery 1.0: where the endpoints are and what the provider does."""
    return jsonify(
        {
            "issuer": provider.issuer(),
            "authorization_endpoint": _endpoint("oidc.authorize"),
            "token_endpoint": _endpoint("oidc.token"),
            "userinfo_endpoint": _endpoint("oidc.userinfo"),
            "jwks_uri": _endpoint("oidc.jwks"),
            "introspection_endpoint": _endpoint("oidc.introspect"),
            "revocation_endpoint": _endpoint("oidc.revoke"),
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [keys.ALG],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "claims_supported": list(CLAIMS),
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "ui_locales_supported": ["en", "zh-CN"],
            # OpenID Connect Prompt Create's metadata: the values honoured (identity/prompts.py).
            "prompt_values_supported": list(prompts.SUPPORTED),
            # Discovery 1.0 defaults this one to true: say that `request_uri` is not taken.
            "request_uri_parameter_supported": False,
        }
    )


@blp.get("/oauth/jwks")
@transaction(Transaction.WRITES)
def jwks() -> Any:
    """The public signing keys (the first key is made here when there is none yet)."""
    keys.signing_key(db.session)
    return jsonify(keys.jwks(db.session))


def _with_iss(response: Any) -> Any:
    """RFC 9207: an authorization response redirected to the client names the issuer."""
    location = response.headers.get("Location")
    # A parameter named iss, not text "iss=" (a redirect URI's own `miss=1` has that).
    if location and "iss" not in dict(parse_qsl(urlsplit(location).query)):
        response.headers["Location"] = add_params_to_uri(location, [("iss", provider.issuer())])
    return response


def _cannot_redirect() -> Any:
    return error_page(
        400,
        gettext(
            "This sign-in request is not valid: the app is unknown or its return address is not"
            " registered. Go back to the app and try again, or tell the app's owner."
        ),
    )


def _to_sign_in(asked: prompts.Prompt, login_token_id: int | None, now: int) -> Any:
    """Through the sign-in page and back to this same request (a same-site `next`)."""
    prompts.await_sign_in(asked, login_token_id, now)
    again = {"reauth": "1"} if login_token_id is not None else {}
    return redirect(url_for("ui.login", next=request.full_path.rstrip("?"), **again))


@blp.get("/oauth/authorize")
@transaction(Transaction.WRITES)
def authorize() -> Any:
    """The authorization endpoint: code flow with PKCE S256. The person signs in through the
    pages first (again for `prompt=login` or `max_age`: identity/prompts.py); the owner's grant
    is the consent (no consent screen)."""
    server = provider.server()
    session = db.session
    actor = security.session_actor(session)
    try:
        grant = server.get_consent_grant(end_user=actor)
        asked = prompts.read(grant)
        login = security.session_login(session)
        now = int(time.time())
        if login is None:
            if asked.none:
                raise prompts.login_required(grant)
            return _to_sign_in(asked, None, now)
        # When the person authenticated: at the company IdP for a company sign-in (unknown when
        # it did not say: too old for any max_age, and the sign-in's own time in the code).
        known = security.login_auth_time(login)
        auth_time = int(login.created_at.timestamp()) if known is None else known
        too_old = asked.sign_in_too_old(auth_time, now) or (
            known is None and asked.max_age is not None
        )
        if too_old and not prompts.signed_in_since_asked(asked, login.id, known or 0):
            if asked.none:
                raise prompts.login_required(grant)
            return _to_sign_in(asked, login.id, now)
    except OAuth2Error as error:
        if not error.redirect_uri:
            return _cannot_redirect()
        return _with_iss(server.handle_error_response(None, error))
    except ValueError:
        # Authlib puts the request's response_type in its error's description and refuses to
        # build one holding characters RFC 6749 forbids there (a quote, a backslash, a newline).
        return _cannot_redirect()
    assert actor is not None
    client = grant.client
    chain = session.get(Chain, client.chain_id)
    user = actor.user
    covered = chain is not None and user.org_id in orgs_with_app(
        session, chain, client.app_key, [user.org_id]
    )
    if not covered:
        # Not covered by a grant (nor the owner): access_denied, nothing about the person issued.
        return _with_iss(server.create_authorization_response(grant=grant, grant_user=None))
    app_session = session.scalar(
        select(OidcSession).where(
            OidcSession.app_id == client.app_id, OidcSession.login_token_id == actor.token_id
        )
    )
    if app_session is None:
        app_session = OidcSession(
            app_id=client.app_id,
            user_id=user.id,
            org_id=user.org_id,
            login_token_id=actor.token_id,
            sub=pairwise_sub(client.chain_id, user.id),
            sid=session_sid(actor.token_id),
        )
        session.add(app_session)
    app_session.ended_at = None
    session.flush()
    person = provider.Person(user, app_session, chain, auth_time)
    return _with_iss(server.create_authorization_response(grant=grant, grant_user=person))


@blp.post("/oauth/token")
def token() -> Any:
    """The token endpoint: `authorization_code` and `refresh_token` grants (no-store)."""
    return provider.server().create_token_response()


def _invalid_token() -> Any:
    response = jsonify(
        {"error": "invalid_token", "error_description": "The access token is not valid."}
    )
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@blp.route("/oauth/userinfo", methods=["GET", "POST"])
@transaction(Transaction.READS)
def userinfo() -> Any:
    """The claims about the person a live access token was issued for."""
    try:
        found = provider.protector().acquire_token("openid")
    except OAuth2Error:
        return _invalid_token()
    person = found.get_user()
    return jsonify(user_claims(db.session, person.chain, person.user, found.scope))


@blp.post("/oauth/introspect")
@transaction(Transaction.READS)
def introspect() -> Any:
    """RFC 7662: only the client a token was issued to learns about it."""
    provider.prefetch_introspection(request.form)
    return provider.server().create_endpoint_response("introspection")


@blp.post("/oauth/revoke")
def revoke() -> Any:
    """RFC 7009: 200 whatever the token."""
    return provider.server().create_endpoint_response("revocation")


def register_identity(app: Flask) -> None:
    """The provider's endpoints and its Authlib server."""
    provider.init_provider(app)
    app.register_blueprint(blp)
