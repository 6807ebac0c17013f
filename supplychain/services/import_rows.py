"""The rows of a partner import sheet, checked cell by cell: every problem is reported by Excel
row and column, and only the rows without any go on to the plan (imports.py)."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, validate

from supplychain.errors import Invalid
from supplychain.excel.importer import (
    COLUMNS,
    KIND_VALUES,
    ROLE_VALUES,
    ImportSheet,
    SheetRow,
    row_error,
)
from supplychain.models.directory import MAX_CUSTOM_ID, MAX_MOBILE, MOBILE_PATTERN
from supplychain.services.accounts import normalise_email
from supplychain.services.groups import MAX_GROUP_PATH, normalise_group_path

MAX_REPORTED_ERRORS = 200
MAX_TEXT = 200  # names, emails, titles: the columns' sizes
# As the API's ContactCreateSchema, so a sheet accepts exactly what POST /members accepts.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # and lone surrogates
_EMAIL = validate.Email()
_HEADERS = {column.key: column.header for column in COLUMNS}
FORMULA_REFUSED = "A formula is not a value (formulas are never evaluated): type the value itself."


@dataclass
class SheetCompany:
    """A company as its sheet row gives it."""

    row: int
    custom_id: str
    name: str
    kind: str | None  # None: an existing org keeps its kind, a new one is `other`
    group: str | None


@dataclass
class SheetPerson:
    """A contact as its sheet row gives it."""

    row: int
    custom_id: str
    name: str
    email: str | None  # None: known by its org and mobile
    mobile: str | None
    title: str | None
    role: str


class RowErrors:
    """Every bad cell of the sheet by Excel row and column; the first MAX_REPORTED_ERRORS shown."""

    def __init__(self, sheet: ImportSheet) -> None:
        self.columns = sheet.columns
        self.found: list[tuple[int, int, str, str]] = []

    def add(self, row: int, key: str, message: str) -> None:
        """Record one problem in the cell of column `key` on Excel row `row`."""
        column = self.columns.get(key)
        self.found.append((row, column.index if column else 0, key, message))

    def raise_if_any(self) -> None:
        """422 listing the problems in sheet order, with a count of those not listed."""
        if not self.found:
            return
        shown = heapq.nsmallest(MAX_REPORTED_ERRORS, self.found)
        rest = len(self.found) - len(shown)
        message = f"{len(self.found)} problem(s) in the sheet; nothing was imported."
        if rest:
            message += f" The first {len(shown)} are listed, {rest} more are not."
        rows = []
        for row, _, key, text in shown:
            column = self.columns.get(key)
            header = column.header if column else _HEADERS.get(key, key)
            cell = f"{column.letter}{row}" if column else None
            rows.append(row_error(row, header, cell, text))
        errors: dict[str, Any] = {"rows": rows}
        if rest:
            errors["rows_not_listed"] = rest
        raise Invalid(message, errors)


class _Cells:
    """The cells of one sheet row, checked one by one; `failures` counts the bad ones.
    `group_paths` keeps each group path text's outcome (a sheet names few groups, many times)."""

    def __init__(
        self, row: SheetRow, errors: RowErrors, group_paths: dict[str, tuple[str | None, str]]
    ) -> None:
        self.row = row
        self.values = row.values
        self.errors = errors
        self.failures = 0
        self.group_paths = group_paths
        # Most rows have no control character at all: one search for the whole row then.
        self.controls = CONTROL_CHARS.search("".join(filter(None, row.values.values()))) is not None

    def fail(self, key: str, message: str) -> None:
        self.errors.add(self.row.number, key, message)
        self.failures += 1

    def text(self, key: str, *, required: bool, max_length: int = MAX_TEXT) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                self.fail(key, "Required.")
            return None
        if value.startswith("="):
            self.fail(key, FORMULA_REFUSED)
        elif self.controls and CONTROL_CHARS.search(value):
            self.fail(key, "Control characters (such as line breaks) are not allowed.")
        elif len(value) > max_length:
            self.fail(key, f"At most {max_length} characters.")
        else:
            return value
        return None

    def choice(self, key: str, values: dict[str, str], *, required: bool) -> str | None:
        text = self.text(key, required=required, max_length=50)
        if text is None:
            return None
        value = values.get(text.casefold())
        if value is None:
            self.fail(key, f"{text!r} is not one of: {', '.join(values)}.")
        return value


def read_rows(
    sheet: ImportSheet | list[SheetRow],
    errors: Any,
    *,
    kind_required: bool = True,
    mobile_keys: bool = False,
) -> tuple[dict[str, SheetCompany], list[SheetPerson]]:
    """Check every cell, and the rows against each other: one company per custom id, one row
    per email. Only rows without any problem are kept.

    Rows given as a list (the WeCom-compatible import) may leave out the kind
    (`kind_required=False`: an existing org keeps its own) and name a contact by mobile
    instead of email (`mobile_keys`): such a person is one row per company and mobile."""
    companies: dict[str, SheetCompany] = {}
    people: list[SheetPerson] = []
    emails: dict[Any, int] = {}
    group_paths: dict[str, tuple[str | None, str]] = {}
    for row in sheet if isinstance(sheet, list) else sheet.rows:
        cells = _Cells(row, errors, group_paths)
        name = cells.text("company_name", required=True)
        kind = cells.choice("kind", KIND_VALUES, required=kind_required)
        custom_id = cells.text("custom_id", required=True, max_length=MAX_CUSTOM_ID)
        group = _group_path(cells)
        company_ok = cells.failures == 0
        person = _person(cells, custom_id or "", mobile_keys)
        if custom_id is not None and company_ok:
            assert name is not None and (kind is not None or not kind_required)
            first = companies.get(custom_id)
            if first is None:
                companies[custom_id] = SheetCompany(row.number, custom_id, name, kind, group)
            else:
                _compare_company(cells, first, name, kind, group)
        if person is not None:
            key = person.email or (person.custom_id, person.mobile)
            seen = emails.get(key)
            if seen is None:
                emails[key] = row.number
            elif person.email is not None:
                cells.fail("email", f"The same email as row {seen}: list each person once.")
            else:
                cells.fail("mobile", f"The same mobile as row {seen}: list each person once.")
        if person is not None and cells.failures == 0:
            people.append(person)
    return companies, people


def _group_path(cells: _Cells) -> str | None:
    text = cells.text("group_path", required=False, max_length=MAX_GROUP_PATH * 2)
    if text is None:
        return None
    known = cells.group_paths.get(text)
    if known is None:
        known = cells.group_paths[text] = _checked_group_path(text)
    path, problem = known
    if path is None:
        cells.fail("group_path", problem)
    return path


def _checked_group_path(text: str) -> tuple[str | None, str]:
    """The normalised path, or None and the problem with it."""
    try:
        path = normalise_group_path(text, "group")
    except Invalid as exc:
        problems = (exc.errors or {}).get("group") or ["Invalid group path."]
        return None, str(problems[0])
    if len(path) > MAX_GROUP_PATH:
        return None, f"At most {MAX_GROUP_PATH} characters in all."
    return path, ""


def _person(cells: _Cells, custom_id: str, mobile_keys: bool = False) -> SheetPerson | None:
    """The row's contact, if it names one and every contact cell is valid. With `mobile_keys`
    a mobile may stand in for the email."""
    before = cells.failures
    values = cells.values
    named, addressed = values.get("contact_name") is not None, values.get("email") is not None
    by_mobile = mobile_keys and values.get("mobile") is not None and not addressed
    name = cells.text("contact_name", required=addressed or by_mobile)
    email = cells.text("email", required=named and not by_mobile)
    if email is not None:
        try:
            _EMAIL(email)
        except ValidationError:
            cells.fail("email", "Not a valid email address.")
    mobile = cells.text("mobile", required=False, max_length=MAX_MOBILE)
    if mobile is not None and not MOBILE_PATTERN.match(mobile):
        cells.fail("mobile", "Digits, spaces and + ( ) - only, 3 to 41 characters.")
    title = cells.text("title", required=False)
    role = (
        "staff" if values.get("role") is None else cells.choice("role", ROLE_VALUES, required=False)
    )
    if not named and not addressed and not by_mobile:
        if any(values.get(key) is not None for key in ("mobile", "title", "role")):
            cells.fail("email", "Required: this row has contact details but no contact.")
        return None
    if cells.failures > before:
        return None
    assert name is not None and (email is not None or by_mobile) and role is not None
    return SheetPerson(
        cells.row.number,
        custom_id,
        name,
        normalise_email(email) if email is not None else None,
        mobile,
        title,
        role,
    )


def _compare_company(
    cells: _Cells,
    first: SheetCompany,
    name: str | None,
    kind: str | None,
    group: str | None,
) -> None:
    if name == first.name and kind == first.kind and group == first.group:
        return  # the usual case: a company's next contact
    same = f"row {first.row} has a different one for custom id {first.custom_id!r}"
    if name != first.name:
        cells.fail("company_name", f"Conflicting company name: {same} ({first.name!r}).")
    if kind != first.kind:
        cells.fail("kind", f"Conflicting kind: {same} ({first.kind!r}).")
    if group != first.group:
        cells.fail("group_path", f"Conflicting group path: {same} ({first.group or 'none'!r}).")
