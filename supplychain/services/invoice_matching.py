"""The three-way match of supplier invoices: each invoice line against its order line as ordered,
confirmed and received now, and a statement-tied invoice against its statement now.

Computed whenever an invoice is read, never stored (so never stale), for one invoice or a page
of them at once in a fixed number of statements whatever their line count: the orders named
(with the chain's settings), their lines, the counted invoice lines on the same order lines, and
per statement period named the period's figure lines, the statement rows and (sometimes) the
parties of a confirmed snapshot's orders. The first three are plain-column SELECTs built once
per dialect (`_Statements`): 2 000 lines are read and matched per invoice, and the match costs
at most twice reading those order lines bare (`make bench invoices`).

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

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import Select, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from supplychain.decimals import format_decimal
from supplychain.models import Chain, Invoice, InvoiceLine, InvoiceSettings, Order, OrderLine
from supplychain.models.invoices import COUNTING_STATUSES, DEFAULT_TAX_RATE
from supplychain.models.statements import Statement
from supplychain.periods import parse_period
from supplychain.services.bulk import is_postgres
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import figure_lines, statement_scope

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
TAX_SLACK = Decimal("0.01")
HUNDRED = Decimal(100)
# Past every invoice id: `invoice_id < NO_LIMIT` counts them all.
NO_LIMIT = 2**62


def money(value: Decimal) -> Decimal:
    """Money at 2 places, rounded half up (0.005 -> 0.01), the rounding of every amount here."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_tax(net: Decimal, rate: Decimal) -> Decimal:
    """A line's tax: round(net x rate, 2), half up."""
    return money(net * rate)


# --- the statements, built once per dialect ---------------------------------------------------


class _Statements:
    """The match's SELECTs with bind parameters, built once (per dialect) and reused: plain
    columns, no ORM entities. A list of ids is one parameter however long: an array on
    PostgreSQL, a JSON list read with json_each on SQLite (as `bulk.among_ids`)."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

        def among(column: Any, name: str) -> Any:
            if postgres:
                return column == any_(bindparam(name, type_=ARRAY(column.type)))
            values = func.json_each(bindparam(name, type_=String)).table_valued("value")
            return column.in_(select(values.c.value))

        self.settings = select(
            InvoiceSettings.price_tolerance_pct,
            InvoiceSettings.amount_tolerance,
            InvoiceSettings.default_tax_rate,
        ).where(InvoiceSettings.chain_id == bindparam("chain_id"))
        # The orders named, with the chain's settings on each row (a few rows; one round trip
        # fewer than reading the settings apart).
        self.orders = (
            select(
                Order.id,
                Order.number,
                Order.buyer_id,
                Order.seller_id,
                Order.status,
                InvoiceSettings.price_tolerance_pct,
                InvoiceSettings.amount_tolerance,
                InvoiceSettings.default_tax_rate,
            )
            .outerjoin(InvoiceSettings, InvoiceSettings.chain_id == Order.chain_id)
            .where(Order.chain_id == bindparam("chain_id"), among(Order.id, "order_ids"))
        )
        lines = select(
            OrderLine.order_id,
            OrderLine.line_no,
            OrderLine.sku,
            func.coalesce(OrderLine.confirmed_price, OrderLine.unit_price),
            OrderLine.received_qty,
        ).where(among(OrderLine.order_id, "order_ids"))
        self.lines = lines
        self.named_lines = lines.where(among(OrderLine.line_no, "line_nos"))
        # The invoice's status per line by its key (a subquery, not a join): the lines named
        # drive the query whatever the planner believes of the invoices table (a join planned
        # on stale statistics after a bulk insert looped over every invoice).
        status = (
            select(Invoice.status).where(Invoice.id == InvoiceLine.invoice_id).scalar_subquery()
        )
        counted = select(
            InvoiceLine.invoice_id, InvoiceLine.order_id, InvoiceLine.line_no, InvoiceLine.qty
        ).where(
            among(InvoiceLine.order_id, "order_ids"),
            InvoiceLine.invoice_id < bindparam("up_to"),
            status.in_(COUNTING_STATUSES),
        )
        self.counted = counted
        self.named_counted = counted.where(among(InvoiceLine.line_no, "line_nos"))
        self.invoice_lines = (
            select(
                InvoiceLine.invoice_id,
                InvoiceLine.position,
                InvoiceLine.order_id,
                InvoiceLine.line_no,
                InvoiceLine.qty,
                InvoiceLine.unit_price,
                InvoiceLine.tax_rate,
                InvoiceLine.net,
                InvoiceLine.tax,
            )
            .where(among(InvoiceLine.invoice_id, "invoice_ids"))
            .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
        )

    def ids(self, values: Sequence[int]) -> Any:
        """A list of ids as the one parameter `among` reads."""
        ordered = sorted(set(values))
        return ordered if self.postgres else json.dumps(ordered)

    def run(self, session: Session, stmt: Select, **params: Any) -> list[Row[Any]]:
        """Rows of a statement on the session's connection, fetched at once (iterating a result
        fetches row by row), with no autoflush: callers flush what they change before
        matching."""
        return session.connection().execute(stmt, params).all()


_BUILT: dict[bool, _Statements] = {}


def _statements(session: Session) -> _Statements:
    postgres = is_postgres(session)
    built = _BUILT.get(postgres)
    if built is None:
        built = _BUILT[postgres] = _Statements(postgres)
    return built


# --- what is matched ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A chain's matching settings (defaults where it has none)."""

    price_tolerance_pct: Decimal = Decimal(0)
    amount_tolerance: Decimal = Decimal(0)
    default_tax_rate: Decimal = DEFAULT_TAX_RATE


def settings_of(session: Session, chain_id: int) -> Settings:
    """The chain's invoice settings, or the defaults (0 %, 0.00, 13 %)."""
    q = _statements(session)
    rows = q.run(session, q.settings, chain_id=chain_id)
    return Settings(*rows[0]) if rows else Settings()


class LineToMatch(NamedTuple):
    """One invoice line as matched (a tuple: 2 000 of them are made per invoice read)."""

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


@dataclass
class OrderLinesNow:
    """The orders and order lines an invoice (or a page of them) names, as they are now: only
    the chain's orders; a line whose order is not among `orders` is not among `lines`. Rows as
    read: an order (id, number, buyer_id, seller_id, status, the chain's settings...), a line
    (order_id, line_no, sku, price: the confirmed unit price or else the ordered one,
    received_qty). `settings`: the chain's, read with the orders (None when none was named)."""

    orders: dict[int, Row[Any]]
    lines: dict[tuple[int, int], Row[Any]]
    settings: Settings | None = None

    def ref(self, order_id: int, line_no: int) -> tuple[str | None, str | None]:
        """(order number, SKU) of an order line (None where unknown)."""
        order = self.orders.get(order_id)
        line = self.lines.get((order_id, line_no))
        return (
            order[1] if order is not None else None,
            line[2] if line is not None else None,
        )


def to_match(invoice: Invoice, lines: Sequence[LineToMatch]) -> ToMatch:
    """A recorded invoice with its lines (`invoice_lines`), as the match takes it."""
    return ToMatch(
        invoice_id=invoice.id,
        seller_id=invoice.seller_id,
        buyer_id=invoice.buyer_id,
        lines=lines,
        statement_org_id=invoice.statement_org_id,
        statement_period=invoice.statement_period,
        statement_version=invoice.statement_version,
    )


def invoice_lines(session: Session, invoice_ids: Sequence[int]) -> dict[int, list[LineToMatch]]:
    """invoice id -> its lines by position, for many invoices in one query (plain columns)."""
    out: dict[int, list[LineToMatch]] = {i: [] for i in invoice_ids}
    if invoice_ids:
        q = _statements(session)
        make = LineToMatch._make
        for row in q.run(session, q.invoice_lines, invoice_ids=q.ids(invoice_ids)):
            out[row[0]].append(make(row[1:]))
    return out


def order_lines_now(
    session: Session,
    chain_id: int,
    order_ids: Sequence[int],
    line_nos: Sequence[int] | None = None,
) -> OrderLinesNow:
    """The named orders of the chain and their lines now (only the lines numbered `line_nos`,
    when given: a page of invoices names a few lines of big orders), in two queries whatever
    their number."""
    if not order_ids:
        return OrderLinesNow({}, {})
    q = _statements(session)
    ids = q.ids(order_ids)
    orders = {row[0]: row for row in q.run(session, q.orders, chain_id=chain_id, order_ids=ids)}
    if not orders:
        return OrderLinesNow({}, {})
    first = next(iter(orders.values()))
    settings = Settings() if first[5] is None else Settings(*first[5:8])
    if line_nos is None:
        rows = q.run(session, q.lines, order_ids=q.ids(orders))
    else:
        rows = q.run(session, q.named_lines, order_ids=q.ids(orders), line_nos=q.ids(line_nos))
    return OrderLinesNow(orders, {(row[0], row[1]): row for row in rows}, settings)


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
    q = _statements(session)
    limit = NO_LIMIT if up_to is None else up_to
    params: dict[str, Any] = {"order_ids": q.ids(order_ids), "up_to": limit}
    if line_nos is None:
        rows = q.run(session, q.counted, **params)
    else:
        rows = q.run(session, q.named_counted, line_nos=q.ids(line_nos), **params)
    for invoice_id, order_id, line_no, qty in rows:
        counted[(order_id, line_no)].append((invoice_id, qty))
    return counted


def invoiced_before(counted: list[tuple[int, Decimal]], invoice_id: int | None) -> Decimal:
    """What the invoices that count invoiced on a line before `invoice_id` (by id; a draft,
    None, comes after all of them), itself left out."""
    return sum((qty for iid, qty in counted if invoice_id is None or iid < invoice_id), Decimal(0))


def _statement_checks(
    session: Session, chain: Chain, items: Sequence[ToMatch]
) -> dict[tuple[str, int], tuple[str, str, str | None]]:
    """(period, statement org) -> (status it reads, its current version, its confirmed
    version) for the statements the items are tied to: per period named, one query of its
    figure lines; then the statement rows in one query and at most one more per period
    (`versions.judge_confirmations`)."""
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
) -> tuple[list[Match], OrderLinesNow]:
    """The match of each item (in order), and the orders and order lines they name as they are
    now."""
    order_ids = {line[1] for item in items for line in item.lines}
    # A page of invoices names a few lines of (maybe big) orders: read only those; one invoice
    # names most lines of its orders, where the filter would cost more than it saves.
    line_nos = {line[2] for item in items for line in item.lines} if len(items) > 1 else None
    now = order_lines_now(session, chain.id, sorted(order_ids), line_nos)
    # The chain's settings came with the orders; with no order of the chain named, every line
    # is unknown and no tolerance is read.
    settings = settings or now.settings or Settings()
    # Only earlier invoices count before a recorded one: none from the newest matched here on
    # (its own lines are in hand).
    ids = [item.invoice_id for item in items]
    up_to = None if not ids or None in ids else max(ids)  # type: ignore[type-var]
    counted = counted_lines(session, sorted(now.orders), line_nos, up_to)
    checks = _statement_checks(session, chain, items)
    matches = []
    for item in items:
        match = Match(_line_exceptions(item, now, counted, settings))
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
    now: OrderLinesNow,
    counted: dict[tuple[int, int], list[tuple[int, Decimal]]],
    settings: Settings,
) -> list[dict[str, Any]]:
    """The exceptions of an item's lines, in line order. One pass, tuples read by place (2 000
    lines per invoice): the order's standing once per order; a line's earlier invoices only
    where it has some; the tax rounded only when it is not within half a cent of net x rate
    (then it is within the cent of the rounded figure whatever the rounding)."""
    parties = (item.buyer_id, item.seller_id)
    standing: dict[int, str] = {}
    for order_id, order in now.orders.items():
        if (order[2], order[3]) != parties:
            standing[order_id] = "missing"
        elif order[4] == "cancelled":
            standing[order_id] = "cancelled"
    find = now.lines.get
    invoice_id = item.invoice_id
    half, minus_half = HALF_CENT, -HALF_CENT
    out: list[dict[str, Any]] = []
    for line in item.lines:
        _, order_id, line_no, qty, price, rate, net, tax = line
        key = (order_id, line_no)
        found = find(key)
        if found is None:
            out.append(_exception(line, "unknown_line", None, "missing"))
            continue
        if standing and order_id in standing:
            out.append(_exception(line, "unknown_line", None, standing[order_id]))
            continue
        _, _, _, reference, received = found
        invoiced = qty
        if counted and key in counted:
            invoiced = qty + invoiced_before(counted[key], invoice_id)
        if invoiced > received:
            out.append(_exception(line, "received_qty_variance", received, invoiced))
        if price != reference and not price_within(price, reference, qty, settings):
            out.append(_exception(line, "price_variance", reference, price, 2))
        off = tax - net * rate
        if off > half or off < minus_half:
            expected_tax = line_tax(net, rate)
            if abs(tax - expected_tax) > TAX_SLACK:
                out.append(_exception(line, "tax_variance", expected_tax, tax, 2))
    return out
