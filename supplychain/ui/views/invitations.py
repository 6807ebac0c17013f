"""Invitation pages: the activation link of an invitation mail, resending one person's
invitation, and resending to every contact not yet activated (the owner's members page)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.extensions import db
from supplychain.services import invitations
from supplychain.ui.base import blp, chain, login_required
from supplychain.ui.forms import FormErrors
from supplychain.ui.i18n import error_text, gettext


@blp.get("/activate/<code>")
def activate_with_code(code: str):
    """The link of an invitation mail: the activation form with the code filled in."""
    return render_template("activate.html", errors=FormErrors(), code=code[:64], expired=None)


@blp.post("/chains/<id:cid>/members/<id:org_id>/contacts/<id:user_id>/invite")
@login_required
def contact_invite(cid: int | None, org_id: int | None, user_id: int | None):
    """Mail a contact a new invitation code (the old one stops working); at most hourly."""
    access = chain(cid)
    try:
        invitations.resend_invitation(db.session, access, org_id, user_id)
    except (Conflict, Invalid, Forbidden, NotFound) as exc:
        db.session.rollback()
        flash(error_text(exc.message), "error")
    else:
        flash(gettext("A new invitation was sent; the old code no longer works."), "ok")
    return redirect(url_for("ui.member", cid=cid, org_id=org_id))


@blp.post("/chains/<id:cid>/invitations/resend")
@login_required
def invitations_resend(cid: int | None):
    """Mail a new code to every contact of the chain not yet activated (owner admins)."""
    access = chain(cid)
    try:
        done = invitations.resend_all(db.session, access)
    except Forbidden as exc:
        db.session.rollback()
        flash(error_text(exc.message), "error")
        return redirect(url_for("ui.members", cid=cid))
    flash(
        gettext(
            "New invitations sent: %(resent)s; sent less than an hour ago, skipped: %(soon)s.",
            resent=done.resent,
            soon=done.too_soon,
        ),
        "ok",
    )
    return redirect(url_for("ui.members", cid=cid, not_activated="1"))
