"""Scorecards: partners' measured behaviour per period (owner: every partner; partner: own)."""

from __future__ import annotations

from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.schemas import scorecards as s
from supplychain.services import scorecards
from supplychain.services.pagination import page_of_list

blp = authenticated_blueprint(
    "scorecards", __name__, url_prefix="/chains", description="Partner scorecards"
)
BLUEPRINTS = (blp,)


@blp.route("/<id:cid>/scorecards")
class Scorecards(MethodView):
    @transaction(Transaction.READS)
    @blp.paged(s.ScorecardQuerySchema, s.ScorecardPageSchema)
    def get(self, query, cid):
        """Scorecards for a month, an ISO week or a year: ack rate and median hours, on-time
        and fill rates, discrepancy lines, notice ack and response rates. Rates are decimal
        strings in 0..1 (4 places), null where there is no data. The owner sees every
        partner, a partner only its own org (with the reconciliation app)."""
        period, cards = scorecards.scorecards(
            db.session,
            access_to(cid),
            query["period"],
            tier=query.get("tier"),
            org_id=query.get("org_id"),
            sort=query["sort"],
        )
        page = page_of_list(cards, query["page"], query["page_size"])
        return page.envelope(period=period.label, first_day=period.first, last_day=period.last)
