"""Webhook endpoints of the caller's org in a chain: register, change, remove, test, and the
delivery log with redelivery (the org's admins)."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, no_content, paged_rows
from supplychain.extensions import db
from supplychain.schemas import webhooks as s
from supplychain.schemas.common import PageQuery
from supplychain.services import webhooks

blp = authenticated_blueprint(
    "webhooks", __name__, url_prefix="/chains", description="Webhooks of your org"
)
BLUEPRINTS = (blp,)


def _allow_private() -> bool:
    return current_app.config["WEBHOOK_ALLOW_PRIVATE"]


@blp.route("/<id:cid>/webhooks")
class Webhooks(MethodView):
    @blp.paged(PageQuery, s.WebhookPageSchema)
    def get(self, query, cid):
        """Your org's webhook endpoints in this chain (secrets are never shown again)."""
        return paged_rows(webhooks.endpoints_query(access_to(cid)), query)

    @blp.creates(s.WebhookCreateSchema, s.WebhookCreatedSchema, secrets=("secret",))
    def post(self, body, cid):
        """Register an endpoint for your org (org admins); the answer holds its signing
        `secret`, shown only here: an idempotent replay answers `secret` as null. The URL
        must be http(s) on a public address."""
        return webhooks.create_endpoint(
            db.session, access_to(cid), **body, allow_private=_allow_private()
        )


@blp.route("/<id:cid>/webhooks/<id:wid>")
class WebhookItem(MethodView):
    @blp.response(200, s.WebhookSchema)
    def get(self, cid, wid):
        """One of your org's endpoints."""
        return webhooks.get_endpoint(db.session, access_to(cid), wid)

    @blp.changes(s.WebhookUpdateSchema, s.WebhookSchema)
    def patch(self, body, cid, wid):
        """Change the URL, events, language, description, or enable/disable the endpoint
        (disabling fails what is still pending for it)."""
        return webhooks.update_endpoint(
            db.session, access_to(cid), wid, **body, allow_private=_allow_private()
        )

    @blp.response(204)
    def delete(self, cid, wid):
        """Remove the endpoint: nothing more is sent to it."""
        webhooks.delete_endpoint(db.session, access_to(cid), wid)
        return no_content()


@blp.route("/<id:cid>/webhooks/<id:wid>/test")
class WebhookTest(MethodView):
    @blp.response(202, s.DeliverySchema)
    def post(self, cid, wid):
        """Queue a `ping` event to this endpoint; the answer is its delivery."""
        return webhooks.send_test(db.session, access_to(cid), wid)


@blp.route("/<id:cid>/webhooks/<id:wid>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.paged(s.DeliveryQuerySchema, s.DeliveryPageSchema)
    def get(self, query, cid, wid):
        """The endpoint's deliveries, newest first, optionally of one `status`."""
        return webhooks.deliveries_page(db.session, access_to(cid), wid, **query).envelope()


@blp.route("/<id:cid>/webhooks/<id:wid>/deliveries/<id:did>/redeliver")
class WebhookRedeliver(MethodView):
    @blp.response(202, s.DeliverySchema)
    def post(self, cid, wid, did):
        """Send the delivery's event again, with the same `webhook-id`: a pending delivery
        becomes due now; a finished one gets a new delivery."""
        return webhooks.redeliver(db.session, access_to(cid), wid, did)
