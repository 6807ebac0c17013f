"""Sign-in, activation, /me and API tokens."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import Blueprint, authenticated_blueprint, no_content
from supplychain.auth import current_actor
from supplychain.extensions import db
from supplychain.outbound.mail.sending import mail_password_reset_after_commit
from supplychain.proxies import client_address
from supplychain.schemas.accounts import (
    ActivateSchema,
    LoginSchema,
    MeSchema,
    PasswordChangeSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
    SessionSchema,
    TokenCreateSchema,
    TokenListSchema,
    TokenSchema,
)
from supplychain.schemas.events import NotificationSettingSchema
from supplychain.services import accounts, me, notification_settings, password_resets

auth_blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign in and activation")
me_blp = authenticated_blueprint("me", __name__, url_prefix="/me", description="The caller")
BLUEPRINTS = (auth_blp, me_blp)
# Sign-in throttling's answer, documented on every operation that checks a password.
THROTTLED = {
    "description": "Too many failed attempts for this email (10) or from this address (50) in "
    "15 minutes: refused, even with the right password, for `Retry-After` seconds",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


@auth_blp.route("/login")
class Login(MethodView):
    @auth_blp.changes(LoginSchema, SessionSchema)
    @auth_blp.alt_response(429, **THROTTLED)
    @auth_blp.doc(security=[])
    def post(self, body):
        """Sign in with email and password; returns a bearer token."""
        issued = accounts.login(db.session, body["email"], body["password"], client_address())
        return {"token": issued.secret, "user": issued.user}


@auth_blp.route("/activate")
class Activate(MethodView):
    @auth_blp.changes(ActivateSchema, SessionSchema)
    @auth_blp.alt_response(429, **THROTTLED)
    @auth_blp.doc(security=[])
    def post(self, body):
        """Activate an invited contact with its single-use code and choose a password."""
        issued = accounts.activate(
            db.session, body["invite_code"], body["password"], client_address()
        )
        return {"token": issued.secret, "user": issued.user}


@auth_blp.route("/password-reset")
class PasswordReset(MethodView):
    @auth_blp.arguments(PasswordResetRequestSchema)
    @auth_blp.response(202)
    @auth_blp.alt_response(429, **THROTTLED)
    @auth_blp.doc(security=[])
    def post(self, body):
        """Ask for a password reset link by email: 202 whether or not the email belongs to
        someone (no account enumeration). The link is single use and valid for an hour; one
        person gets at most 3 links an hour; each ask counts against the client's address as a
        failed sign-in does."""
        link = password_resets.request_password_reset(db.session, body["email"], client_address())
        if link is not None:
            mail_password_reset_after_commit(db.session, link.user, link.token)
        return no_content(202)


@auth_blp.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @auth_blp.arguments(PasswordResetConfirmSchema)
    @auth_blp.response(204)
    @auth_blp.alt_response(404, description="The link is unknown, used or expired")
    @auth_blp.doc(security=[])
    def post(self, body):
        """Choose a new password with the token of a reset link (single use): every token of
        the person is revoked, so every device signs in again."""
        password_resets.confirm_password_reset(db.session, body["token"], body["new_password"])
        return no_content()


@me_blp.route("")
class Me(MethodView):
    @me_blp.response(200, MeSchema)
    def get(self):
        """The caller, its org and every chain it belongs to with role, tier and usable apps."""
        return me.describe_me(db.session, current_actor())


@me_blp.route("/password")
class Password(MethodView):
    @me_blp.arguments(PasswordChangeSchema)
    @me_blp.response(204)
    @me_blp.alt_response(429, **THROTTLED)
    def post(self, body):
        """Change the caller's password (the current one is asked for; a wrong one is 422 and
        counts as a failed sign-in). Every other token of the caller is revoked: other devices
        are signed out and API tokens stop working; the token of this call stays."""
        accounts.change_password(
            db.session,
            current_actor(),
            body["current_password"],
            body["new_password"],
            client_address(),
        )
        return no_content()


@me_blp.route("/notifications")
class Notifications(MethodView):
    @me_blp.response(200, NotificationSettingSchema)
    def get(self):
        """The caller's email preference (default: `immediate` for notice, order and
        statement events)."""
        return notification_settings.get_settings(db.session, current_actor().user)

    @me_blp.changes(NotificationSettingSchema, NotificationSettingSchema)
    def put(self, body):
        """Choose how the caller is mailed: `immediate`, one `daily` digest at 08:00 in the
        chain's timezone, or `off`; `events` narrows the types (unknown types are 422)."""
        return notification_settings.put_settings(
            db.session, current_actor().user, body["email"], body["events"]
        )


@me_blp.route("/tokens")
class Tokens(MethodView):
    @me_blp.response(200, TokenListSchema)
    def get(self):
        """The caller's live API tokens (secrets are never shown again)."""
        return {"items": accounts.list_api_tokens(db.session, current_actor())}

    @me_blp.creates(TokenCreateSchema, TokenSchema, secrets=("token",))
    def post(self, body):
        """Create a named API token; its secret is in this response only (an idempotent
        replay answers `token` as null)."""
        issued = accounts.create_api_token(
            db.session, current_actor(), body["name"], body["expires_in_days"]
        )
        token = issued.token
        return {
            "id": token.id,
            "name": token.name,
            "kind": token.kind,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "token": issued.secret,
        }


@me_blp.route("/tokens/<id:token_id>")
class Token(MethodView):
    @me_blp.response(204)
    def delete(self, token_id):
        """Revoke one of the caller's tokens; it fails with 401 from the next request on."""
        accounts.revoke_api_token(db.session, current_actor(), token_id)
        return no_content()
