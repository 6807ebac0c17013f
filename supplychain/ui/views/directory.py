"""The chain map, member pages, and the owner's directory admin: members, groups, contacts, grants."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from lxml import etree
from werkzeug.datastructures import MultiDict

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.extensions import db
from supplychain.identity import app_clients
from supplychain.ids import parse_id
from supplychain.models.apps import GRANT_SCOPES
from supplychain.models.directory import ORG_KINDS, USER_ROLES
from supplychain.schemas.apps import GrantCreateSchema
from supplychain.schemas.directory import (
    ContactCreateSchema,
    GroupCreateSchema,
    MemberCreateSchema,
    MemberPatchSchema,
    MemberQuerySchema,
)
from supplychain.services import apps, choices
from supplychain.services.groups import create_group, groups_query
from supplychain.services.invitations import statuses_of
from supplychain.services.links import graph_snapshot, graph_svg, member_impact
from supplychain.services.members import (
    NewContact,
    add_contact,
    add_member,
    member_detail,
    members_page,
    remove_member,
    update_member,
)
from supplychain.services.pagination import paginate
from supplychain.ui.base import blp, chain, flash_and_redirect, login_required, page_number
from supplychain.ui.forms import (
    FormErrors,
    compact,
    filled_rows,
    on_form_error,
    remap_rows,
    text,
    validated,
)
from supplychain.ui.i18n import gettext

PAGE_SIZE = 50
CONTACT_FIELDS = ("name", "email", "mobile", "title", "role")
CONTACT_ROWS = 3
SVG = "http://www.w3.org/2000/svg"


def clickable_svg(svg: str, href_for, label: str) -> str:
    """The chain drawing with every node wrapped in a link to its member page (no script),
    named by `label`. Not an image any more (links in an image are links nobody can reach): a
    group of links, each named by its org's title and text."""
    root = etree.fromstring(svg.encode("utf-8"), etree.XMLParser(resolve_entities=False))
    # Its <style> comes from app.css instead (`.chain-map`): the pages allow no inline style.
    for style in root.findall(f"{{{SVG}}}style"):
        root.remove(style)
    for node in root.iter(f"{{{SVG}}}g"):
        org_id = parse_id(node.get("data-org-id"))
        if org_id is None:
            continue
        link = etree.Element(f"{{{SVG}}}a")
        link.set("href", href_for(org_id))
        node.addprevious(link)
        link.append(node)
    root.set("class", "chain-map")
    root.set("role", "group")
    root.set("aria-label", label)
    return etree.tostring(root, encoding="unicode")


@blp.get("/chains/<id:cid>/map")
@login_required
def chain_map(cid: int | None):
    """The owner's picture of the chain by tier; each org links to its member page."""
    access = chain(cid)
    snapshot = graph_snapshot(db.session, access)
    svg = clickable_svg(
        graph_svg(snapshot),
        lambda org_id: url_for("ui.member", cid=cid, org_id=org_id),
        gettext("Chain map"),
    )
    tiers: dict[str, int] = {}
    for node in snapshot["nodes"]:
        tiers[node["tier"]] = tiers.get(node["tier"], 0) + 1
    ordered = [(tier, tiers[tier]) for tier in choices.chain_tiers(db.session, access)]
    return render_template(
        "directory/map.html",
        access=access,
        svg=svg,
        tiers=ordered,
        nodes=len(snapshot["nodes"]),
        links=len(snapshot["links"]),
    )


# --- members ----------------------------------------------------------------------------------


@blp.get("/chains/<id:cid>/members")
@login_required
def members(cid: int | None):
    """Members the user may see, by tier, group, kind or text."""
    access = chain(cid)
    raw = {
        name: text(request.args, name) for name in ("tier", "group", "kind", "q", "not_activated")
    }
    errors = FormErrors()
    try:
        filters = validated(MemberQuerySchema, compact(raw))
        found = members_page(
            db.session,
            access,
            tier=filters.get("tier"),
            group=filters.get("group"),
            kind=filters.get("kind"),
            q=filters.get("q"),
            page=page_number(),
            page_size=PAGE_SIZE,
            not_activated=filters.get("not_activated", False),
        )
    except Invalid as exc:
        errors = FormErrors.of(exc)
        found = members_page(
            db.session,
            access,
            tier=None,
            group=None,
            kind=None,
            q=None,
            page=1,
            page_size=PAGE_SIZE,
        )
    return render_template(
        "directory/members.html",
        access=access,
        page=found,
        errors=errors,
        filters=raw,
        tiers=choices.chain_tiers(db.session, access),
        groups=paginate(db.session, groups_query(access), 1, 500).items,
        kinds=ORG_KINDS,
    )


def _render_member(access: ChainAccess, org_id: int | None, failed: str | None, errors: FormErrors):
    view = member_detail(db.session, access, org_id)
    impact = None
    names: dict[int, str] = {}
    if access.is_owner:
        impact = member_impact(db.session, access, view.member.org_id)
        names = choices.org_names(
            db.session, {i["org_id"] for i in impact["affected"] + impact["cut_off"]}
        )
    member = view.member
    can_add_contact = access.actor.is_admin and (
        access.is_owner or access.actor.org_id == member.org_id
    )
    return render_template(
        "directory/member.html",
        access=access,
        view=view,
        member=member,
        impact=impact,
        names=names,
        failed=failed,
        errors=errors,
        form=request.form if failed else MultiDict(),
        can_add_contact=can_add_contact,
        invitations=statuses_of(db.session, [c.user for c in view.contacts]),
        is_owner_admin=access.is_owner and access.actor.is_admin,
        roles=USER_ROLES,
    )


@blp.get("/chains/<id:cid>/members/<id:org_id>")
@login_required
def member(cid: int | None, org_id: int | None):
    """A member with its contacts and, for the owner, what stops if it stops."""
    return _render_member(chain(cid), org_id, None, FormErrors())


@blp.post("/chains/<id:cid>/members/<id:org_id>/contacts")
@login_required
def member_add_contact(cid: int | None, org_id: int | None):
    """Add a contact to a member org; the invitation code is shown once."""
    access = chain(cid)
    body = compact({name: text(request.form, name) for name in CONTACT_FIELDS})

    def rerender(exc):
        errors = FormErrors.of(exc)
        nested = errors.tree.pop("json", None)
        if isinstance(nested, dict):
            errors.tree.update(nested)
        return _render_member(access, org_id, "contact", errors)

    with on_form_error(rerender):
        loaded = validated(ContactCreateSchema, body)
        added = add_contact(db.session, access, org_id, NewContact(**loaded))
    _flash_codes([(added.contact.user.email, added.invite_code)])
    return redirect(url_for("ui.member", cid=cid, org_id=org_id))


@blp.post("/chains/<id:cid>/members/<id:org_id>/edit")
@login_required
def member_edit(cid: int | None, org_id: int | None):
    """Move a member to another group (empty: none) or give it a new custom id."""
    access = chain(cid)
    group = text(request.form, "group")
    body = compact({"custom_id": text(request.form, "custom_id"), "group": group})
    with on_form_error(lambda exc: _render_member(access, org_id, "edit", FormErrors.of(exc))):
        loaded = validated(MemberPatchSchema, body)
        update_member(
            db.session,
            access,
            org_id,
            group_path=loaded.get("group"),
            custom_id=loaded.get("custom_id"),
            clear_group=group is None,
        )
    return flash_and_redirect(gettext("Saved."), "ui.member", cid=cid, org_id=org_id)


@blp.post("/chains/<id:cid>/members/<id:org_id>/remove")
@login_required
def member_remove(cid: int | None, org_id: int | None):
    """Remove a partner from the chain: its access ends at once, its history stays."""
    access = chain(cid)

    def rerender(exc):
        return _render_member(access, org_id, "remove", FormErrors.of(exc))

    with on_form_error(rerender, (Conflict,)):
        remove_member(db.session, access, org_id)
    return flash_and_redirect(gettext("The member was removed."), "ui.members", cid=cid)


def _flash_codes(codes: list[tuple[str, str | None]]) -> None:
    """Invitation codes go to the next page once, as flash messages (never stored server-side)."""
    for email, code in codes:
        if code:
            flash(f"{email}: {code}", "code")


def _render_new_member(access: ChainAccess, form: MultiDict, errors: FormErrors):
    return render_template(
        "directory/member_new.html",
        access=access,
        form=form,
        errors=errors,
        kinds=ORG_KINDS,
        roles=USER_ROLES,
        rows=CONTACT_ROWS,
        groups=paginate(db.session, groups_query(access), 1, 500).items,
    )


@blp.route("/chains/<id:cid>/members/new", methods=["GET", "POST"])
@login_required
def member_new(cid: int | None):
    """Add a partner org with its contacts; each contact's invitation code is shown once."""
    access = chain(cid)
    access.require_owner_admin()
    if request.method != "POST":
        return _render_new_member(access, MultiDict(), FormErrors())
    form = request.form
    filled = filled_rows(form, "contacts", CONTACT_FIELDS[:4], CONTACT_ROWS)
    positions = [index for index, _ in filled]
    contacts = [
        compact({**values, "role": text(form, f"contacts-{index}-role")})
        for index, values in filled
    ]
    body = compact(
        {
            "org": {"name": text(form, "org_name"), "kind": text(form, "org_kind")},
            "custom_id": text(form, "custom_id"),
            "group": text(form, "group"),
            "contacts": contacts,
        }
    )
    body["org"] = compact(body["org"])

    def rerender(exc):
        return _render_new_member(access, form, remap_rows(exc, "contacts", positions))

    with on_form_error(rerender):
        loaded = validated(MemberCreateSchema, body)
        _view, added = add_member(
            db.session,
            access,
            org_id=None,
            new_org=loaded["org"],
            custom_id=loaded["custom_id"],
            group_path=loaded.get("group"),
            contacts=[NewContact(**c) for c in loaded["contacts"]],
        )
    _flash_codes([(a.contact.user.email, a.invite_code) for a in added])
    return flash_and_redirect(
        gettext("Member added. Give each contact their invitation code."),
        "ui.member",
        cid=cid,
        org_id=_view.member.org_id,
    )


# --- groups and grants --------------------------------------------------------------------------


def _render_groups(access: ChainAccess, errors: FormErrors):
    found = paginate(db.session, groups_query(access), page_number(), 200)
    return render_template(
        "directory/groups.html",
        access=access,
        page=found,
        errors=errors,
        form=request.form,
    )


@blp.route("/chains/<id:cid>/groups", methods=["GET", "POST"])
@login_required
def groups(cid: int | None):
    """The chain's group tree; owner admins add groups by path."""
    access = chain(cid)
    if request.method != "POST":  # GET and HEAD
        return _render_groups(access, FormErrors())
    with on_form_error(lambda exc: _render_groups(access, FormErrors.of(exc))):
        loaded = validated(GroupCreateSchema, compact({"path": text(request.form, "path")}))
        group, created = create_group(db.session, access, loaded["path"])
    return flash_and_redirect(
        gettext("Group %(path)s created.", path=group.path)
        if created
        else gettext("Group %(path)s exists already.", path=group.path),
        "ui.groups",
        cid=cid,
    )


def _render_grants(access: ChainAccess, errors: FormErrors):
    found = paginate(db.session, apps.grants_query(access), page_number(), 200)
    return render_template(
        "directory/grants.html",
        access=access,
        page=found,
        errors=errors,
        form=request.form,
        apps=apps.list_apps(db.session, access),
        scopes=GRANT_SCOPES,
        tiers=choices.chain_tiers(db.session, access),
        custom_apps=app_clients.custom_apps(db.session, access),
        pickers=choices.audience_choices(db.session, access),
    )


@blp.route("/chains/<id:cid>/grants", methods=["GET", "POST"])
@login_required
def grants(cid: int | None):
    """Which apps are shared with whom; owner admins grant and revoke."""
    access = chain(cid)
    if request.method != "POST":  # GET and HEAD
        return _render_grants(access, FormErrors())
    scope_type = text(request.form, "scope_type")
    body = {
        "app": text(request.form, "app"),
        "scope": compact(
            {
                "type": scope_type,
                # The picker of the chosen kind (tier, group, org); a typed value as before.
                "value": None
                if scope_type == "all"
                else text(request.form, f"scope_{scope_type}") or text(request.form, "scope_value"),
            }
        ),
    }
    with on_form_error(lambda exc: _render_grants(access, FormErrors.of(exc))):
        loaded = validated(GrantCreateSchema, compact(body))
        scope = loaded["scope"]
        apps.create_grant(db.session, access, loaded["app"], scope["type"], scope.get("value"))
    return flash_and_redirect(gettext("Shared."), "ui.grants", cid=cid)


@blp.post("/chains/<id:cid>/grants/<id:gid>/revoke")
@login_required
def grant_revoke(cid: int | None, gid: int | None):
    """Revoke a grant; partners it covered lose the app on their next request."""
    apps.revoke_grant(db.session, chain(cid), gid)
    return flash_and_redirect(gettext("Revoked."), "ui.grants", cid=cid)
