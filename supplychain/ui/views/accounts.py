"""Landing, sign in, activation, sign out and the language switch."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for

from supplychain.errors import Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from supplychain.extensions import db
from supplychain.outbound.mail.sending import mail_password_reset_after_commit
from supplychain.proxies import client_address
from supplychain.schemas.accounts import (
    ActivateSchema,
    LoginSchema,
    PasswordChangeSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
)
from supplychain.services import accounts, notification_settings, password_resets
from supplychain.services.invitations import InvitationExpired
from supplychain.ui import security
from supplychain.ui.base import actor, blp, flash_and_redirect, login_required, safe_next
from supplychain.ui.forms import FormErrors, on_form_error, text, validated
from supplychain.ui.i18n import LANGUAGES, gettext


@blp.get("/")
def landing():
    """The landing page; signed-in people go straight to their home page."""
    if security.session_actor(db.session) is not None:
        return redirect(url_for("ui.home"))
    return render_template("landing.html")


@blp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password; the session holds the login token's id."""
    next_url = safe_next(request.values.get("next"), url_for("ui.home"))
    if request.method != "POST":
        # `reauth`: an app asked for a fresh sign-in (prompt=login, max_age): the form even
        # to a signed-in person, who goes on to `next` only after signing in again.
        again = request.args.get("reauth") == "1"
        if not again and security.session_actor(db.session) is not None:
            return redirect(next_url)
        return render_template(
            "login.html", errors=FormErrors(), email="", next_url=next_url, again=again
        )
    email = request.form.get("email", "")

    def rerender(exc):
        errors = FormErrors.of(exc)
        return render_template("login.html", errors=errors, email=email, next_url=next_url)

    with on_form_error(rerender, (Invalid, Unauthorized, Forbidden, TooManyRequests)):
        body = validated(
            LoginSchema, {"email": email.strip(), "password": request.form.get("password", "")}
        )
        issued = accounts.login(db.session, body["email"], body["password"], client_address())
    security.sign_in(issued)
    return redirect(next_url)


@blp.route("/activate", methods=["GET", "POST"])
def activate():
    """Activate an invitation: the code from the invitation and a new password."""
    if request.method != "POST":
        code = request.args.get("code", "")[:64]
        return render_template("activate.html", errors=FormErrors(), code=code, expired=None)
    code = request.form.get("invite_code", "")
    password = request.form.get("password", "")

    def rerender(exc):
        errors = FormErrors.of(exc)
        if isinstance(exc, NotFound):
            errors = FormErrors(exc.message, {"invite_code": [exc.message]})
        expired = exc if isinstance(exc, InvitationExpired) else None
        return render_template("activate.html", errors=errors, code=code, expired=expired)

    with on_form_error(rerender, (Invalid, NotFound, Forbidden, TooManyRequests)):
        if password != request.form.get("password2", password):
            raise Invalid("The passwords differ.", {"password2": ["Type the same password twice."]})
        body = validated(ActivateSchema, {"invite_code": code.strip(), "password": password})
        issued = accounts.activate(
            db.session, body["invite_code"], body["password"], client_address()
        )
    security.sign_in(issued)
    return flash_and_redirect(gettext("Welcome! Your account is active."), "ui.home")


@blp.get("/account")
@login_required
def account():
    """The signed-in person's account, with the form to change the password."""
    return render_template("account.html", errors=FormErrors())


@blp.post("/account/password")
@login_required
def change_password():
    """Change the password; the person's other sessions and API tokens are revoked."""
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")

    def rerender(exc):
        return render_template("account.html", errors=FormErrors.of(exc))

    with on_form_error(rerender, (Invalid, TooManyRequests)):
        if new != request.form.get("new_password2", new):
            raise Invalid(
                "The passwords differ.", {"new_password2": ["Type the same password twice."]}
            )
        body = validated(PasswordChangeSchema, {"current_password": current, "new_password": new})
        accounts.change_password(
            db.session, actor(), body["current_password"], body["new_password"], client_address()
        )
    return flash_and_redirect(
        gettext("Your password was changed; your other sessions were signed out."), "ui.account"
    )


@blp.post("/logout")
def logout():
    """Sign out: the login token is revoked, so the cookie is worthless from now on."""
    signed_in = security.session_actor(db.session)
    token_id = security.signed_in_token_id()
    if signed_in is not None and token_id is not None:
        accounts.revoke_api_token(db.session, signed_in, token_id)
    security.sign_out()
    return flash_and_redirect(gettext("You are signed out."), "ui.login")


@blp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a password reset link by email; the answer is the same for any address."""
    if request.method != "POST":
        return render_template("forgot_password.html", errors=FormErrors(), email="", sent=False)
    email = request.form.get("email", "")

    def rerender(exc):
        return render_template(
            "forgot_password.html", errors=FormErrors.of(exc), email=email, sent=False
        )

    with on_form_error(rerender, (Invalid, TooManyRequests)):
        body = validated(PasswordResetRequestSchema, {"email": email.strip()})
        link = password_resets.request_password_reset(db.session, body["email"], client_address())
        if link is not None:
            mail_password_reset_after_commit(db.session, link.user, link.token)
    return render_template("forgot_password.html", errors=FormErrors(), email=email, sent=True)


@blp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The page a reset link opens: choose a new password (the link works once, for an hour)."""
    if request.method != "POST":
        password_resets.check_reset_link(db.session, token)
        return render_template("reset_password.html", errors=FormErrors(), token=token)
    new = request.form.get("new_password", "")

    def rerender(exc):
        return render_template("reset_password.html", errors=FormErrors.of(exc), token=token)

    with on_form_error(rerender, (Invalid,)):
        if new != request.form.get("new_password2", new):
            raise Invalid(
                "The passwords differ.", {"new_password2": ["Type the same password twice."]}
            )
        body = validated(PasswordResetConfirmSchema, {"token": token, "new_password": new})
        password_resets.confirm_password_reset(db.session, body["token"], body["new_password"])
    security.sign_out()
    return flash_and_redirect(
        gettext("Your password was changed. Sign in with the new one."), "ui.login"
    )


@blp.post("/language")
def language():
    """Switch the pages' language; kept in the session, signed in or not, and remembered as a
    signed-in person's language for mail."""
    lang = text(request.form, "lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        signed_in = security.session_actor(db.session)
        if signed_in is not None and lang in notification_settings.MAIL_LANGUAGES:
            notification_settings.set_language(db.session, signed_in.user, lang)
    return redirect(safe_next(request.form.get("next"), url_for("ui.landing")))
