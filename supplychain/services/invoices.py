"""Supplier invoices (开票): the seller records an invoice against order lines (or has it made
from its confirmed statement), both parties and the chain owner read it with its match
(`invoice_matching`), the buyer's admins approve or reject it. (Drafting, from-statement and the
chain's settings: `invoice_drafts`.)

Who sees what: an invoice is visible to its seller, its buyer and the chain owner; to anyone else
in the chain (and outside it) it does not exist (404). Recording needs the `orders` app; making
one from a statement needs `reconciliation` too. Every change is audited and raises its event
(`invoice.submitted`, `invoice.approved`, `invoice.rejected`) to both parties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Forbidden, Invalid
from supplychain.models import Invoice, InvoiceLine, Org
from supplychain.models.base import utcnow
from supplychain.periods import parse_period
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_action
from supplychain.services.bulk import insert_rows
from supplychain.services.events import publish_about
from supplychain.services.invoice_drafts import APP, Draft
from supplychain.services.invoice_matching import (
    LineToMatch,
    Match,
    OrderLinesNow,
    ToMatch,
    invoice_lines,
    match_invoices,
    money,
    to_match,
)
from supplychain.services.pagination import Page, paginate
from supplychain.services.trade_documents import load_document, visible_documents

BOXES = ("incoming", "outgoing")


# --- recording and reading -----------------------------------------------------------------


@dataclass
class InvoiceView:
    """An invoice as the API and the pages show it: the row, its lines, its match and the
    order lines it names (number and SKU)."""

    invoice: Invoice | None
    draft: Draft | None
    lines: list[LineToMatch]
    match: Match
    refs: OrderLinesNow
    names: dict[int, str]

    def as_dict(self) -> dict[str, Any]:
        """The invoice as `schemas.invoices.InvoiceSchema` dumps it (a draft: id null)."""
        i, d = self.invoice, self.draft
        if i is not None:
            head: dict[str, Any] = {
                "id": i.id, "number": i.number, "kind": i.kind, "seller_id": i.seller_id,
                "buyer_id": i.buyer_id, "status": i.status, "issue_date": i.issue_date,
                "currency": i.currency, "net": i.net, "tax": i.tax, "gross": i.gross,
                "line_count": i.line_count, "statement_org_id": i.statement_org_id,
                "statement_period": i.statement_period, "statement_version": i.statement_version,
                "created_at": i.created_at, "decided_at": i.decided_at,
                "decision_note": i.decision_note, "accepted_exceptions": i.accepted_exceptions,
            }  # fmt: skip
        else:
            assert d is not None
            head = {
                "id": None, "number": d.head.number, "kind": d.head.kind, "seller_id": d.seller_id,
                "buyer_id": d.buyer_id, "status": "draft", "issue_date": d.head.issue_date,
                "currency": d.currency, "net": d.net, "tax": d.tax, "gross": d.net + d.tax,
                "line_count": len(d.lines), "statement_org_id": d.statement_org_id,
                "statement_period": d.statement_period, "statement_version": d.statement_version,
                "created_at": None, "decided_at": None, "decision_note": None,
                "accepted_exceptions": None,
            }  # fmt: skip
        head["seller_name"] = self.names.get(head["seller_id"])
        head["buyer_name"] = self.names.get(head["buyer_id"])
        head["match"] = self.match.as_dict()
        head["lines"] = [self.line_dict(line) for line in self.lines]
        return head

    def line_dict(self, line: LineToMatch) -> dict[str, Any]:
        """One line with the number and SKU of the order line it names (None if unknown)."""
        order_number, sku = self.refs.ref(line.order_id, line.line_no)
        return {
            "order_id": line.order_id, "order_number": order_number,
            "line_no": line.line_no, "sku": sku, "qty": line.qty,
            "unit_price": line.unit_price, "tax_rate": line.tax_rate, "net": line.net,
            "tax": line.tax,
        }  # fmt: skip


def _event_data(invoice: Invoice, match: Match) -> dict[str, Any]:
    return {
        "id": str(invoice.id),
        "number": invoice.number,
        "status": invoice.status,
        "seller_id": str(invoice.seller_id),
        "buyer_id": str(invoice.buyer_id),
        "currency": invoice.currency,
        "net": str(money(invoice.net)),
        "tax": str(money(invoice.tax)),
        "gross": str(money(invoice.gross)),
        "match": match.status,
        "period": invoice.statement_period,
    }


def _names(session: Session, org_ids: set[int]) -> dict[int, str]:
    if not org_ids:
        return {}
    return dict(session.execute(select(Org.id, Org.name).where(Org.id.in_(sorted(org_ids)))).all())


def preview(session: Session, access: ChainAccess, draft: Draft) -> InvoiceView:
    """A draft with its match, as it would read if recorded now (nothing saved)."""
    [match], refs = match_invoices(session, access.chain, [draft.to_match()])
    names = _names(session, {draft.seller_id, draft.buyer_id})
    return InvoiceView(None, draft, draft.lines, match, refs, names)


def record_invoice(session: Session, access: ChainAccess, draft: Draft) -> InvoiceView:
    """Record a checked draft (submitted), audited, with `invoice.submitted` to both parties;
    its lines in one bulk insert."""
    net, tax = draft.net, draft.tax
    invoice = Invoice(
        chain_id=access.chain_id, seller_id=draft.seller_id, buyer_id=draft.buyer_id,
        number=draft.head.number, kind=draft.head.kind, issue_date=draft.head.issue_date,
        currency=draft.currency, status="submitted", net=net, tax=tax, gross=net + tax,
        line_count=len(draft.lines), statement_org_id=draft.statement_org_id,
        statement_period=draft.statement_period, statement_version=draft.statement_version,
        created_by=access.actor.user_id, created_at=utcnow(),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(invoice)
            session.flush()
    except IntegrityError:
        # Another request recorded the same number between our check and this insert.
        raise Conflict(
            "You already recorded an invoice with this number.",
            {"number": ["Already used by one of your invoices."]},
        ) from None
    insert_rows(
        session,
        InvoiceLine.__table__,
        [
            {
                "invoice_id": invoice.id,
                "position": line.position,
                "order_id": line.order_id,
                "line_no": line.line_no,
                "qty": line.qty,
                "unit_price": line.unit_price,
                "tax_rate": line.tax_rate,
                "net": line.net,
                "tax": line.tax,
            }
            for line in draft.lines
        ],
    )
    [match], refs = match_invoices(session, access.chain, [draft_as_recorded(invoice, draft)])
    record_action(session, access, "invoice.submit", "invoice", invoice.id, data={"number": invoice.number, "buyer_id": invoice.buyer_id, "gross": str(invoice.gross),
              "match": match.as_dict()})  # fmt: skip
    _announce(session, invoice, "invoice.submitted", match)
    names = _names(session, {invoice.seller_id, invoice.buyer_id})
    return InvoiceView(invoice, None, draft.lines, match, refs, names)


def draft_as_recorded(invoice: Invoice, draft: Draft) -> ToMatch:
    """The draft's lines under the invoice's id (it now counts in its place among others)."""
    return ToMatch(
        invoice.id, invoice.seller_id, invoice.buyer_id, draft.lines, invoice.statement_org_id,
        invoice.statement_period, invoice.statement_version,
    )  # fmt: skip


def _announce(session: Session, invoice: Invoice, type_: str, match: Match) -> None:
    publish_about(
        session,
        "invoice",
        invoice,
        type=type_,
        data=_event_data(invoice, match),
        org_ids=[invoice.seller_id, invoice.buyer_id],
    )


def load_invoice(
    session: Session, access: ChainAccess, invoice_id: int | None, lock: bool = False
) -> Invoice:
    """An invoice the caller may see (404 otherwise), row-locked when asked."""
    return load_document(
        session, access, Invoice, invoice_id, app=APP, missing="No such invoice.", lock=lock
    )


def lines_of(session: Session, invoice_ids: list[int]) -> dict[int, list[LineToMatch]]:
    """invoice id -> its lines by position, for many invoices in one query."""
    return invoice_lines(session, invoice_ids)


def views_of(session: Session, access: ChainAccess, invoices: list[Invoice]) -> list[InvoiceView]:
    """Invoices with their lines and matches, in a fixed number of queries however many."""
    by_id = lines_of(session, [i.id for i in invoices])
    items = [to_match(i, by_id[i.id]) for i in invoices]
    matches, refs = match_invoices(session, access.chain, items)
    names = _names(session, {o for i in invoices for o in (i.seller_id, i.buyer_id)})
    return [
        InvoiceView(invoice, None, by_id[invoice.id], match, refs, names)
        for invoice, item, match in zip(invoices, items, matches, strict=True)
    ]


def get_invoice(session: Session, access: ChainAccess, invoice_id: int | None) -> InvoiceView:
    """One invoice with its lines and its match now (parties and the chain owner)."""
    return views_of(session, access, [load_invoice(session, access, invoice_id)])[0]


def invoices_page(
    session: Session,
    access: ChainAccess,
    *,
    box: str | None,
    status: str | None,
    period: str | None,
    page: int,
    page_size: int,
) -> Page:
    """The invoices the caller may see, newest first: `incoming` (its org the buyer),
    `outgoing` (the seller) or both; by status and period (`Invoice.in_period`); each with its
    match, computed for the whole page at once."""
    require_app(session, access, APP)
    stmt = visible_documents(Invoice, access, box)
    if status:
        stmt = stmt.where(Invoice.status == status)
    if period:
        parsed = parse_period(period)
        if parsed is None:
            raise Invalid("Malformed period.", {"period": ["Use YYYY-MM or YYYY-Www."]})
        stmt = stmt.where(Invoice.in_period(parsed))
    result = paginate(session, stmt.order_by(Invoice.id.desc()), page, page_size)
    result.items = views_of(session, access, list(result.items))
    return result


# --- the buyer's decision ------------------------------------------------------------------


def _decidable(session: Session, access: ChainAccess, invoice_id: int | None) -> Invoice:
    invoice = load_invoice(session, access, invoice_id, lock=True)
    if access.actor.org_id != invoice.buyer_id or not access.actor.is_admin:
        raise Forbidden("Only an admin of the invoice's buyer may approve or reject it.")
    if invoice.status != "submitted":
        raise Conflict(f"The invoice is {invoice.status} already.")
    return invoice


def approve_invoice(
    session: Session,
    access: ChainAccess,
    invoice_id: int | None,
    note: str | None,
    accept_exceptions: bool,
) -> InvoiceView:
    """The buyer's admins approve a matched invoice; one with exceptions only by accepting them
    (`accept_exceptions`) with a note: the exceptions accepted are kept with it and audited."""
    invoice = _decidable(session, access, invoice_id)
    view = views_of(session, access, [invoice])[0]
    exceptions = view.match.exceptions
    if exceptions and not accept_exceptions:
        raise Conflict(
            "The invoice has exceptions: accept them with a note, or reject it.",
            {"accept_exceptions": ["Required: the invoice does not match."]},
        )
    if exceptions and not note:
        raise Invalid("A note is required.", {"note": ["Say why the exceptions are accepted."]})
    now = utcnow()
    invoice.status = "approved"
    invoice.decided_at = now
    invoice.decided_by = access.actor.user_id
    invoice.decision_note = note
    invoice.accepted_exceptions = exceptions or None
    session.flush()
    record_action(session, access, "invoice.approve", "invoice", invoice.id, data={"number": invoice.number, "note": note, "accepted_exceptions": exceptions})  # fmt: skip
    _announce(session, invoice, "invoice.approved", view.match)
    return view


def reject_invoice(
    session: Session, access: ChainAccess, invoice_id: int | None, note: str
) -> InvoiceView:
    """The buyer's admins reject a submitted invoice with a note: its lines are free again for
    another invoice (a rejected invoice counts nowhere)."""
    invoice = _decidable(session, access, invoice_id)
    invoice.status = "rejected"
    invoice.decided_at = utcnow()
    invoice.decided_by = access.actor.user_id
    invoice.decision_note = note
    session.flush()
    view = views_of(session, access, [invoice])[0]
    record_action(session, access, "invoice.reject", "invoice", invoice.id, data={"number": invoice.number, "note": note, "match": view.match.as_dict()})  # fmt: skip
    _announce(session, invoice, "invoice.rejected", view.match)
    return view
