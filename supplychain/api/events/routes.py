"""The pull feed of events addressed to the caller's org."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint
from supplychain.extensions import db
from supplychain.schemas import events as s
from supplychain.services import events

blp = authenticated_blueprint(
    "events", __name__, url_prefix="/chains", description="Events: the pull feed"
)
BLUEPRINTS = (blp,)


@blp.route("/<id:cid>/events")
class Events(MethodView):
    @blp.paged(s.EventFeedQuerySchema, s.EventPageSchema)
    def get(self, query, cid):
        """Events addressed to the caller's org, oldest first; `after` (an event id) is a
        cursor: pass the last id seen to get only newer events."""
        page = events.feed_page(db.session, access_to(cid), **query)
        return page.envelope(items=[s.dump_event(event) for event in page.items])
