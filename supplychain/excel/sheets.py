"""The workbooks' sheet helper: a constant-memory sheet with a bold frozen header row, column
widths, an autofilter, and typed cells by column kind (text escaped, numbers and dates with
their number format). The reconciliation workbook and the Invoices sheet both write through it."""

from __future__ import annotations

from typing import Any

from xlsxwriter.format import Format

from supplychain.excel.writer import DATE_KIND, NUMBER_KIND, TEXT_KIND, RowStream, Workbook

# Money and prices carry up to four decimals (API.md): two always shown, the other two when set.
MONEY = "#,##0.00##"
QTY = "#,##0.0###"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"
# Number formats per column kind; any other kind is text.
_FORMATS = {"qty": QTY, "money": MONEY, "date": DATE, "datetime": DATETIME, "int": "0"}
# Scorecard figures: rates (0..1) shown as percentages, hours with two decimals.
_FORMATS |= {"percent": "0.00%", "hours": "0.00"}

HEADER_FILL = "#DDE6F0"


class Sheet:
    """A constant-memory sheet with a bold frozen header, widths, autofilter and typed cells:
    `append` writes one row of values (None: no cell), `finish` sets the filter over them."""

    def __init__(self, wb: Workbook, title: str, columns: list[tuple[str, int, str]]) -> None:
        self.ws = wb.add_worksheet(title)
        self.columns = columns
        self.count = 0
        header = wb.format(bold=True, bg_color=HEADER_FILL, pattern=1, valign="vcenter")
        for index, (name, width, _) in enumerate(columns):
            self.ws.set_column(index, index, width)
            self.ws.write_string(0, index, name, header)
        self.ws.freeze_panes(1, 0)
        # Rows go out through a RowStream: a text column's cells are escaped text, a typed
        # column's cells carry its number format.
        self._rows = RowStream(self.ws, [_stream_column(wb, kind) for _, _, kind in columns])

    def append(self, values: list[Any]) -> None:
        self.count += 1
        self._rows.write(self.count, values)

    def finish(self) -> None:
        self._rows.finish()
        self.ws.autofilter(0, 0, self.count, len(self.columns) - 1)

    @property
    def rounded(self) -> tuple[int, list[str]]:
        """How many number cells Excel shows rounded (past 15 digits), and the first refs."""
        return self._rows.rounded, self._rows.rounded_refs


def _stream_column(wb: Workbook, kind: str) -> tuple[str, Format | None]:
    if kind not in _FORMATS:
        return TEXT_KIND, None
    cells = DATE_KIND if kind in ("date", "datetime") else NUMBER_KIND
    return cells, wb.format(num_format=_FORMATS[kind])
