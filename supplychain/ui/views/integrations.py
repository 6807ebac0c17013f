"""Integrations: an org admin's webhooks in a chain (standard receivers and WeCom group robots),
with the secret shown once, enable/disable, a test ping, and the delivery log with redeliver."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.extensions import db
from supplychain.models.events import DELIVERY_STATUSES, EVENT_TYPES, WEBHOOK_KINDS
from supplychain.schemas.webhooks import WebhookCreateSchema
from supplychain.services import webhooks
from supplychain.services.pagination import paginate
from supplychain.ui.base import blp, chain, choice, flash_and_redirect, login_required, page_number
from supplychain.ui.forms import (
    FormErrors,
    compact,
    on_form_error,
    on_refusal,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 25
# The session key naming the webhook whose secret the next page may show (once).
_REVEAL = "webhook_secret_once"
# Types a person can pick (a ping is what the test button sends, not a subscription).
PICKABLE_EVENTS = tuple(t for t in EVENT_TYPES if t != "ping")


def _render_list(access: ChainAccess, form: MultiDict, errors: FormErrors):
    found = paginate(db.session, webhooks.endpoints_query(access), page_number(), 100)
    return render_template(
        "integrations/list.html",
        access=access,
        page=found,
        form=form,
        errors=errors,
        kinds=WEBHOOK_KINDS,
        event_types=PICKABLE_EVENTS,
    )


@blp.route("/chains/<id:cid>/integrations", methods=["GET", "POST"])
@login_required
def integrations(cid: int | None):
    """The org's webhooks in this chain; its admins add one (the secret is shown once)."""
    access = chain(cid)
    if request.method != "POST":  # GET and HEAD
        webhooks.require_org_admin(access)
        return _render_list(access, MultiDict(), FormErrors())
    form = request.form
    everything = form.get("all_events") == "1"
    body = {
        "url": text(form, "url"),
        "kind": text(form, "kind"),
        "language": text(form, "language"),
        "description": text(form, "description"),
        "events": ["*"] if everything else form.getlist("events"),
    }
    with on_form_error(lambda exc: _render_list(access, form, FormErrors.of(exc))):
        loaded = validated(WebhookCreateSchema, compact(body))
        endpoint = webhooks.create_endpoint(
            db.session,
            access,
            **loaded,
            allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
        )
    # Post/redirect/get, so that reloading the answer cannot add a second webhook. The secret is
    # in the next page only, once: the session cookie holds which webhook may show it, never the
    # secret itself, and the page forgets it as it shows it.
    session[_REVEAL] = endpoint.id
    return redirect(url_for("ui.integration_created", cid=cid, wid=endpoint.id), 303)


@blp.get("/chains/<id:cid>/integrations/<id:wid>/created")
@login_required
def integration_created(cid: int | None, wid: int | None):
    """The webhook just added, with its signing secret the first time only."""
    access = chain(cid)
    endpoint = webhooks.get_endpoint(db.session, access, wid)
    shown = session.get(_REVEAL) == endpoint.id
    if shown:
        session.pop(_REVEAL)
    return render_template(
        "integrations/created.html",
        access=access,
        endpoint=endpoint,
        secret=endpoint.secret if shown else None,
    )


@blp.get("/chains/<id:cid>/integrations/<id:wid>")
@login_required
def integration(cid: int | None, wid: int | None):
    """One webhook: its settings, buttons, and its recent deliveries."""
    access = chain(cid)
    endpoint = webhooks.get_endpoint(db.session, access, wid)
    status = choice("status", DELIVERY_STATUSES)
    found = webhooks.deliveries_page(
        db.session, access, endpoint.id, status, page_number(), PAGE_SIZE
    )
    return render_template(
        "integrations/detail.html", access=access, endpoint=endpoint, page=found, status=status
    )


def _back(cid: int | None, wid: int | None):
    target = request.form.get("back")
    if target == "detail":
        return redirect(url_for("ui.integration", cid=cid, wid=wid))
    return redirect(url_for("ui.integrations", cid=cid))


@blp.post("/chains/<id:cid>/integrations/<id:wid>/enabled")
@login_required
def integration_enabled(cid: int | None, wid: int | None):
    """Enable or disable a webhook (disabling fails what still waits to go to it)."""
    enabled = request.form.get("enabled") == "1"
    webhooks.update_endpoint(db.session, chain(cid), wid, enabled=enabled)
    flash(gettext("Webhook enabled.") if enabled else gettext("Webhook disabled."), "ok")
    return _back(cid, wid)


@blp.post("/chains/<id:cid>/integrations/<id:wid>/test")
@login_required
def integration_test(cid: int | None, wid: int | None):
    """Queue a test ping to a webhook."""
    with on_refusal(_back(cid, wid)):
        webhooks.send_test(db.session, chain(cid), wid)
    flash(gettext("A test message is on its way."), "ok")
    return _back(cid, wid)


@blp.post("/chains/<id:cid>/integrations/<id:wid>/delete")
@login_required
def integration_delete(cid: int | None, wid: int | None):
    """Remove a webhook: nothing more is sent to it."""
    webhooks.delete_endpoint(db.session, chain(cid), wid)
    return flash_and_redirect(gettext("Webhook removed."), "ui.integrations", cid=cid)


@blp.post("/chains/<id:cid>/integrations/<id:wid>/deliveries/<id:did>/redeliver")
@login_required
def integration_redeliver(cid: int | None, wid: int | None, did: int | None):
    """Send a delivery's event to the webhook again."""
    with on_refusal(url_for("ui.integration", cid=cid, wid=wid)):
        webhooks.redeliver(db.session, chain(cid), wid, did)
    return flash_and_redirect(
        gettext("Queued for delivery again."), "ui.integration", cid=cid, wid=wid
    )
