"""The partner import template: a header-only first sheet with drop-down lists for kind and
role, and a second sheet explaining every column, the Chinese names and the limits."""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

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

DATA_SHEET = "Partners"
HELP_SHEET = "Instructions"
_TEXT_COLUMNS = ("custom_id", "mobile")  # formatted as text: codes keep leading zeros
_WIDTHS = {"company_name": 32, "group_path": 34, "email": 30, "custom_id": 16}
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP = Alignment(wrap_text=True, vertical="top")

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


def _choice_list(choices: dict[str, str]) -> str:
    return '"' + ",".join([*choices, *choices.values()]) + '"'


@lru_cache(maxsize=1)
def import_template() -> bytes:
    """The xlsx template for partner imports: header row only, plus an explanation sheet."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = DATA_SHEET
    sheet.append([safe_text(column.header) for column in COLUMNS])
    last_row = MAX_DATA_ROWS + 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index)
        cell.font, cell.fill = _BOLD, _HEADER_FILL
        dimension = sheet.column_dimensions[letter]
        dimension.width = _WIDTHS.get(column.key, 18)
        if column.key in _TEXT_COLUMNS:
            dimension.number_format = "@"
        choices = {"kind": KIND_NAMES, "role": ROLE_NAMES}.get(column.key)
        if choices:
            validation = DataValidation(
                type="list",
                formula1=_choice_list(choices),
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=f"Invalid {column.header}",
                error=f"Choose a {column.header} from the list.",
            )
            validation.add(f"{letter}2:{letter}{last_row}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"

    help_sheet = workbook.create_sheet(HELP_SHEET)
    help_sheet.append(
        [
            "Column",
            "中文表头",
            "Also accepted as",
            "Required",
            "Allowed values",
            "Example",
            "What it does",
        ]
    )
    for column in COLUMNS:
        help_sheet.append(
            [
                safe_text(text)
                for text in (
                    column.header,
                    column.chinese,
                    ", ".join(column.aliases),
                    column.required,
                    column.allowed,
                    column.example,
                    column.notes,
                )
            ]
        )
    help_sheet.append([])
    help_sheet.append(["Rules"])
    for rule in RULES:
        help_sheet.append([safe_text(rule)])
    for cell in help_sheet[1]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    help_sheet.cell(row=len(COLUMNS) + 3, column=1).font = _BOLD
    for letter, width in zip("ABCDEFG", (16, 12, 20, 18, 48, 28, 60), strict=True):
        help_sheet.column_dimensions[letter].width = width
    for row in help_sheet.iter_rows(min_row=2, max_row=len(COLUMNS) + 1):
        for cell in row:
            cell.alignment = _WRAP
    help_sheet.freeze_panes = "A2"

    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
