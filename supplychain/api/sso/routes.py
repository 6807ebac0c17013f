"""Company sign-in (SSO): PUT/GET/DELETE /orgs/{org_id}/sso (that org's admins), a check of the
issuer's discovery, and GET /auth/sso/start for scripts (302 to the IdP)."""

from __future__ import annotations

from flask import redirect, session
from flask.views import MethodView

from supplychain.api.common import Blueprint, authenticated_blueprint, no_content
from supplychain.auth import current_actor
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.identity_sso.outbound import allow_private
from supplychain.schemas import sso as s
from supplychain.services import sso, sso_signin

org_blp = authenticated_blueprint(
    "sso", __name__, url_prefix="/orgs", description="Company sign-in (SSO) of your org"
)
start_blp = Blueprint(
    "sso_start", __name__, url_prefix="/auth/sso", description="Company sign-in for scripts"
)
BLUEPRINTS = (org_blp, start_blp)


@org_blp.route("/<id:org_id>/sso")
class SsoSettings(MethodView):
    @org_blp.response(200, s.SsoConnectionSchema)
    def get(self, org_id):
        """The org's company sign-in (its admins; another org: 404): the settings without the
        secret, and the `redirect_uri` and `backchannel_logout_uri` to register at the IdP."""
        return sso.get_connection(db.session, current_actor(), org_id)

    @org_blp.changes(s.SsoSettingsSchema, s.SsoConnectionSchema)
    def put(self, body, org_id):
        """Connect (or change) the org's IdP. The issuer's discovery document is fetched and
        checked first (422 naming `issuer` when it does not answer, is not a JSON object or
        names another issuer); a domain another org connected is 409; the client secret is
        stored encrypted and never shown again."""
        return sso.save_connection(
            db.session,
            current_actor(),
            org_id,
            **body,
            allow_private=allow_private(),
        )

    @org_blp.response(204)
    def delete(self, org_id):
        """Switch company sign-in off: domains freed, links to the IdP forgotten, passwords
        work again."""
        sso.delete_connection(db.session, current_actor(), org_id)
        return no_content()


@org_blp.route("/<id:org_id>/sso/check")
class SsoCheck(MethodView):
    @org_blp.response(200, s.SsoCheckSchema)
    def post(self, org_id):
        """Run the saved issuer's discovery now (the settings page's test button): what it
        found, or 422 naming `issuer`. Nothing is saved."""
        return sso.check_connection(db.session, current_actor(), org_id, allow_private())


@start_blp.route("/start")
class SsoStart(MethodView):
    @start_blp.arguments(s.SsoStartQuery, location="query")
    @start_blp.response(302, description="To the IdP's authorization endpoint")
    @start_blp.alt_response(422, description="No org here signs in with this email's domain")
    @start_blp.doc(security=[])
    @transaction(Transaction.WRITES)
    def get(self, query):
        """Company sign-in for scripts: the email's domain picks the org's IdP; 302 to it (code
        flow with PKCE, `state`, `nonce`). Keep the cookie this answer sets: the callback
        answers `{token, user}` (as POST /auth/login does) only with it."""
        started = sso_signin.start_sign_in(db.session, query["email"], mode="api")
        session[sso.STATE_KEY] = started.state
        session.pop(sso.FRESH_KEY, None)  # a script's sign-in answers no app's prompt=login
        return redirect(started.url, 302)
