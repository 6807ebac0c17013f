"""The partner import template: a header-only first sheet with drop-down lists for kind and
role, and a second sheet explaining every column, the Chinese names and the limits. Written with
xlsxwriter (writer.py), the same bytes on every call."""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

from supplychain.excel.importer import (
    CHINESE_ROLES,
    COLUMNS,
    KIND_NAMES,
    MAX_COLUMNS,
    MAX_DATA_ROWS,
    MAX_UNCOMPRESSED_BYTES,
    MAX_UPLOAD_BYTES,
    ROLE_NAMES,
)
from supplychain.excel.safety import safe_text
from supplychain.excel.writer import Workbook, write_value

DATA_SHEET = "Partners"
HELP_SHEET = "Instructions"
_TEXT_COLUMNS = ("custom_id", "mobile")  # formatted as text: codes keep leading zeros
_WIDTHS = {"company_name": 32, "group_path": 34, "email": 30, "custom_id": 16}
_HEADER_FILL = "#DDEBF7"

RULES = (
    "One row per contact. Rows with the same custom id are one company and must agree on "
    "company name, kind and group path.",
    "The header row may use the English or the Chinese column names (case and spaces do not "
    "matter), in any order. Unknown column names are refused; columns without a header must "
    "stay empty. Only the first sheet is read.",
    "All or nothing: if any cell is wrong, nothing is saved and the answer lists every wrong "
    "cell by row number (as Excel shows it; the header is row 1) and column.",
    "Formulas are never evaluated: a formula cell is refused. Type or paste the values.",
    "People already known by their email keep their name, mobile, title and role: an import "
    "only lists them as contacts. New people get single-use invitation codes, shown once in "
    "the import's answer.",
    "A custom id that no current member holds (a removed member's included) creates a new company.",
    "Importing the same file again changes nothing.",
    f"Limits: {MAX_UPLOAD_BYTES // (1024 * 1024)} MB per file, {MAX_DATA_ROWS} data rows, "
    f"{MAX_COLUMNS} columns, {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB unpacked.",
    "Kinds and roles may be given in English or Chinese, in any case. Kinds in Chinese: "
    + ", ".join(f"{zh} = {en}" for en, zh in KIND_NAMES.items())
    + ". Roles in Chinese: "
    + ", ".join(f"{zh} = {en}" for zh, en in CHINESE_ROLES.items())
    + ".",
)


def _choices(choices: dict[str, str]) -> list[str]:
    return [*choices, *choices.values()]


@lru_cache(maxsize=1)
def import_template() -> bytes:
    """The xlsx template for partner imports: header row only, plus an explanation sheet."""
    buffer = BytesIO()
    workbook = Workbook(buffer, constant_memory=False)
    header = workbook.format(bold=True, bg_color=_HEADER_FILL, pattern=1)
    text = workbook.format(num_format="@")
    wrap = workbook.format(text_wrap=True, valign="top")
    bold = workbook.format(bold=True)

    sheet = workbook.add_worksheet(DATA_SHEET)
    last_row = MAX_DATA_ROWS  # 0-based: rows 2 to MAX_DATA_ROWS + 1 as Excel counts
    for index, column in enumerate(COLUMNS):
        sheet.write_string(0, index, safe_text(column.header), header)
        width = _WIDTHS.get(column.key, 18)
        sheet.set_column(index, index, width, text if column.key in _TEXT_COLUMNS else None)
        choices = {"kind": KIND_NAMES, "role": ROLE_NAMES}.get(column.key)
        if choices:
            sheet.data_validation(
                1,
                index,
                last_row,
                index,
                {
                    "validate": "list",
                    "source": _choices(choices),
                    "ignore_blank": True,
                    "show_error": True,
                    "error_title": f"Invalid {column.header}",
                    "error_message": f"Choose a {column.header} from the list.",
                },
            )
    sheet.freeze_panes(1, 0)

    help_sheet = workbook.add_worksheet(HELP_SHEET)
    titles = ("Column", "中文表头", "Also accepted as", "Required", "Allowed values", "Example")
    for index, title in enumerate((*titles, "What it does")):
        help_sheet.write_string(0, index, title, header)
    for row, column in enumerate(COLUMNS, start=1):
        texts = (
            column.header,
            column.chinese,
            ", ".join(column.aliases),
            column.required,
            column.allowed,
            column.example,
            column.notes,
        )
        for index, value in enumerate(texts):
            # An empty text is a styled blank cell, as before: the wrap reaches every cell.
            if value:
                write_value(help_sheet, row, index, value, wrap)
            else:
                help_sheet.write_blank(row, index, None, wrap)
    rules_row = len(COLUMNS) + 2
    help_sheet.write_string(rules_row, 0, "Rules", bold)
    for offset, rule in enumerate(RULES, start=1):
        write_value(help_sheet, rules_row + offset, 0, rule)
    for index, width in enumerate((16, 12, 20, 18, 48, 28, 60)):
        help_sheet.set_column(index, index, width)
    help_sheet.freeze_panes(1, 0)
    workbook.close()
    return buffer.getvalue()
