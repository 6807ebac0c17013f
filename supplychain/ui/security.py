"""Who is signed in to the pages, and the CSRF token every form carries.

The Flask session cookie (signed, HttpOnly, SameSite=Lax) holds the user id and the id of the
login token `accounts.login` issued. Every request checks that token is still live, so signing
out (or revoking the token through the API) ends the session at once, on every device holding it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import Session

from supplychain.auth import Actor, token_actor
from supplychain.errors import BadRequest
from supplychain.models import ApiToken, User
from supplychain.services.accounts import IssuedToken

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_EXEMPT = "csrf_exempt"
_USER = "uid"
View = TypeVar("View", bound=Callable[..., Any])
_TOKEN = "tid"
_WAITING = "oidc_reauth"  # identity.prompts.MARKS
_IDP_AUTH = "idp_auth"  # [login token id, the company IdP's auth_time or None]


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions; `SESSION_COOKIE_SECURE = "auto"` marks the cookie Secure
    when the request came over HTTPS, directly or through a trusted TLS-terminating proxy (HTTPS is
    what werkzeug says it is: X-Forwarded-Proto counts only through SUPPLYCHAIN_TRUSTED_PROXIES,
    the same rule HSTS follows)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        setting = app.config["SESSION_COOKIE_SECURE"]
        if setting != "auto":
            return bool(setting)
        return request.is_secure


def sign_in(issued: IssuedToken, company: bool = False, idp_auth_time: int | None = None) -> None:
    """Start a page session for the user the login token belongs to (a fresh CSRF token too).
    The language and the authorization requests waiting for this sign-in (identity/prompts.py)
    stay. A company sign-in (`company`) keeps when the person authenticated at the IdP (its ID
    token's `auth_time`, None when it did not say)."""
    kept = {key: session[key] for key in ("lang", _WAITING) if session.get(key)}
    session.clear()
    session.update(kept)
    session[_USER] = issued.user.id
    session[_TOKEN] = issued.token.id
    if company:
        session[_IDP_AUTH] = [issued.token.id, idp_auth_time]
    session.permanent = False


def login_auth_time(login: ApiToken) -> int | None:
    """When the person of this page session's sign-in authenticated, in epoch seconds: the
    sign-in itself for a password; for a company sign-in the IdP's `auth_time` (never later than
    the sign-in here), or None when the IdP did not say (their IdP session may be of any age)."""
    signed_in = int(login.created_at.timestamp())
    found = session.get(_IDP_AUTH)
    if not (isinstance(found, list) and len(found) == 2 and found[0] == login.id):
        return signed_in
    at_idp = found[1]
    if not isinstance(at_idp, int) or isinstance(at_idp, bool):
        return None
    return min(at_idp, signed_in)


def signed_in_token_id() -> int | None:
    """The login token id of the current page session, if any."""
    value = session.get(_TOKEN)
    return value if isinstance(value, int) else None


def sign_out() -> None:
    """Forget the user (the language choice stays)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def session_actor(db_session: Session) -> Actor | None:
    """The signed-in user, if the session's login token is still live (not revoked, not
    expired); caches on `g`."""
    if "ui_actor" in g:
        return g.ui_actor
    actor = None
    user_id, token_id = session.get(_USER), session.get(_TOKEN)
    if isinstance(user_id, int) and isinstance(token_id, int):
        token = db_session.get(ApiToken, token_id)
        if token is not None and token.user_id == user_id and token.is_live:
            user = db_session.get(User, user_id)
            if user is not None:
                actor = token_actor(user, token.id, token.kind, token.expires_at)
                g.ui_login = token  # held: the session's identity map keeps rows weakly
    if actor is None and _USER in session:
        sign_out()  # a revoked or stale session: drop it
    g.ui_actor = actor
    return actor


def session_login(db_session: Session) -> ApiToken | None:
    """The live login token of the signed-in page session, if any (`session_actor`'s row)."""
    if session_actor(db_session) is None:
        return None
    return g.get("ui_login")


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_exempt(view: View) -> View:
    """Declare, on the view, that its POSTs carry no CSRF token and need none: they come from
    mail clients (RFC 8058 one-click unsubscribe), act only through a signed token in the URL,
    and change nothing a forged request could abuse."""
    setattr(view, _CSRF_EXEMPT, True)
    return view


def check_csrf() -> None:
    """Refuse (400) a state-changing request whose form token does not match the session's
    (views declared `csrf_exempt` excepted)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _CSRF_EXEMPT, False):
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected.encode(), sent.encode("utf-8", "replace")
    ):
        raise BadRequest(
            "This form has expired or did not come from this site. Reload the page and retry."
        )
