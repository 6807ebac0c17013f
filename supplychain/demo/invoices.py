"""The demo's invoices (开票) of last month, recorded after its statements are answered: each
through the invoice services as the person the activity names, from the confirmed statement
(`from_statement`) or line by line against the activity's N-th order, and then approved or
rejected by the buyer when the activity says so. Given once, with the statements' answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.errors import Invalid
from supplychain.models import Chain, Order
from supplychain.services import invoice_drafts, invoices


def _order_id(session: Session, chain: Chain, n: int) -> int:
    """The id of the activity's N-th order (numbered `...-DNNN`)."""
    found = session.scalar(
        select(Order.id).where(Order.chain_id == chain.id, Order.number.like(f"%-D{n:03d}"))
    )
    if found is None:
        raise Invalid(f"Order {n} of the activity does not exist.", {"order": [str(n)]})
    return found


def play_invoices(session: Session, story: Any, period: str, specs: list[dict[str, Any]]) -> int:
    """Record the activity's invoices for `period` (the statements' month) and their decisions;
    returns how many were recorded. Only flushes."""
    for spec in specs:
        access = story.access(spec["by"])
        buyer = story.org(spec["buyer"])
        head = invoice_drafts.NewInvoice(
            number=spec["number"], kind=spec["kind"], issue_date=story.day(spec["issued"])
        )
        if spec.get("from_statement"):
            draft = invoice_drafts.draft_from_statement(session, access, period, head, None, buyer)
        else:
            lines = [
                invoice_drafts.NewInvoiceLine(
                    order_id=_order_id(session, story.chain, int(line["order"])),
                    line_no=int(line["line_no"]),
                    qty=Decimal(line["qty"]),
                    unit_price=Decimal(line["unit_price"]),
                )
                for line in spec["lines"]
            ]
            draft = invoice_drafts.draft_invoice(session, access, buyer, head, lines)
            invoice_drafts.tie_to_statement(session, access, draft, period)
        view = invoices.record_invoice(session, access, draft)
        assert view.invoice is not None
        for step in spec.get("then", []):
            decider = story.access(step["by"])
            if step["do"] == "approve":
                invoices.approve_invoice(
                    session, decider, view.invoice.id, step.get("note"),
                    bool(step.get("accept_exceptions")),
                )  # fmt: skip
            elif step["do"] == "reject":
                invoices.reject_invoice(session, decider, view.invoice.id, step["note"])
            else:
                raise Invalid(f"Unknown invoice step: {step['do']}.", {"do": [step["do"]]})
    return len(specs)
