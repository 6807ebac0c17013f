"""The demo's ship notices: a supplier with a GS1 company prefix ships lines of the owner's
orders in packages; the owner's dock receives one notice by scanning its labels, the other is
still in transit. Replayed through the same services a person would call (see demo_activity)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import update

from supplychain.errors import Invalid
from supplychain.models import Order, Org
from supplychain.services import shipping, shipping_issue, shipping_receipts
from supplychain.services.shipping_codes import PREFIX, package_code


def play_ship_notice(story: Any, order_ids: dict[int, int], spec: dict[str, Any]) -> None:
    """Issue the notice `spec` describes (its lines name the activity's orders by position) and
    play its `then` steps (`scan`: the buyer's dock scans the named packages' labels)."""
    session = story.session
    seller = story.access(spec["by"])
    prefix = spec.get("seller_gs1_prefix")
    if prefix is not None:
        if not PREFIX.match(prefix):
            raise Invalid(f"Not a GS1 company prefix: {prefix}.", {"seller_gs1_prefix": [prefix]})
        session.execute(
            update(Org)
            .where(Org.id == seller.actor.org_id, Org.gs1_company_prefix.is_(None))
            .values(gs1_company_prefix=prefix)
        )
    lines = []
    for line in spec["lines"]:
        if line["order"] not in order_ids:
            raise Invalid(f"No order {line['order']} in the activity.", {"order": [line["order"]]})
        lines.append(
            shipping.NoticeLineIn(
                order_id=order_ids[line["order"]],
                line_no=int(line["line_no"]),
                qty=Decimal(str(line["qty"])),
                package=line.get("package"),
            )
        )
    buyer_id = session.get(Order, lines[0].order_id).buyer_id
    at = story.past(spec["at"])
    carrier = spec.get("carrier") or {}
    with story.happened(at):
        notice = shipping_issue.issue_notice(
            session,
            seller,
            buyer_id=buyer_id,
            lines=lines,
            packages=[
                shipping.NewPackage(
                    ref=p["ref"],
                    kind=p.get("kind", "carton"),
                    weight_kg=Decimal(str(p["weight_kg"])) if "weight_kg" in p else None,
                )
                for p in spec.get("packages", [])
            ],
            shipped_at=at,
            expected_at=story.moment(spec["expected"]) if "expected" in spec else None,
            carrier_name=carrier.get("name"),
            carrier_code=carrier.get("code"),
            tracking_numbers=spec.get("tracking_numbers", []),
        )
        notice_id = notice.id
    view = shipping.notice_view(session, shipping.load_notice(session, seller, notice_id))
    by_ref = {p.ref: p for p in view.packages}
    for step in spec.get("then", []):
        if step["do"] != "scan":
            raise Invalid(f"Unknown ship notice step: {step['do']}.", {"do": [step["do"]]})
        dock = story.access(step["by"])
        when = story.past(step["at"])
        for ref in step["packages"]:
            package = by_ref[ref]
            # What a scanner in keyboard-wedge mode sends: the element string (00) + SSCC.
            code = f"00{package.sscc}" if package.sscc else package_code(package.id)
            with story.happened(when):
                shipping_receipts.scan_receipt(session, dock, code, when)
