"""Company sign-in pages: "Sign in with your company account" (email → the org's IdP), and the
org admin's settings for the connection, with a test button that runs the issuer's discovery."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.extensions import db
from supplychain.identity import prompts
from supplychain.identity_sso.outbound import allow_private
from supplychain.schemas.sso import SsoSettingsSchema, SsoStartQuery
from supplychain.services import sso, sso_signin
from supplychain.ui.base import actor, blp, login_required, safe_next
from supplychain.ui.forms import FormErrors, on_form_error, text, validated
from supplychain.ui.i18n import gettext


@blp.route("/login/company", methods=["GET", "POST"])
def company_login():
    """Sign in with the company account: the email's domain picks the org's IdP."""
    next_url = safe_next(request.values.get("next"), url_for("ui.home"))
    email = text(request.form, "email") if request.method == "POST" else ""
    # An app's authorization request waiting for a fresh sign-in (identity/prompts.py): the IdP
    # is asked to authenticate the person again, and must say it did.
    fresh = prompts.demand_for(next_url)
    if request.method != "POST":
        return render_template(
            "sso/login.html", errors=FormErrors(), email=request.args.get("email", "")[:200],
            next_url=next_url, again=fresh is not None,
        )  # fmt: skip

    def rerender(exc):
        return render_template(
            "sso/login.html", errors=FormErrors.of(exc), email=email, next_url=next_url,
            again=fresh is not None,
        )  # fmt: skip

    with on_form_error(rerender, (Invalid,)):
        body = validated(SsoStartQuery, {"email": email})
        started = sso_signin.start_sign_in(db.session, body["email"], "page", next_url, fresh)
    session[sso.STATE_KEY] = started.state
    if fresh is None:
        session.pop(sso.FRESH_KEY, None)
    else:
        session[sso.FRESH_KEY] = [fresh.since, fresh.max_age]
    # A page that moves on by itself, not a redirect: the pages' CSP (`form-action 'self'`)
    # stops a form's redirect to another site, and the IdP is one.
    return render_template("sso/redirect.html", url=started.url)


def _form_values(connection) -> dict:
    if connection is None:
        return {"issuer": "", "client_id": "", "email_domains": "", "create_users": False,
                "required": False}  # fmt: skip
    return {
        "issuer": connection.issuer,
        "client_id": connection.client_id,
        "email_domains": "\n".join(connection.email_domains),
        "create_users": connection.create_users,
        "required": connection.required,
    }


def _render(connection, values: dict, errors: FormErrors, checked=None) -> str:
    return render_template(
        "sso/settings.html",
        connection=connection,
        values=values,
        errors=errors,
        checked=checked,
        redirect_uri=sso.redirect_uri(),
        backchannel_logout_uri=sso.backchannel_logout_uri(),
    )


def _own_connection():
    signed_in = actor()
    if not signed_in.is_admin:
        raise Forbidden("Only your org's admins manage its company sign-in.")
    return signed_in, sso.connection_of(db.session, signed_in.org_id)


@blp.route("/settings/company-sign-in", methods=["GET", "POST"])
@login_required
def sso_settings():
    """The org's connection to its IdP (its admins): issuer, client, domains and the switches."""
    signed_in, connection = _own_connection()
    if request.method != "POST":
        return _render(connection, _form_values(connection), FormErrors())
    form = request.form
    values = {
        "issuer": text(form, "issuer") or "",
        "client_id": text(form, "client_id") or "",
        "email_domains": form.get("email_domains", ""),
        "create_users": form.get("create_users") == "1",
        "required": form.get("required") == "1",
    }
    body = {
        "issuer": values["issuer"],
        "client_id": values["client_id"],
        "email_domains": [d.strip() for d in values["email_domains"].split() if d.strip()],
        "create_users": values["create_users"],
        "required": values["required"],
    }
    secret = form.get("client_secret", "")
    if secret:
        body["client_secret"] = secret

    def rerender(exc):
        return _render(connection, values, FormErrors.of(exc))

    with on_form_error(rerender, (Invalid, Conflict)):
        loaded = validated(SsoSettingsSchema, body)
        sso.save_connection(
            db.session, signed_in, signed_in.org_id, **loaded, allow_private=allow_private()
        )
    flash(gettext("Company sign-in is saved."), "ok")
    return redirect(url_for("ui.sso_settings"), 303)


@blp.post("/settings/company-sign-in/test")
@login_required
def sso_test():
    """The test button: the saved issuer's discovery, run now (nothing is saved)."""
    signed_in, connection = _own_connection()
    if connection is None:
        raise NotFound("Company sign-in is not set up for this org.")
    values = _form_values(connection)
    with on_form_error(lambda exc: _render(connection, values, FormErrors.of(exc)), (Invalid,)):
        found = sso.check_connection(db.session, signed_in, signed_in.org_id, allow_private())
    return _render(connection, values, FormErrors(), checked=found)


@blp.post("/settings/company-sign-in/delete")
@login_required
def sso_delete():
    """Switch company sign-in off for the org."""
    signed_in, _connection = _own_connection()
    sso.delete_connection(db.session, signed_in, signed_in.org_id)
    flash(gettext("Company sign-in is switched off; passwords work again."), "ok")
    return redirect(url_for("ui.sso_settings"), 303)
