"""A person's mail settings and the one-click unsubscribe link every notification carries."""

from __future__ import annotations

from flask import current_app, render_template, request

from supplychain.errors import Invalid, NotFound
from supplychain.extensions import db
from supplychain.models import User
from supplychain.models.events import EMAIL_MODES, EVENT_TYPES
from supplychain.outbound.mail.unsubscribe import unsubscribe_user_id
from supplychain.services import notification_settings
from supplychain.ui.base import actor, blp, flash_and_redirect, login_required
from supplychain.ui.forms import FormErrors, on_form_error, text
from supplychain.ui.i18n import gettext
from supplychain.ui.security import csrf_exempt

# Event types people can ask mail for (a ping is for webhooks only).
MAILABLE = tuple(t for t in EVENT_TYPES if t != "ping")


def _settings_page(errors: FormErrors, preference=None, language=None):
    user = actor().user
    preference = preference or notification_settings.get_settings(db.session, user)
    return render_template(
        "notifications.html",
        errors=errors,
        preference=preference,
        modes=EMAIL_MODES,
        event_types=MAILABLE,
        mail_language=language or notification_settings.mail_language(user),
    )


@blp.get("/account/notifications")
@login_required
def notifications():
    """Which mail the signed-in person gets: immediate, a daily digest or none, for which events."""
    return _settings_page(FormErrors())


@blp.post("/account/notifications")
@login_required
def save_notifications():
    """Save the person's mail settings (same rules as PUT /me/notifications)."""
    user = actor().user
    with on_form_error(lambda exc: _settings_page(FormErrors.of(exc)), (Invalid,)):
        notification_settings.put_settings(
            db.session, user, text(request.form, "email") or "", request.form.getlist("events")
        )
        notification_settings.set_language(db.session, user, text(request.form, "language") or "")
    return flash_and_redirect(gettext("Your mail settings were saved."), "ui.notifications")


def _unsubscribing(token: str) -> User:
    user_id = unsubscribe_user_id(current_app.config["SECRET_KEY"], token)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    return user


@blp.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    """Ask before unsubscribing: a GET changes nothing (mail scanners follow every link)."""
    user = _unsubscribing(token)
    return render_template("unsubscribe.html", user=user, token=token, done=False)


@blp.post("/unsubscribe/<token>")
@csrf_exempt  # RFC 8058 one-click: mail clients POST without a form token; the URL is signed
def unsubscribe_confirm(token: str):
    """Turn the person's mail off (one click from the mail client, or the page's button)."""
    user = _unsubscribing(token)
    notification_settings.unsubscribe(db.session, user.id)
    return render_template("unsubscribe.html", user=user, token=token, done=True)
