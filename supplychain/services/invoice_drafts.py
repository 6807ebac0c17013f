"""Drafting supplier invoices: what the seller gives checked and priced (or made from its
confirmed statement), before it is recorded (`invoices.record_invoice`) or only previewed; and
the chain's matching settings.

What is refused (422, naming the field, nothing saved): an order that is not the seller's with
this buyer in this chain (`lines.N.order_id`, one message whether it does not exist or is
another org's: no invoice may show one buyer another buyer's order), the same order line twice,
amounts past 14 integer digits, an order in another currency; on an invoice tied to a statement
(`statement_period`), a line that is not a line of that statement as confirmed (`lines.N.order_id`
or `lines.N.line_no`). A line number its order does not have is otherwise kept and reads as the
`unknown_line` exception, as does a line whose order is cancelled or amended away later. A number
the seller used already is 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid
from supplychain.models import Invoice, InvoiceSettings, Order, Statement
from supplychain.models.base import utcnow
from supplychain.services.app_access import require_app
from supplychain.services.audit import record_action
from supplychain.services.bulk import among_ids
from supplychain.services.chains import current_member
from supplychain.services.invoice_matching import (
    LineToMatch,
    Settings,
    ToMatch,
    counted_lines,
    invoiced_before,
    line_tax,
    money,
    settings_of,
)
from supplychain.services.reconciliation import versions as v
from supplychain.services.reconciliation.ledger import (
    check_period,
    order_lines,
    statement_rows,
    statement_scope,
)

APP = "orders"
STATEMENT_APP = "reconciliation"
MAX_LINES = 2000
LIMIT = Decimal(10) ** 14


@dataclass(frozen=True)
class NewInvoiceLine:
    """A line as the seller gives it; `tax` as printed on the invoice (None: computed)."""

    order_id: int
    line_no: int
    qty: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None = None
    tax: Decimal | None = None


@dataclass(frozen=True)
class NewInvoice:
    """An invoice's head as the seller gives it."""

    number: str
    kind: str
    issue_date: date
    currency: str | None = None


@dataclass
class Draft:
    """An invoice checked and priced, not yet recorded: what a preview shows and what is saved."""

    seller_id: int
    buyer_id: int
    head: NewInvoice
    currency: str
    lines: list[LineToMatch]
    statement_org_id: int | None = None
    statement_period: str | None = None
    statement_version: str | None = None

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), Decimal(0))

    def to_match(self) -> ToMatch:
        return ToMatch(
            None, self.seller_id, self.buyer_id, self.lines, self.statement_org_id,
            self.statement_period, self.statement_version,
        )  # fmt: skip


# --- settings ---------------------------------------------------------------------------------


def get_settings(session: Session, access: ChainAccess) -> Settings:
    """The chain's tolerances and default tax rate (any member may read them)."""
    return settings_of(session, access.chain_id)


def put_settings(
    session: Session,
    access: ChainAccess,
    price_tolerance_pct: Decimal,
    amount_tolerance: Decimal,
    default_tax_rate: Decimal,
) -> Settings:
    """The chain owner's admins set the tolerances (percent 0-100, amount ≥ 0) and the default
    tax rate (0-1); audited."""
    access.require_owner_admin()
    errors = {}
    if not Decimal(0) <= price_tolerance_pct <= Decimal(100):
        errors["price_tolerance_pct"] = ["Must be between 0 and 100 (percent)."]
    if amount_tolerance < 0:
        errors["amount_tolerance"] = ["Must be at least 0."]
    if not Decimal(0) <= default_tax_rate <= Decimal(1):
        errors["default_tax_rate"] = ["Must be between 0 and 1 (0.13 for 13 %)."]
    if errors:
        raise Invalid("Invalid invoice settings.", errors)
    row = session.get(InvoiceSettings, access.chain_id)
    if row is None:
        row = InvoiceSettings(chain_id=access.chain_id)
        session.add(row)
    row.price_tolerance_pct = price_tolerance_pct
    row.amount_tolerance = amount_tolerance
    row.default_tax_rate = default_tax_rate
    row.updated_at = utcnow()
    row.updated_by = access.actor.user_id
    session.flush()
    record_action(session, access, "invoice.settings", "chain", access.chain_id, data={"price_tolerance_pct": str(price_tolerance_pct),
              "amount_tolerance": str(amount_tolerance), "default_tax_rate": str(default_tax_rate)})  # fmt: skip
    return settings_of(session, access.chain_id)


# --- drafting ---------------------------------------------------------------------------------


def _check_buyer(session: Session, access: ChainAccess, buyer_id: int) -> None:
    seller = access.actor.org_id
    known = current_member(session, access.chain_id, buyer_id)
    if known is None or buyer_id == seller:
        raise Invalid("Unknown buyer.", {"buyer_id": ["Not another member of this chain."]})


def _orders_of(
    session: Session, access: ChainAccess, order_ids: list[int]
) -> dict[int, tuple[int, int, str]]:
    """order id -> (buyer, seller, currency) for the named orders of the chain (one query)."""
    rows = session.execute(
        select(Order.id, Order.buyer_id, Order.seller_id, Order.currency).where(
            Order.chain_id == access.chain_id, among_ids(session, Order.id, sorted(set(order_ids)))
        )
    )
    return {oid: (buyer, seller, currency) for oid, buyer, seller, currency in rows}


def draft_invoice(
    session: Session,
    access: ChainAccess,
    buyer_id: int,
    head: NewInvoice,
    lines: list[NewInvoiceLine],
    settings: Settings | None = None,
) -> Draft:
    """Check an invoice the caller's org (the seller) gives and price its lines: every order is
    the seller's with this buyer (422 naming `lines.N.order_id` otherwise), no order line twice,
    one currency, amounts within 14 integer digits; the number not used by the seller (409)."""
    require_app(session, access, APP)
    seller = access.actor.org_id
    _check_buyer(session, access, buyer_id)
    if not 1 <= len(lines) <= MAX_LINES:
        raise Invalid("Invalid lines.", {"lines": [f"Give 1 to {MAX_LINES} lines."]})
    settings = settings or settings_of(session, access.chain_id)
    orders = _orders_of(session, access, [line.order_id for line in lines])
    currency = head.currency
    errors: dict[str, Any] = {}
    seen: set[tuple[int, int]] = set()
    priced = []
    for i, line in enumerate(lines):
        order = orders.get(line.order_id)
        if order is None or order[:2] != (buyer_id, seller):
            errors[str(i)] = {"order_id": ["Not an order of yours with this buyer."]}
            continue
        currency = currency or order[2]
        if order[2] != currency:
            errors[str(i)] = {"order_id": [f"This order is in {order[2]}, not {currency}."]}
            continue
        if (line.order_id, line.line_no) in seen:
            errors[str(i)] = {"line_no": ["This order line is already on the invoice."]}
            continue
        seen.add((line.order_id, line.line_no))
        rate = line.tax_rate if line.tax_rate is not None else settings.default_tax_rate
        if not Decimal(0) <= rate <= Decimal(1):
            errors[str(i)] = {"tax_rate": ["Must be between 0 and 1 (0.13 for 13 %)."]}
            continue
        if line.qty * line.unit_price >= LIMIT:
            errors[str(i)] = {"qty": ["The line's amount passes 14 integer digits."]}
            continue
        net = money(line.qty * line.unit_price)
        tax = line.tax if line.tax is not None else line_tax(net, rate)
        if net + tax >= LIMIT:
            errors[str(i)] = {"qty": ["The line's amount passes 14 integer digits."]}
            continue
        priced.append(
            LineToMatch(i, line.order_id, line.line_no, line.qty, line.unit_price, rate, net, tax)
        )
    if errors:
        raise Invalid("Invalid invoice lines.", {"lines": errors})
    draft = Draft(seller, buyer_id, head, currency or access.chain.currency, priced)
    if draft.net + draft.tax >= LIMIT:
        raise Invalid("Invoice too large.", {"lines": ["The invoice's total passes 14 digits."]})
    _check_number(session, access, head.number)
    return draft


def _check_number(session: Session, access: ChainAccess, number: str) -> None:
    used = session.scalar(
        select(Invoice.id).where(
            Invoice.chain_id == access.chain_id,
            Invoice.seller_id == access.actor.org_id,
            Invoice.number == number,
        )
    )
    if used is not None:
        raise Conflict(
            "You already recorded an invoice with this number.",
            {"number": ["Already used by one of your invoices."]},
        )


def tie_to_statement(
    session: Session, access: ChainAccess, draft: Draft, period_label: str
) -> None:
    """Tie a draft made line by line to the confirmed statement of the period that holds the
    orders between its seller and buyer (409 unless it reads `confirmed`). Every line must be a
    line of that statement as confirmed, between this seller and buyer: 422 naming
    `lines.N.order_id` when its order is not in the statement (another period's order, or one
    the statement does not hold), `lines.N.line_no` when the order is but the line is not;
    nothing saved. (The tie is what `statement_changed` watches: a line outside the statement
    would be invoiced against a confirmation that never covered it.)"""
    require_app(session, access, STATEMENT_APP)
    holder, version, rows = _confirmed_statement(session, access, period_label, draft.buyer_id)
    parties = (draft.buyer_id, draft.seller_id)
    covered = {(r[v.ORDER_ID], r[v.LINE_NO]) for r in rows if (r[v.BUYER], r[v.SELLER]) == parties}
    orders = {order_id for order_id, _ in covered}
    errors: dict[str, Any] = {}
    for line in draft.lines:
        if line.order_id not in orders:
            errors[str(line.position)] = {
                "order_id": [f"Not an order of the statement for {period_label}."]
            }
        elif (line.order_id, line.line_no) not in covered:
            errors[str(line.position)] = {
                "line_no": [f"Not a line of this order in the statement for {period_label}."]
            }
    if errors:
        raise Invalid(
            f"Lines outside the confirmed statement for {period_label}.", {"lines": errors}
        )
    draft.statement_org_id = holder
    draft.statement_period = period_label
    draft.statement_version = version


def _confirmed_statement(
    session: Session, access: ChainAccess, period_label: str, buyer_id: int
) -> tuple[int, str, list[tuple[Any, ...]]]:
    """(statement org, its version, its rows) of the statement holding the orders between the
    caller (seller) and `buyer_id` for the period; 409 unless it reads `confirmed`."""
    chain = access.chain
    period = check_period(period_label, ZoneInfo(chain.timezone))
    scope = statement_scope(session, chain)
    holder = scope.holder(buyer_id, access.actor.org_id)
    if holder is None:
        raise Conflict(
            "No statement holds your orders with this buyer: make the invoice line by line.",
            {"period": ["No statement of yours with this buyer."]},
        )
    rows = statement_rows(session, chain, period, holder, scope)
    version = v.versions_of(
        map(v.figures_of, rows), chain.id, period.label, [holder], scope.holder
    )[holder]
    row = session.scalar(
        select(Statement).where(
            Statement.chain_id == chain.id,
            Statement.org_id == holder,
            Statement.period == period.label,
        )
    )
    status = "open"
    if row is not None:
        status = v.judge_confirmations(
            session, chain.id, period.label, {holder: row}, {holder: version}, scope.holder
        )[holder].status
    if status != "confirmed":
        raise Conflict(
            f"The statement for {period.label} is {status}, not confirmed: invoice it once it is.",
            {"period": [f"The statement is {status}."]},
        )
    return holder, version, rows


def _sole_buyer(session: Session, access: ChainAccess, period_label: str) -> int:
    """The one buyer of the caller's orders in statements of the period (422 if several)."""
    chain = access.chain
    period = check_period(period_label, ZoneInfo(chain.timezone))
    scope = statement_scope(session, chain)
    seller = access.actor.org_id
    buyers = {
        row[v.BUYER]
        for row in order_lines(session, chain, period, {seller})
        if row[v.SELLER] == seller and scope.holder(row[v.BUYER], seller) is not None
    }
    if len(buyers) > 1:
        raise Invalid(
            "Several buyers.", {"buyer_id": ["You sold to several buyers this period: name one."]}
        )
    if not buyers:
        raise Conflict(
            f"No statement for {period.label} holds orders you sold.",
            {"period": ["Nothing of yours to invoice in this period."]},
        )
    return buyers.pop()


def draft_from_statement(
    session: Session,
    access: ChainAccess,
    period_label: str,
    head: NewInvoice,
    tax_rate: Decimal | None,
    buyer_id: int | None = None,
) -> Draft:
    """An invoice made from the confirmed statement of the period that holds the caller's sales
    to `buyer_id` (the one buyer when not named): each line received and not yet invoiced (by
    invoices not rejected), at the received quantity left x the confirmed price, at `tax_rate`
    or the chain's default; tied to the statement's version. 409 if the statement is not
    confirmed or nothing is left to invoice. A statement with more than 2 000 such lines is
    invoiced 2 000 lines at a time (the next invoice takes the rest)."""
    require_app(session, access, APP)
    require_app(session, access, STATEMENT_APP)
    if buyer_id is None:
        buyer_id = _sole_buyer(session, access, period_label)
    _check_buyer(session, access, buyer_id)
    holder, version, rows = _confirmed_statement(session, access, period_label, buyer_id)
    seller = access.actor.org_id
    mine = [r for r in rows if (r[v.BUYER], r[v.SELLER]) == (buyer_id, seller)]
    if not mine:
        raise Conflict(
            f"No statement for {period_label} holds orders you sold.",
            {"period": ["Nothing of yours to invoice in this period."]},
        )
    counted = counted_lines(session, [r[v.ORDER_ID] for r in mine])
    new_lines = []
    for r in mine:
        done = invoiced_before(counted.get((r[v.ORDER_ID], r[v.LINE_NO]), []), None)
        left = r[v.RECEIVED] - done
        if left <= 0 or r[v.STATUS] == "cancelled":
            continue
        price = r[v.CONFIRMED_PRICE] if r[v.CONFIRMED_PRICE] is not None else r[v.PRICE]
        new_lines.append(NewInvoiceLine(r[v.ORDER_ID], r[v.LINE_NO], left, price, tax_rate))
    if not new_lines:
        raise Conflict(
            "Every received line of this statement is invoiced already.",
            {"period": ["Nothing left to invoice."]},
        )
    draft = draft_invoice(session, access, buyer_id, head, new_lines[:MAX_LINES])
    draft.statement_org_id, draft.statement_period, draft.statement_version = (
        holder, period_label, version,
    )  # fmt: skip
    return draft
