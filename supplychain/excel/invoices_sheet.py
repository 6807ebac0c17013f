"""The tier workbook's Invoices sheet: one row per supplier invoice of the period with its
amounts (numbers), status and the exceptions of its match as they read when the workbook was
made. `invoice_rows` gives the rows as plain values (text escaped against formulas), so any
writer can lay them out; `write_invoices_sheet` writes them with the workbook's sheet helper."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from supplychain.excel.safety import safe_text
from supplychain.excel.sheets import Sheet

# (header, width, kind) as the workbook's sheets take them.
INVOICE_COLUMNS: list[tuple[str, int, str]] = [
    ("Seller", 28, "text"),
    ("Buyer", 28, "text"),
    ("Invoice number", 24, "text"),
    ("Kind", 12, "text"),
    ("Issue date", 12, "date"),
    ("Statement period", 10, "text"),
    ("Currency", 9, "text"),
    ("Net", 14, "money"),
    ("Tax", 12, "money"),
    ("Gross", 14, "money"),
    ("Status", 11, "text"),
    ("Match", 11, "text"),
    ("Exceptions", 60, "text"),
    ("Decided at", 17, "datetime"),
    ("Decision note", 40, "text"),
]


def invoice_rows(records: Iterable[Any], tz: Any) -> Iterator[list[Any]]:
    """Each invoice record (`services.invoice_reports.InvoiceRecord`) as a row of values:
    amounts as Decimal, dates as dates, times in the chain's wall-clock time, text escaped."""
    for r in records:
        decided = r.decided_at.astimezone(tz).replace(tzinfo=None) if r.decided_at else None
        row = [
            r.seller, r.buyer, r.number, r.kind, r.issue_date, r.statement_period, r.currency,
            r.net, r.tax, r.gross, r.status, r.match, r.exceptions or None, decided,
            r.decision_note,
        ]  # fmt: skip
        yield [safe_text(value) if isinstance(value, str) else value for value in row]


def write_invoices_sheet(wb: Any, records: Iterable[Any], tz: Any) -> Sheet:
    """Add the Invoices sheet to a constant-memory workbook."""
    sheet = Sheet(wb, "Invoices", INVOICE_COLUMNS)
    for row in invoice_rows(records, tz):
        sheet.append(row)
    sheet.finish()
    return sheet
