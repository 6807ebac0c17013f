"""What other features show of invoices: a statement's invoiced quantities and invoices, the
tier workbook's Invoices sheet rows, scorecards' `invoice_match_rate` and the owner's board
counts. Each reads in a fixed number of queries and matches through `invoice_matching`."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from supplychain.models import Chain, Invoice
from supplychain.periods import Period
from supplychain.services.bulk import among_ids
from supplychain.services.invoice_matching import (
    counted_lines,
    invoice_lines,
    match_invoices,
    to_match,
)
from supplychain.services.rates import rate


def invoiced_statement(session: Session, chain_id: int, view: dict[str, Any]) -> dict[str, Any]:
    """A statement's JSON view with what is invoiced: each line's `invoiced_qty` (by invoices not
    rejected) and the invoices tied to this statement (two queries)."""
    counted = counted_lines(session, [line["order_id"] for line in view["lines"]])
    for line in view["lines"]:
        done = counted.get((line["order_id"], line["line_no"]), [])
        line["invoiced_qty"] = sum((qty for _, qty in done), Decimal(0))
    rows = session.scalars(
        select(Invoice)
        .where(
            Invoice.chain_id == chain_id,
            Invoice.statement_org_id == view["org_id"],
            Invoice.statement_period == view["period"],
        )
        .order_by(Invoice.id)
    )
    view["invoices"] = [
        {
            "id": i.id,
            "number": i.number,
            "status": i.status,
            "issue_date": i.issue_date,
            "currency": i.currency,
            "net": i.net,
            "tax": i.tax,
            "gross": i.gross,
        }
        for i in rows
    ]
    return view


def _period_invoices(
    session: Session, chain_id: int, period: Period, org_ids: Collection[int]
) -> list[Invoice]:
    ids = sorted(set(org_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.chain_id == chain_id,
                Invoice.in_period(period),
                or_(
                    among_ids(session, Invoice.seller_id, ids),
                    among_ids(session, Invoice.buyer_id, ids),
                ),
            )
            .order_by(Invoice.id)
        )
    )


def _matched(session: Session, chain: Chain, invoices: list[Invoice]) -> list[Any]:
    by_id = invoice_lines(session, [i.id for i in invoices])
    matches, _ = match_invoices(session, chain, [to_match(i, by_id[i.id]) for i in invoices])
    return matches


@dataclass(frozen=True)
class InvoiceRecord:
    """One row of the workbook's Invoices sheet."""

    seller: str
    buyer: str
    number: str
    kind: str
    issue_date: date
    statement_period: str | None
    currency: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    status: str
    match: str
    exceptions: str
    decided_at: Any
    decision_note: str | None


def invoice_records(
    session: Session,
    chain: Chain,
    period: Period,
    org_ids: Collection[int],
    directory: dict[int, tuple[str | None, str, str | None]],
) -> Iterator[InvoiceRecord]:
    """The invoices of the period (`Invoice.in_period`) with an org of `org_ids` as a party,
    each with its match now, for the tier workbook."""
    invoices = _period_invoices(session, chain.id, period, org_ids)
    for invoice, match in zip(invoices, _matched(session, chain, invoices), strict=True):

        def name(org: int) -> str:
            return directory.get(org, (None, f"org {org}", None))[1]

        yield InvoiceRecord(
            seller=name(invoice.seller_id), buyer=name(invoice.buyer_id), number=invoice.number,
            kind=invoice.kind, issue_date=invoice.issue_date,
            statement_period=invoice.statement_period, currency=invoice.currency,
            net=invoice.net, tax=invoice.tax, gross=invoice.gross, status=invoice.status,
            match=match.status,
            exceptions="; ".join(
                f"{'line ' + str(e['line'] + 1) + ': ' if e['line'] is not None else ''}"
                f"{e['kind']} (expected {e['expected']}, actual {e['actual']})"
                for e in match.exceptions
            ),
            decided_at=invoice.decided_at, decision_note=invoice.decision_note,
        )  # fmt: skip


def invoice_match_rates(
    session: Session, chain: Chain, period: Period, org_ids: Collection[int]
) -> dict[int, Decimal | None]:
    """org -> invoices it issued (as seller) in the period that match now and are not rejected,
    over all it issued in the period; None where it issued none (nothing to match)."""
    invoices = [
        i for i in _period_invoices(session, chain.id, period, org_ids) if i.seller_id in org_ids
    ]
    whole: dict[int, int] = {}
    part: dict[int, int] = {}
    for invoice, match in zip(invoices, _matched(session, chain, invoices), strict=True):
        whole[invoice.seller_id] = whole.get(invoice.seller_id, 0) + 1
        if invoice.status != "rejected" and match.status == "matched":
            part[invoice.seller_id] = part.get(invoice.seller_id, 0) + 1
    return {org: rate(part.get(org, 0), whole.get(org, 0)) for org in org_ids}


def invoice_status_counts(
    session: Session, chain_id: int, period: Period
) -> dict[int, dict[str, int]]:
    """org -> {status: invoices} of the period's invoices it is a party to (one query)."""
    out: dict[int, dict[str, int]] = {}
    for seller, buyer, status, count in session.execute(
        select(Invoice.seller_id, Invoice.buyer_id, Invoice.status, func.count())
        .where(Invoice.chain_id == chain_id, Invoice.in_period(period))
        .group_by(Invoice.seller_id, Invoice.buyer_id, Invoice.status)
    ):
        for org in (seller, buyer):
            counts = out.setdefault(org, {})
            counts[status] = counts.get(status, 0) + count
    return out
