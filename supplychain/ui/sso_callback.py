"""The two addresses an IdP is registered with: the redirect URI (the code flow's callback) and
the back-channel logout URI. Outside /api/v1: the IdP, not an API client, calls them; a refusal
answers JSON to a sign-in a script started and a page otherwise."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for

from supplychain.db import Transaction, transaction
from supplychain.errors import DomainError, error_response
from supplychain.extensions import db
from supplychain.identity_sso.outbound import allow_private
from supplychain.identity_sso.tokens import Demand
from supplychain.proxies import client_address
from supplychain.schemas.accounts import SessionSchema
from supplychain.services import sso_signin
from supplychain.services.sso import (
    BACKCHANNEL_LOGOUT_PATH,
    CALLBACK_PATH,
    FRESH_KEY,
    STATE_KEY,
)
from supplychain.ui import security
from supplychain.ui.base import safe_next
from supplychain.ui.i18n import error_text, gettext

blp = Blueprint("sso_callback", __name__)


def _refusal(
    error: DomainError, mode: str | None, next_url: str | None = None
) -> Response | tuple[str, int]:
    """A refusal as the sign-in's starter reads it: JSON for scripts, else a page (EN/ZH)."""
    wants_json = mode == "api" or (
        mode is None
        and request.accept_mimetypes.best_match(["text/html", "application/json"])
        == "application/json"
    )
    if wants_json:
        return error_response(error.code, error.message)
    page = render_template(
        "sso/refused.html",
        title=gettext("Company sign-in refused"),
        message=error_text(error.message),
        next_url=safe_next(next_url, url_for("ui.home")),
    )
    return page, error.code


def _fresh_asked(kept: object) -> Demand | None:
    """The fresh sign-in the IdP was asked for when this browser started (views/sso.py)."""
    if not (isinstance(kept, list) and len(kept) == 2 and isinstance(kept[0], int)):
        return None
    max_age = kept[1] if isinstance(kept[1], int) else None
    return Demand(since=kept[0], max_age=max_age)


@blp.get(CALLBACK_PATH)
@transaction(Transaction.WRITES)
def callback():
    """The IdP sends the person back here with `code` and `state`: verified, they are signed in
    (a page session, or `{token, user}` for a sign-in a script started)."""
    expected = session.pop(STATE_KEY, None)
    fresh = _fresh_asked(session.pop(FRESH_KEY, None))
    mode = next_url = None
    try:
        pending = sso_signin.use_pending(db.session, request.args.get("state", ""), expected)
        mode, next_url = pending.mode, pending.next_url
        if request.args.get("error"):
            raise sso_signin.refused(pending, f"the IdP answered {request.args['error'][:100]!r}")
        claims = sso_signin.confirm_with_idp(
            pending, request.args.get("code", ""), request.args.get("iss"), allow_private()
        )
        # Before anything is written: a fresh sign-in asked and not confirmed signs no one in.
        auth_time = sso_signin.idp_auth_time(pending, claims, fresh, int(time.time()))
        signed = sso_signin.complete_sign_in(db.session, pending, claims, client_address())
    except DomainError as exc:
        return _refusal(exc, mode, next_url)
    if signed.mode == "api":
        return jsonify(
            SessionSchema().dump({"token": signed.issued.secret, "user": signed.issued.user})
        )
    security.sign_in(signed.issued, company=True, idp_auth_time=auth_time)
    return redirect(safe_next(signed.next_url, url_for("ui.home")))


@blp.post(BACKCHANNEL_LOGOUT_PATH)
def backchannel_logout():
    """OpenID Connect Back-Channel Logout 1.0: the IdP posts a `logout_token`; verified, the
    sessions it names end here (200); otherwise 400 and nothing ends."""
    token = request.form.get("logout_token", "")
    try:
        ended = sso_signin.back_channel_logout(db.session, token, allow_private())
    except sso_signin.LogoutRefused as exc:
        answer = jsonify({"error": "invalid_request", "error_description": str(exc)})
        answer.status_code = 400
    else:
        answer = jsonify({"ended": ended})
    answer.headers["Cache-Control"] = "no-store"
    return answer
