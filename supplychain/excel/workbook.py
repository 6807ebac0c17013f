"""Reconciliation workbooks (tier workbooks and partner statements; xlsxwriter in constant-memory
mode, see writer.py for why): Summary, Lines, Discrepancies, Disputes, Scorecard and Notes. Rows
stream straight to disk; only per-org totals stay in memory. Each sheet is a sheets.Sheet: a bold
frozen header row, column widths, an autofilter, and typed cells by column kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from supplychain.excel.invoices_sheet import write_invoices_sheet
from supplychain.excel.safety import safe_text
from supplychain.excel.sheets import DATE, DATETIME, Sheet
from supplychain.excel.writer import EXCEL_DIGITS, MAX_ROUNDED_LISTED, Workbook, write_value

ZERO = Decimal(0)
# The last moment Excel shows (its dates end with 9999-12-31; datetime.max would round past it).
LAST_MOMENT = datetime(9999, 12, 31, 23, 59, 59)

FLAG_LEGEND = {
    "QTY": "confirmed quantity differs from the ordered quantity (a rejected line confirms 0)",
    "PRICE": "confirmed unit price differs from the ordered price",
    "SHIP": "shipped quantity differs from the confirmed quantity",
    "RECV": "received quantity differs from the shipped quantity",
    "ACK_MISSING": "the order has not been acknowledged",
    "ACK_OVERDUE": "acknowledgment missing past its due time, or given after it",
}
ACK01_LEGEND = {
    "IA": "item accepted",
    "IR": "item rejected",
    "IB": "item backordered",
    "IQ": "item accepted, quantity changed",
    "IP": "item accepted, price changed",
    "DR": "item accepted, date rescheduled",
    "IC": "item accepted, several changes",
}
BAK02_LEGEND = {
    "AD": "acknowledged with detail, no change",
    "AC": "acknowledged with detail and change (includes partially accepted)",
    "RJ": "rejected",
}


@dataclass
class OrgRecord:
    """One org of the tier (a Summary row even when it has no orders)."""

    org_id: int
    code: str | None
    name: str
    group: str | None
    tier: str


@dataclass
class LineRecord:
    """One order line with both sides' figures, seen from `org_id` (an org of the tier)."""

    org_id: int
    role: str
    counterparty_code: str | None
    counterparty_name: str
    order_number: str
    order_date: date
    order_status: str
    bak02: str | None
    currency: str
    line_no: int
    sku: str
    description: str | None
    unit: str | None
    ordered_qty: Decimal
    unit_price: Decimal
    requested_date: date | None
    ack_status: str
    ack01: str | None
    confirmed_qty: Decimal | None
    confirmed_price: Decimal | None
    promised_date: date | None
    shipped_qty: Decimal
    received_qty: Decimal
    ack_due: datetime | None
    acked_at: datetime | None
    reason: str | None


@dataclass
class StatementStatus:
    """An org's statement answer for the period, as the Summary shows it."""

    status: str
    confirmed_at: datetime | None


@dataclass
class DisputeRecord:
    """One disputed line of a partner's statement (a Disputes row), with its dispute's state."""

    org_code: str | None
    org_name: str
    dispute_id: int
    status: str
    opened_at: datetime
    order_number: str
    line_no: int
    field: str
    expected: str | None
    line_note: str
    dispute_note: str | None
    resolved_at: datetime | None
    resolution_note: str | None


@dataclass
class WorkbookMeta:
    """What the Notes sheet says about the workbook."""

    title: str
    chain: str
    tier: str
    period: str
    first_day: date
    last_day: date
    timezone: str
    generated_at: datetime
    revision: int | None
    scope: str


@dataclass
class WorkbookStats:
    """What was written: line rows, orgs and flagged lines."""

    rows: int = 0
    orgs: int = 0
    discrepancies: int = 0
    # Number cells past Excel's 15 significant digits (shown rounded), and the first refs.
    rounded: int = 0
    rounded_refs: list[str] = field(default_factory=list)

    def count_rounded(self, sheet: Sheet) -> None:
        count, refs = sheet.rounded
        self.rounded += count
        self.rounded_refs.extend(refs[: MAX_ROUNDED_LISTED - len(self.rounded_refs)])


@dataclass
class _Totals:
    # Lines arrive grouped by order, so counting changes of order number counts orders without
    # keeping every number in memory.
    orders: int = 0
    last_order: str | None = None
    lines: int = 0
    ordered: Decimal = ZERO
    confirmed: Decimal = ZERO
    shipped: Decimal = ZERO
    received: Decimal = ZERO
    open_discrepancies: int = 0


def discrepancy_flags(line: LineRecord, now: datetime) -> list[str]:
    """The reconciliation flags of one line (see FLAG_LEGEND); none for cancelled orders."""
    if line.order_status == "cancelled":
        return []
    flags = []
    acknowledged = line.ack_status != "pending"
    if acknowledged and line.confirmed_qty is not None and line.confirmed_qty != line.ordered_qty:
        flags.append("QTY")
    if (
        acknowledged
        and line.ack_status != "rejected"
        and line.confirmed_price is not None
        and line.confirmed_price != line.unit_price
    ):
        flags.append("PRICE")
    if acknowledged and line.shipped_qty != (line.confirmed_qty or ZERO):
        flags.append("SHIP")
    if line.received_qty != line.shipped_qty:
        flags.append("RECV")
    if not acknowledged:
        flags.append("ACK_MISSING")
    if line.ack_due is not None and (
        (line.acked_at is None and now > line.ack_due)
        or (line.acked_at is not None and line.acked_at > line.ack_due)
    ):
        flags.append("ACK_OVERDUE")
    return flags


# (header, width, kind) per Lines column; kind picks the number format.
LINE_COLUMNS: list[tuple[str, int, str]] = [
    ("Org code", 12, "text"),
    ("Org name", 28, "text"),
    ("Group", 24, "text"),
    ("Tier", 7, "text"),
    ("Role", 8, "text"),
    ("Counterparty code", 14, "text"),
    ("Counterparty name", 28, "text"),
    ("Order no.", 20, "text"),
    ("Order date", 11, "date"),
    ("Order status", 20, "text"),
    ("BAK02", 7, "text"),
    ("Currency", 9, "text"),
    ("Line", 6, "int"),
    ("SKU", 16, "text"),
    ("Description", 30, "text"),
    ("Unit", 7, "text"),
    ("Ordered qty", 12, "qty"),
    ("Unit price", 12, "money"),
    ("Ordered amount", 15, "money"),
    ("Ack status", 12, "text"),
    ("ACK01", 7, "text"),
    ("Confirmed qty", 13, "qty"),
    ("Confirmed price", 14, "money"),
    ("Confirmed amount", 16, "money"),
    ("Requested date", 13, "date"),
    ("Promised date", 13, "date"),
    ("Shipped qty", 12, "qty"),
    ("Shipped amount", 15, "money"),
    ("Received qty", 12, "qty"),
    ("Received amount", 15, "money"),
    ("Ack due", 16, "datetime"),
    ("Acknowledged at", 16, "datetime"),
    ("Reason", 24, "text"),
    ("Flags", 22, "text"),
]
SUMMARY_COLUMNS: list[tuple[str, int, str]] = [
    ("Org code", 12, "text"),
    ("Org name", 30, "text"),
    ("Group", 26, "text"),
    ("Tier", 7, "text"),
    ("Currency", 9, "text"),
    ("Orders", 9, "int"),
    ("Lines", 9, "int"),
    ("Ordered amount", 16, "money"),
    ("Confirmed amount", 16, "money"),
    ("Shipped amount", 16, "money"),
    ("Received amount", 16, "money"),
    ("Open discrepancies", 18, "int"),
    ("Statement status", 16, "text"),
    ("Confirmed at", 16, "datetime"),
]
DISPUTE_COLUMNS: list[tuple[str, int, str]] = [
    ("Org code", 12, "text"),
    ("Org name", 28, "text"),
    ("Dispute", 9, "int"),
    ("Status", 10, "text"),
    ("Opened at", 16, "datetime"),
    ("Order no.", 20, "text"),
    ("Line", 6, "int"),
    ("Field", 9, "text"),
    ("Expected", 14, "text"),
    ("Line note", 36, "text"),
    ("Dispute note", 36, "text"),
    ("Resolved at", 16, "datetime"),
    ("Resolution note", 36, "text"),
]
# (header, width, kind, attribute of the scorecard) per Scorecard column.
SCORECARD_COLUMNS: list[tuple[str, int, str, str]] = [
    ("Org code", 12, "text", "code"),
    ("Org name", 30, "text", "name"),
    ("Tier", 7, "text", "tier"),
    ("Orders", 9, "int", "orders"),
    ("Lines", 9, "int", "lines"),
    ("Ack rate", 10, "percent", "ack_rate"),
    ("Median ack hours", 17, "hours", "median_ack_hours"),
    ("On-time rate", 13, "percent", "on_time_rate"),
    ("Fill rate", 10, "percent", "fill_rate"),
    ("Discrepancy lines", 17, "int", "discrepancy_lines"),
    ("Notice ack rate", 16, "percent", "notice_ack_rate"),
    ("Notice response rate", 20, "percent", "notice_response_rate"),
    ("Invoice match rate", 18, "percent", "invoice_match_rate"),
]


def _amount(qty: Decimal | None, price: Decimal | None) -> Decimal | None:
    if qty is None or price is None:
        return None
    return (qty * price).quantize(Decimal("0.01"))


def _naive(value: datetime | None, tz: Any) -> datetime | None:
    """Excel has no timezones: local wall-clock time of the chain. An instant past year 9999
    there (an ack due at 9999-12-31T23:00Z, east of Greenwich) is the last moment Excel shows."""
    if value is None:
        return None
    try:
        return value.astimezone(tz).replace(tzinfo=None)
    except OverflowError:
        return LAST_MOMENT if value.year > 1 else datetime.min


def write_reconciliation_workbook(
    target: Any,
    meta: WorkbookMeta,
    orgs: list[OrgRecord],
    lines: Iterable[LineRecord],
    tz: Any,
    now: datetime,
    statuses: dict[int, StatementStatus] | None = None,
    disputes: Iterable[DisputeRecord] = (),
    scorecards: list[Any] | None = None,
    invoices: Iterable[Any] | None = None,
) -> WorkbookStats:
    """Stream a reconciliation workbook to `target` (a path or binary file) in constant memory.

    `lines` must come grouped by order (all lines of one order together), as the queries give them.
    `statuses` fill the Summary's statement columns; `disputes` the Disputes sheet.
    With `scorecards` (objects with the attributes SCORECARD_COLUMNS name) a Scorecard sheet
    lists them.
    """
    wb = Workbook(target, created=meta.generated_at)
    summary = Sheet(wb, "Summary", SUMMARY_COLUMNS)
    details = Sheet(wb, "Lines", LINE_COLUMNS)
    discrepancies = Sheet(wb, "Discrepancies", LINE_COLUMNS)
    by_org = {org.org_id: org for org in orgs}
    totals: dict[tuple[int, str], _Totals] = {}
    stats = WorkbookStats(orgs=len(orgs))
    for line in lines:
        org = by_org.get(line.org_id)
        if org is None:
            continue
        flags = discrepancy_flags(line, now)
        price = line.confirmed_price if line.confirmed_price is not None else line.unit_price
        row = [
            org.code, org.name, org.group, org.tier, line.role,
            line.counterparty_code, line.counterparty_name, line.order_number, line.order_date,
            line.order_status, line.bak02, line.currency, line.line_no, line.sku,
            line.description, line.unit, line.ordered_qty, line.unit_price,
            _amount(line.ordered_qty, line.unit_price), line.ack_status, line.ack01,
            line.confirmed_qty, line.confirmed_price,
            _amount(line.confirmed_qty, line.confirmed_price),
            line.requested_date, line.promised_date, line.shipped_qty,
            _amount(line.shipped_qty, price), line.received_qty,
            _amount(line.received_qty, price), _naive(line.ack_due, tz),
            _naive(line.acked_at, tz), line.reason, " ".join(flags) or None,
        ]  # fmt: skip
        details.append(row)
        stats.rows += 1
        if flags:
            discrepancies.append(row)
            stats.discrepancies += 1
        total = totals.setdefault((org.org_id, line.currency), _Totals())
        if total.last_order != line.order_number:
            total.orders += 1
            total.last_order = line.order_number
        total.lines += 1
        total.ordered += row[18] or ZERO
        total.confirmed += row[23] or ZERO
        total.shipped += row[27] or ZERO
        total.received += row[29] or ZERO
        total.open_discrepancies += bool(flags)
    for org in orgs:
        currencies = sorted(cur for (org_id, cur) in totals if org_id == org.org_id) or [None]
        answer = (statuses or {}).get(org.org_id)
        for currency in currencies:
            t = totals.get((org.org_id, currency), _Totals()) if currency else _Totals()
            summary.append([
                org.code, org.name, org.group, org.tier, currency, t.orders, t.lines,
                t.ordered, t.confirmed, t.shipped, t.received, t.open_discrepancies,
                answer.status if answer else None,
                _naive(answer.confirmed_at, tz) if answer else None,
            ])  # fmt: skip
    disputed = Sheet(wb, "Disputes", DISPUTE_COLUMNS)
    for d in disputes:
        disputed.append([
            d.org_code, d.org_name, d.dispute_id, d.status, _naive(d.opened_at, tz),
            d.order_number, d.line_no, d.field, d.expected, d.line_note, d.dispute_note,
            _naive(d.resolved_at, tz), d.resolution_note,
        ])  # fmt: skip
    for sheet in (summary, details, discrepancies, disputed):
        sheet.finish()
        stats.count_rounded(sheet)
    if scorecards is not None:
        write_scorecard_sheet(wb, scorecards)
    if invoices is not None:
        stats.count_rounded(write_invoices_sheet(wb, invoices, tz))
    _write_notes(wb, meta, stats)
    wb.close()
    return stats


def write_scorecard_sheet(wb: Workbook, scorecards: Iterable[Any]) -> None:
    """The Scorecard sheet: one row per org with its figures; rates as numbers with a percent
    format, and no data (None) as an empty cell, never 0."""
    sheet = Sheet(
        wb, "Scorecard", [(name, width, kind) for name, width, kind, _ in SCORECARD_COLUMNS]
    )
    for card in scorecards:
        sheet.append([getattr(card, attribute) for _, _, _, attribute in SCORECARD_COLUMNS])
    sheet.finish()


def _write_notes(wb: Workbook, meta: WorkbookMeta, stats: WorkbookStats) -> None:
    ws = wb.add_worksheet("Notes")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 90)
    bold = wb.format(bold=True)
    row = -1

    def heading(text: str) -> None:
        nonlocal row
        row += 1
        ws.write_string(row, 0, safe_text(text), bold)

    def pair(label: str, value: Any, number_format: str | None = None) -> None:
        nonlocal row
        row += 1
        ws.write_string(row, 0, label)
        write_value(
            ws, row, 1, value, wb.format(num_format=number_format) if number_format else None
        )

    def blank() -> None:
        nonlocal row
        row += 1

    heading(meta.title)
    pair("Chain", meta.chain)
    pair("Tier", meta.tier)
    pair("Period", meta.period)
    pair("First day", meta.first_day, DATE)
    pair("Last day", meta.last_day, DATE)
    pair("Timezone", meta.timezone)
    pair("Generated at", meta.generated_at.replace(tzinfo=None), DATETIME)
    if meta.revision is not None:
        pair("Revision", meta.revision)
    pair("Covers", meta.scope)
    pair("Line rows", stats.rows)
    pair("Orgs", stats.orgs)
    pair("Lines with discrepancies", stats.discrepancies)
    if stats.rounded:
        listed = ", ".join(stats.rounded_refs)
        more = (
            f" and {stats.rounded - len(stats.rounded_refs)} more"
            if stats.rounded > len(stats.rounded_refs)
            else ""
        )
        pair(
            "Rounded figures",
            f"{stats.rounded} figures have more than the {EXCEL_DIGITS} significant digits Excel "
            f"keeps and show rounded ({listed}{more}); the statement's JSON view has them exact.",
        )
    blank()
    heading("Flags (column Flags)")
    for code, text in FLAG_LEGEND.items():
        pair(code, text)
    blank()
    heading("ACK01 line codes (X12 855)")
    for code, text in ACK01_LEGEND.items():
        pair(code, text)
    blank()
    heading("BAK02 order codes (X12 855)")
    for code, text in BAK02_LEGEND.items():
        pair(code, text)
    blank()
    pair("Amounts", "In the order's currency; shipped and received amounts at the confirmed price.")
