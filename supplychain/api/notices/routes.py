"""Supply and demand notices: send, inbox, read, acknowledge, respond, track, withdraw."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.schemas import notices as s
from supplychain.services import notice_answers, notice_tracking, notices, reminders
from supplychain.services.inbox import inbox_page, sent_page

blp = authenticated_blueprint(
    "notices", __name__, url_prefix="/chains", description="Supply and demand notices"
)
BLUEPRINTS = (blp,)


@blp.route("/<id:cid>/notices")
class Notices(MethodView):
    @blp.paged(s.NoticeListQuerySchema, s.NoticePageSchema)
    def get(self, query, cid):
        """Inbox (addressed to the caller's org) or sent box, newest first."""
        access = access_to(cid)
        state, page, page_size = query.get("state"), query["page"], query["page_size"]
        if query["box"] == "sent":
            return sent_page(db.session, access, state, page, page_size).envelope()
        inbox = inbox_page(db.session, access, state, page, page_size)
        return current_app.json.response(s.dump_inbox_page(inbox.envelope()))

    @blp.creates(s.NoticeCreateSchema, s.NoticeSchema)
    def post(self, body, cid):
        """Broadcast a notice to the union of tiers, groups and orgs in `audience`."""
        access = access_to(cid)
        notice = notices.broadcast_notice(db.session, access, **body)
        return notices.open_notice(db.session, access, notice.id)


@blp.route("/<id:cid>/notices/<id:nid>")
class NoticeDetail(MethodView):
    @transaction(Transaction.WRITES)  # a recipient's first GET records the read
    @blp.response(200, s.NoticeSchema)
    def get(self, cid, nid):
        """The notice; a recipient's first GET marks it read for its org."""
        return notices.open_notice(db.session, access_to(cid), nid)


@blp.route("/<id:cid>/notices/<id:nid>/ack")
class NoticeAck(MethodView):
    @blp.creates(s.AckInSchema, s.AckSchema)
    @blp.alt_response(200, schema=s.AckSchema, description="Acknowledged before: the first ack")
    def post(self, body, cid, nid):
        """Acknowledge for the caller's org; a repeat returns the first acknowledgment (200)."""
        row, created = notice_answers.acknowledge_notice(
            db.session, access_to(cid), nid, body.get("note")
        )
        return row, 201 if created else 200


@blp.route("/<id:cid>/notices/<id:nid>/responses")
class NoticeResponses(MethodView):
    @blp.creates(s.ResponseInSchema, s.ResponseSchema)
    def post(self, body, cid, nid):
        """Answer with quantities per sku; replaces the org's previous answer."""
        items = [(line["sku"], line["qty"]) for line in body["items"]]
        return notice_answers.respond_to_notice(
            db.session, access_to(cid), nid, items, body.get("note")
        )


@blp.route("/<id:cid>/notices/<id:nid>/recipients")
class NoticeRecipients(MethodView):
    @blp.paged(s.RecipientQuerySchema, s.RecipientPageSchema)
    def get(self, query, cid, nid):
        """Per-org read, ack and response state with totals and per-sku sums (sender org)."""
        return notice_tracking.recipients_page(db.session, access_to(cid), nid, **query).envelope()


@blp.route("/<id:cid>/notices/<id:nid>/withdraw")
class NoticeWithdraw(MethodView):
    @blp.response(200, s.NoticeSchema)
    def post(self, cid, nid):
        """Withdraw: the notice stays visible, marked withdrawn, and takes no new acks."""
        access = access_to(cid)
        notice = notices.withdraw_notice(db.session, access, nid)
        return notices.open_notice(db.session, access, notice.id)


@blp.route("/<id:cid>/notices/<id:nid>/remind")
class NoticeRemind(MethodView):
    @blp.arguments(s.RemindInSchema)
    @blp.response(202, s.RemindedSchema)
    def post(self, body, cid, nid):
        """Remind the recipients still unacknowledged (or unread) of the notice, at most hourly
        (409 before); `reminded: 0` when nobody is left, and then nothing is sent."""
        count = reminders.remind_notice(db.session, access_to(cid), nid, body.get("only"))
        return {"reminded": count}
