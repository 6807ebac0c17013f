"""The three-way match of supplier invoices: each invoice line against its order line as ordered,
confirmed and received now, and a statement-tied invoice against its statement now.

Computed whenever an invoice is read, never stored (so never stale), for one invoice or a page
of them at once in a fixed number of statements whatever their line count: the chain's settings,
the order lines named, the counted invoice lines on the same order lines, and per statement
period named the period's figure lines, the statement rows and (sometimes) the parties of a
confirmed snapshot's orders.

Exceptions, each `{line, kind, expected, actual}` (`line` is the 0-based place in the invoice's
`lines`, as in error field names; None for the whole invoice):

- `unknown_line`: the order line is not in a live order between this seller and buyer (the order
  was cancelled, or amended so that the line number no longer exists, or never had it). An order
  that is not the seller's with this buyer is refused when the invoice is recorded (422), so no
  invoice names another org's order.
- `received_qty_variance`: the quantity invoiced on the line so far (this invoice and the
  earlier ones, by id, that are not rejected) exceeds the quantity received.
- `price_variance`: the unit price differs from the confirmed price (the ordered price where
  none was confirmed) by more than the chain's `price_tolerance_pct` percent of it and by more
  than `amount_tolerance` in money on the line (|difference| x qty).
- `tax_variance`: the line's tax differs from round(net x rate, 2) (ROUND_HALF_UP) by more than
  0.01.
- `statement_changed`: the statement the invoice was made from no longer reads `confirmed` at
  the version it was tied to (a late receipt, an amendment, a dispute since).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplychain.decimals import format_decimal
from supplychain.models import Chain, Invoice, InvoiceLine, InvoiceSettings, Order, OrderLine
from supplychain.models.invoices import COUNTING_STATUSES, DEFAULT_TAX_RATE
from supplychain.models.statements import Statement
from supplychain.periods import parse_period
from supplychain.services.bulk import among_ids
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import figure_lines, statement_scope

CENT = Decimal("0.01")
TAX_SLACK = Decimal("0.01")
HUNDRED = Decimal(100)


def money(value: Decimal) -> Decimal:
    """Money at 2 places, rounded half up (0.005 -> 0.01), the rounding of every amount here."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_tax(net: Decimal, rate: Decimal) -> Decimal:
    """A line's tax: round(net x rate, 2), half up."""
    return money(net * rate)


@dataclass(frozen=True)
class Settings:
    """A chain's matching settings (defaults where it has none)."""

    price_tolerance_pct: Decimal = Decimal(0)
    amount_tolerance: Decimal = Decimal(0)
    default_tax_rate: Decimal = DEFAULT_TAX_RATE


def settings_of(session: Session, chain_id: int) -> Settings:
    """The chain's invoice settings, or the defaults (0 %, 0.00, 13 %)."""
    row = session.get(InvoiceSettings, chain_id)
    if row is None:
        return Settings()
    return Settings(row.price_tolerance_pct, row.amount_tolerance, row.default_tax_rate)


@dataclass(frozen=True)
class LineToMatch:
    """One invoice line as matched."""

    position: int
    order_id: int
    line_no: int
    qty: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class ToMatch:
    """An invoice as matched: recorded (`invoice_id`) or a draft (None: it counts after every
    recorded invoice)."""

    invoice_id: int | None
    seller_id: int
    buyer_id: int
    lines: Sequence[LineToMatch]
    statement_org_id: int | None = None
    statement_period: str | None = None
    statement_version: str | None = None


@dataclass
class Match:
    """The outcome: `matched` or `exceptions`, and the exceptions."""

    exceptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "exceptions" if self.exceptions else "matched"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "exceptions": self.exceptions}


class OrderLineNow(NamedTuple):
    """An order line's figures now, as the match reads them; `price` is the confirmed unit price,
    or the ordered one where none was confirmed."""

    order_number: str
    buyer_id: int
    seller_id: int
    order_status: str
    sku: str
    price: Decimal
    received_qty: Decimal


def to_match(invoice: Invoice, lines: Sequence[InvoiceLine]) -> ToMatch:
    """A recorded invoice with its lines, as the match takes it."""
    return ToMatch(
        invoice_id=invoice.id,
        seller_id=invoice.seller_id,
        buyer_id=invoice.buyer_id,
        lines=[
            LineToMatch(
                line.position,
                line.order_id,
                line.line_no,
                line.qty,
                line.unit_price,
                line.tax_rate,
                line.net,
                line.tax,
            )
            for line in lines
        ],
        statement_org_id=invoice.statement_org_id,
        statement_period=invoice.statement_period,
        statement_version=invoice.statement_version,
    )


def order_lines_now(
    session: Session,
    chain_id: int,
    order_ids: Sequence[int],
    line_nos: Sequence[int] | None = None,
) -> dict[tuple[int, int], OrderLineNow]:
    """(order id, line no) -> the line's figures now, for the named orders of the chain (and
    line numbers, when given: a page of invoices names a few lines of big orders), in one query
    whatever their number."""
    if not order_ids:
        return {}
    # Core rows on the session's connection (no ORM loading: 2 000 lines are read per match).
    stmt = (
        select(
            Order.id,
            Order.number,
            Order.buyer_id,
            Order.seller_id,
            Order.status,
            OrderLine.line_no,
            OrderLine.sku,
            func.coalesce(OrderLine.confirmed_price, OrderLine.unit_price),
            OrderLine.received_qty,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.chain_id == chain_id, among_ids(session, Order.id, sorted(set(order_ids))))
    )
    if line_nos is not None:
        stmt = stmt.where(among_ids(session, OrderLine.line_no, sorted(set(line_nos))))
    rows = session.connection().execute(stmt)
    return {
        (oid, line_no): OrderLineNow(number, buyer, seller, status, sku, price, received)
        for oid, number, buyer, seller, status, line_no, sku, price, received in rows
    }


def counted_lines(
    session: Session,
    order_ids: Sequence[int],
    line_nos: Sequence[int] | None = None,
    up_to: int | None = None,
) -> dict[tuple[int, int], list[tuple[int, Decimal]]]:
    """(order id, line no) -> [(invoice id, qty)] of the invoices that count (not rejected) on
    the named orders (and line numbers, when given; invoices before id `up_to`, when given), in
    one query."""
    counted: dict[tuple[int, int], list[tuple[int, Decimal]]] = defaultdict(list)
    if not order_ids:
        return counted
    stmt = (
        select(InvoiceLine.invoice_id, InvoiceLine.order_id, InvoiceLine.line_no, InvoiceLine.qty)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.status.in_(COUNTING_STATUSES),
            among_ids(session, InvoiceLine.order_id, sorted(set(order_ids))),
        )
    )
    if line_nos is not None:
        stmt = stmt.where(among_ids(session, InvoiceLine.line_no, sorted(set(line_nos))))
    if up_to is not None:
        stmt = stmt.where(InvoiceLine.invoice_id < up_to)
    for invoice_id, order_id, line_no, qty in session.connection().execute(stmt):
        counted[(order_id, line_no)].append((invoice_id, qty))
    return counted


def invoiced_before(counted: list[tuple[int, Decimal]], invoice_id: int | None) -> Decimal:
    """What the invoices that count invoiced on a line before `invoice_id` (by id; a draft,
    None, comes after all of them), itself left out."""
    return sum((qty for iid, qty in counted if invoice_id is None or iid < invoice_id), Decimal(0))


def _statement_checks(
    session: Session, chain: Chain, items: Sequence[ToMatch]
) -> dict[tuple[str, int], tuple[str, str, str | None]]:
    """(period, statement org) -> (status it reads, its current version, its confirmed version) for the statements the
    items are tied to: per period named, one query of its figure lines; then the statement rows
    in one query and at most one more per period (`versions.judge_confirmations`)."""
    ties: dict[str, set[int]] = defaultdict(set)
    for item in items:
        if item.statement_period and item.statement_org_id is not None:
            ties[item.statement_period].add(item.statement_org_id)
    if not ties:
        return {}
    scope = statement_scope(session, chain)
    rows = session.scalars(
        select(Statement).where(Statement.chain_id == chain.id, Statement.period.in_(sorted(ties)))
    )
    by_key = {(s.period, s.org_id): s for s in rows}
    out = {}
    for label, holders in ties.items():
        period = parse_period(label)
        if period is None:
            continue
        figures = figure_lines(session, chain, period, holders)
        versions = v.versions_of(figures, chain.id, label, holders, scope.holder)
        named = {o: by_key[(label, o)] for o in holders if (label, o) in by_key}
        judged = v.judge_confirmations(session, chain.id, label, named, versions, scope.holder)
        for org_id in holders:
            status = judged[org_id].status if org_id in judged else "open"
            row = named.get(org_id)
            confirmed = row.confirmed_version if row is not None else None
            out[(label, org_id)] = (status, versions[org_id], confirmed)
    return out


def _statement_stands(
    item: ToMatch, checks: dict[tuple[str, int], tuple[str, str, str | None]]
) -> tuple[bool, str | None]:
    """Whether the statement the item is tied to still reads `confirmed` at the tied version
    (or at one it was re-confirmed to within the statement's scope, with the same figures), and
    its current version."""
    key = (item.statement_period or "", item.statement_org_id or 0)
    status, version, confirmed = checks.get(key, ("open", None, None))
    if status != "confirmed":
        return False, version
    return item.statement_version in (version, confirmed), version


def match_invoices(
    session: Session, chain: Chain, items: Sequence[ToMatch], settings: Settings | None = None
) -> tuple[list[Match], dict[tuple[int, int], OrderLineNow]]:
    """The match of each item (in order), and the order lines they name as they are now."""
    settings = settings or settings_of(session, chain.id)
    order_ids = sorted({line.order_id for item in items for line in item.lines})
    line_nos = sorted({line.line_no for item in items for line in item.lines})
    # A page of invoices names a few lines of (maybe big) orders: read only those; one invoice
    # names most lines of its orders, where the filter would cost more than it saves.
    now = order_lines_now(session, chain.id, order_ids, line_nos if len(items) > 1 else None)
    # Only earlier invoices count before a recorded one: none from the newest matched here on
    # (its own lines are in hand).
    ids = [item.invoice_id for item in items]
    up_to = None if not ids or None in ids else max(ids)  # type: ignore[type-var]
    counted = counted_lines(session, order_ids, line_nos, up_to)
    checks = _statement_checks(session, chain, items)
    matches = []
    for item in items:
        match = Match()
        for line in item.lines:
            match.exceptions.extend(_line_exceptions(item, line, now, counted, settings))
        if item.statement_period is not None and item.statement_version is not None:
            stands, current = _statement_stands(item, checks)
            if not stands:
                match.exceptions.append(
                    {
                        "line": None,
                        "kind": "statement_changed",
                        "expected": item.statement_version,
                        "actual": current,
                    }
                )
        matches.append(match)
    return matches, now


def _exception(
    line: LineToMatch, kind: str, expected: Any, actual: Any, places: int = 0
) -> dict[str, Any]:
    """An exception of a line; decimals as the API writes them (money with `places` = 2)."""

    def text(value: Any) -> str | None:
        if value is None:
            return None
        return format_decimal(value, places) if isinstance(value, Decimal) else str(value)

    return {"line": line.position, "kind": kind, "expected": text(expected), "actual": text(actual)}


def price_within(price: Decimal, reference: Decimal, qty: Decimal, settings: Settings) -> bool:
    """A unit price matches its reference: within the percentage of it, or within the money
    tolerance on the line's quantity."""
    if price == reference:
        return True
    difference = abs(price - reference)
    if difference <= reference * settings.price_tolerance_pct / HUNDRED:
        return True
    return difference * qty <= settings.amount_tolerance


def _line_exceptions(
    item: ToMatch,
    line: LineToMatch,
    now: dict[tuple[int, int], OrderLineNow],
    counted: dict[tuple[int, int], list[tuple[int, Decimal]]],
    settings: Settings,
) -> list[dict[str, Any]]:
    key = (line.order_id, line.line_no)
    found = now.get(key)
    if found is None or (found.buyer_id, found.seller_id) != (item.buyer_id, item.seller_id):
        return [_exception(line, "unknown_line", None, "missing")]
    if found.order_status == "cancelled":
        return [_exception(line, "unknown_line", None, "cancelled")]
    out = []
    prior = counted.get(key)
    invoiced = line.qty + invoiced_before(prior, item.invoice_id) if prior else line.qty
    if invoiced > found.received_qty:
        out.append(_exception(line, "received_qty_variance", found.received_qty, invoiced))
    if not price_within(line.unit_price, found.price, line.qty, settings):
        out.append(_exception(line, "price_variance", found.price, line.unit_price, 2))
    expected_tax = line_tax(line.net, line.tax_rate)
    if abs(line.tax - expected_tax) > TAX_SLACK:
        out.append(_exception(line, "tax_variance", expected_tax, line.tax, 2))
    return out
