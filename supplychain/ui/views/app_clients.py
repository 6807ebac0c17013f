"""The sharing page's custom apps: register one (name, URL, redirect URIs, logout URI), see its
client id and secret once, rotate the secret, delete it."""

from __future__ import annotations

from flask import current_app, render_template, request

from supplychain.extensions import db
from supplychain.identity import app_clients
from supplychain.schemas.apps import AppCreateSchema
from supplychain.ui.base import blp, chain, flash_and_redirect, login_required
from supplychain.ui.forms import (
    FormErrors,
    compact,
    on_form_error,
    text,
    validated,
)
from supplychain.ui.i18n import gettext


def _lines(name: str) -> list[str] | None:
    """A textarea of URLs, one a line; None when empty."""
    found = [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]
    return found or None


@blp.post("/chains/<cid>/apps/new")
@login_required
def app_register(cid: str):
    """Register a custom app; with redirect URIs the answer shows its client id and secret."""
    access = chain(cid)
    from supplychain.ui.views.directory import _render_grants

    body = compact(
        {
            "key": text(request.form, "key"),
            "name": text(request.form, "name"),
            "url": text(request.form, "url"),
            "description": text(request.form, "description"),
            "redirect_uris": _lines("redirect_uris"),
            "backchannel_logout_uri": text(request.form, "backchannel_logout_uri"),
        }
    )
    with on_form_error(lambda exc: _render_grants(access, FormErrors.of(exc))):
        loaded = validated(AppCreateSchema, body)
        created = app_clients.register(
            db.session,
            access,
            **loaded,
            allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
        )
    if created.client_secret is None:
        return flash_and_redirect(gettext("App registered."), "ui.grants", cid=cid)
    return render_template("directory/app_created.html", access=access, app=created)


@blp.post("/chains/<cid>/apps/<key>/secret")
@login_required
def app_new_secret(cid: str, key: str):
    """A new client secret, shown once; the old one stops working now."""
    access = chain(cid)
    rotated = app_clients.new_secret(db.session, access, key)
    return render_template("directory/app_created.html", access=access, app=rotated)


@blp.post("/chains/<cid>/apps/<key>/delete")
@login_required
def app_delete(cid: str, key: str):
    """Delete a custom app: its grants, tokens and sessions end with it."""
    app_clients.delete(db.session, chain(cid), key)
    return flash_and_redirect(gettext("App deleted."), "ui.grants", cid=cid)
