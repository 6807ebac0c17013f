"""Chains and their directory: groups, members, contacts, links, graph, impact, rules, audit."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from supplychain.access import chains_query
from supplychain.api.common import access_to, authenticated_blueprint, no_content, paged_rows
from supplychain.auth import current_actor
from supplychain.extensions import db
from supplychain.schemas import directory as s
from supplychain.services import chains, groups, invitations, links, members, visibility
from supplychain.services.audit import audit_query

blp = authenticated_blueprint(
    "directory", __name__, url_prefix="/chains", description="Chains and their directory"
)
BLUEPRINTS = (blp,)


def _contact_specs(items: list[dict]) -> list[members.NewContact]:
    return [members.NewContact(**item) for item in items]


def _contact_rows(added: list[members.AddedContact]) -> list[s.ContactRow]:
    return _with_invitations([s.ContactRow(a.contact, a.invite_code) for a in added])


def _with_invitations(rows: list[s.ContactRow]) -> list[s.ContactRow]:
    """The rows with each person's invitation status, read in one query."""
    statuses = invitations.statuses_of(db.session, [row.contact.user for row in rows])
    for row in rows:
        row.invitation = statuses.get(row.contact.user_id)
    return rows


@blp.route("")
class Chains(MethodView):
    @blp.paged(s.PageQuery, s.ChainPageSchema)
    def get(self, query):
        """Chains the caller's org belongs to."""
        return paged_rows(chains_query(current_actor()), query)

    @blp.creates(s.ChainCreateSchema, s.ChainSchema)
    def post(self, body):
        """Create a chain owned by the caller's org (org admins only)."""
        return chains.create_chain(db.session, current_actor(), **body)


@blp.route("/<id:cid>")
class ChainItem(MethodView):
    @blp.response(200, s.ChainSchema)
    def get(self, cid):
        """One chain the caller's org belongs to."""
        return access_to(cid).chain


@blp.route("/<id:cid>/groups")
class Groups(MethodView):
    @blp.paged(s.PageQuery, s.GroupPageSchema)
    def get(self, query, cid):
        """The chain's group tree as a flat list ordered by path."""
        return paged_rows(groups.groups_query(access_to(cid)), query)

    @blp.creates(s.GroupCreateSchema, s.GroupSchema)
    def post(self, body, cid):
        """Create a group and its missing parents by path (owner admins)."""
        group, _ = groups.create_group(db.session, access_to(cid), body["path"])
        return group


@blp.route("/<id:cid>/members")
class Members(MethodView):
    @blp.paged(s.MemberQuerySchema, s.MemberPageSchema)
    def get(self, query, cid):
        """Members the caller may see, by tier, group (with subgroups), kind or text."""
        return members.members_page(db.session, access_to(cid), **query).envelope()

    @blp.creates(s.MemberCreateSchema, s.MemberDetailSchema, secrets=("invite_code",))
    def post(self, body, cid):
        """Add a partner org with its contacts; each contact gets a single-use invite code."""
        view, added = members.add_member(
            db.session,
            access_to(cid),
            org_id=body.get("org_id"),
            new_org=body.get("org"),
            custom_id=body["custom_id"],
            group_path=body.get("group"),
            contacts=_contact_specs(body["contacts"]),
        )
        view.contacts = _contact_rows(added)
        return view


@blp.route("/<id:cid>/members/<id:org_id>")
class MemberItem(MethodView):
    @blp.response(200, s.MemberDetailSchema)
    def get(self, cid, org_id):
        """One member the caller may see, with its tier and contacts."""
        view = members.member_detail(db.session, access_to(cid), org_id)
        view.contacts = _with_invitations([s.ContactRow(c) for c in view.contacts])
        return view

    @blp.changes(s.MemberPatchSchema, s.MemberDetailSchema)
    def patch(self, body, cid, org_id):
        """Move a member to another group (null: none) or change its custom id (owner admins)."""
        view = members.update_member(
            db.session,
            access_to(cid),
            org_id,
            group_path=body.get("group"),
            custom_id=body.get("custom_id"),
            clear_group="group" in body and body["group"] is None,
        )
        view.contacts = _with_invitations([s.ContactRow(c) for c in view.contacts])
        return view

    @blp.response(204)
    def delete(self, cid, org_id):
        """Remove a partner: its access ends at once, its links go, its history stays."""
        members.remove_member(db.session, access_to(cid), org_id)
        return no_content()


@blp.route("/<id:cid>/members/<id:org_id>/contacts")
class MemberContacts(MethodView):
    @blp.creates(s.ContactCreateSchema, s.ContactSchema, secrets=("invite_code",))
    def post(self, body, cid, org_id):
        """Add a fixed external member (owner admins, or the org's own admins); a new person is
        mailed an invitation unless `send_invite` is false."""
        added = members.add_contact(db.session, access_to(cid), org_id, members.NewContact(**body))
        return _with_invitations([s.ContactRow(added.contact, added.invite_code)])[0]


@blp.route("/<id:cid>/members/<id:org_id>/contacts/<id:user_id>/invite")
class ContactInvitation(MethodView):
    @blp.response(200, s.ContactSchema)
    @blp.alt_response(
        409,
        description="Activated already, or invited less than an hour ago (then with "
        "`Retry-After`, in seconds)",
        headers={
            "Retry-After": {
                "description": "Seconds until a new invitation may be sent (too soon only)",
                "schema": {"type": "integer"},
            }
        },
    )
    def post(self, cid, org_id, user_id):
        """Send the contact a new invitation code by mail; the old code stops working (owner
        admins, or the org's own admins; at most once an hour per person; 422 for a person
        without email, who activates with a code handed out by hand). The new code travels
        only in the mail."""
        access = access_to(cid)
        contact = invitations.resend_invitation(db.session, access, org_id, user_id)
        return _with_invitations([s.ContactRow(contact)])[0]


@blp.route("/<id:cid>/invitations/resend")
class InvitationsResend(MethodView):
    @blp.response(200, s.InvitationResendSummarySchema)
    def post(self, cid):
        """Send a new code to every contact of the chain invited and not yet activated (owner
        admins): those sent one less than an hour ago are skipped, and counted."""
        return invitations.resend_all(db.session, access_to(cid))


@blp.route("/<id:cid>/members/<id:org_id>/impact")
class MemberImpact(MethodView):
    @blp.response(200, s.ImpactSchema)
    def get(self, cid, org_id):
        """If this org stops: who is downstream of it, and who loses all supply (owner)."""
        return links.member_impact(db.session, access_to(cid), org_id)


@blp.route("/<id:cid>/contacts")
class Contacts(MethodView):
    @blp.paged(s.ContactQuerySchema, s.ContactPageSchema)
    def get(self, query, cid):
        """Contacts the caller may see: the owner's, its own org's, and what rules allow."""
        page = members.contacts_page(
            db.session,
            access_to(cid),
            org_id=query.get("org_id"),
            filter_org="org_id" in query,
            q=query.get("q"),
            page=query["page"],
            page_size=query["page_size"],
        )
        page.items = _with_invitations([s.ContactRow(c) for c in page.items])
        return page.envelope()


@blp.route("/<id:cid>/links")
class Links(MethodView):
    @blp.paged(s.PageQuery, s.LinkPageSchema)
    def get(self, query, cid):
        """Links: all of them for the owner, those touching its own org for a partner."""
        return paged_rows(links.links_query(access_to(cid)), query)

    @blp.creates(s.LinkCreateSchema, s.LinkSchema)
    def post(self, body, cid):
        """Add a supply link; 409 if it exists or would close a cycle (owner admins)."""
        return links.create_link(
            db.session, access_to(cid), body["supplier_id"], body["customer_id"]
        )


@blp.route("/<id:cid>/links/<id:link_id>")
class LinkItem(MethodView):
    @blp.response(204)
    def delete(self, cid, link_id):
        """Remove a supply link (owner admins)."""
        links.delete_link(db.session, access_to(cid), link_id)
        return no_content()


@blp.route("/<id:cid>/graph")
class Graph(MethodView):
    @blp.response(
        200,
        s.GraphSchema,
        content_type="application/json",
        description="The graph as JSON; with `Accept: image/svg+xml`, an SVG drawing by tier.",
    )
    @blp.alt_response(
        200,
        schema={"type": "string"},
        content_type="image/svg+xml",
        success=True,
        description="The graph as JSON; with `Accept: image/svg+xml`, an SVG drawing by tier.",
    )
    def get(self, cid):
        """The whole chain as nodes with tiers and links (owner)."""
        snapshot = links.graph_snapshot(db.session, access_to(cid))
        best = request.accept_mimetypes.best_match(["application/json", "image/svg+xml"])
        if best == "image/svg+xml":
            return Response(links.graph_svg(snapshot), mimetype="image/svg+xml")
        return snapshot


@blp.route("/<id:cid>/rules")
class Rules(MethodView):
    @blp.paged(s.PageQuery, s.RulePageSchema)
    def get(self, query, cid):
        """Visibility rules of the chain (owner admins)."""
        return paged_rows(visibility.rules_query(access_to(cid)), query)

    @blp.creates(s.RuleCreateSchema, s.RuleSchema)
    def post(self, body, cid):
        """Let `viewers` (groups with subgroups, orgs) see members and contacts in `visible`."""
        return visibility.create_rule(db.session, access_to(cid), body["viewers"], body["visible"])


@blp.route("/<id:cid>/rules/<id:rule_id>")
class RuleItem(MethodView):
    @blp.response(200, s.RuleSchema)
    def get(self, cid, rule_id):
        """One visibility rule (owner admins)."""
        return visibility.get_rule(db.session, access_to(cid), rule_id)

    @blp.response(204)
    def delete(self, cid, rule_id):
        """Remove a visibility rule (owner admins)."""
        visibility.delete_rule(db.session, access_to(cid), rule_id)
        return no_content()


@blp.route("/<id:cid>/audit")
class Audit(MethodView):
    @blp.paged(s.AuditQuerySchema, s.AuditPageSchema)
    def get(self, query, cid):
        """Every state change in the chain (owner admins), oldest first."""
        access = access_to(cid)
        access.require_owner_admin()
        stmt = audit_query(access.chain_id, query.get("since"), query.get("action"))
        return paged_rows(stmt, query)
