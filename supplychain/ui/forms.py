"""HTML forms in, service calls out: plain form fields become the same bodies the API validates.

Pages validate a form with the API's marshmallow schema (one rule, one place), so a bad value
gets the same message as over JSON. Schema and service errors share one nested shape, e.g.
`{"lines": {"0": {"qty": ["Must be greater than 0."]}}}`, which `FormErrors` lets a template
look up field by field to show each message next to its input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import marshmallow as ma
from flask import Response, abort, flash, make_response, redirect, request
from werkzeug.datastructures import MultiDict

from supplychain.errors import Conflict, DomainError, Invalid, TooManyRequests
from supplychain.extensions import db
from supplychain.ui.i18n import error_text

CHECK_FIELDS = "Check the highlighted fields."
# What a form shows next to its fields; other domain errors (403, 404) get the error page.
FORM_ERRORS: tuple[type[DomainError], ...] = (Invalid, Conflict)
# Empty rows a form offers at most; longer lists come through the API or an import.
MAX_FORM_ROWS = 100


class FormErrors:
    """Errors of one form, looked up by field path (list indexes as strings)."""

    def __init__(self, message: str | None = None, errors: Any = None) -> None:
        self.message = message
        self.tree = _normalise(errors) if errors else {}

    @classmethod
    def of(cls, error: DomainError) -> FormErrors:
        """The errors a service or schema raised."""
        return cls(error.message, error.errors)

    def __bool__(self) -> bool:
        return bool(self.message or self.tree)

    def at(self, *path: Any) -> list[str]:
        """Messages for the field at `path`, e.g. at("lines", 0, "qty"); [] if none."""
        node: Any = self.tree
        for key in path:
            if not isinstance(node, dict):
                return []
            node = node.get(str(key))
            if node is None:
                return []
        if isinstance(node, list):
            return [str(item) for item in node if not isinstance(item, dict | list)]
        if isinstance(node, str):
            return [node]
        return []

    def has(self, *path: Any) -> bool:
        """True when the field at `path` (or anything below it) has an error."""
        node: Any = self.tree
        for key in path:
            if not isinstance(node, dict):
                return False
            node = node.get(str(key))
            if node is None:
                return False
        return bool(node)

    def flat(self) -> list[tuple[str, str]]:
        """Every message with its dotted field path, for a summary."""
        out: list[tuple[str, str]] = []

        def walk(node: Any, prefix: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, f"{prefix}.{key}" if prefix else str(key))
            elif isinstance(node, list):
                for item in node:
                    walk(item, prefix)
            else:
                out.append((prefix, str(node)))

        walk(self.tree, "")
        return out


NO_ERRORS = FormErrors()


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(key): _normalise(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_normalise(item) for item in node]
    return node


def validated(schema: type[ma.Schema], body: dict[str, Any]) -> dict[str, Any]:
    """Load `body` with an API schema; a bad field raises Invalid naming it, as the API does."""
    try:
        return schema().load(body)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise Invalid(CHECK_FIELDS, messages)


@contextmanager
def on_form_error(
    rerender: Callable[[DomainError], Any], catch: tuple[type[DomainError], ...] = FORM_ERRORS
) -> Iterator[None]:
    """Around a form's validation and service call: a domain error of `catch` rolls back what
    the service did and answers, with the error's status, the page `rerender` makes of it."""
    try:
        yield
    except catch as exc:
        # Rolled back before re-rendering: the page reads the state as it was, not half-saved.
        db.session.rollback()
        response = make_response(rerender(exc), exc.code)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        abort(response)


@contextmanager
def on_refusal(
    back: str | Response, catch: tuple[type[DomainError], ...] = (Conflict,)
) -> Iterator[None]:
    """Around the service call of a POST button (no form to show again): a domain error of
    `catch` rolls back what the service did, flashes its message and redirects `back` (a URL, or
    the redirect itself) to the page the button was on."""
    try:
        yield
    except catch as exc:
        db.session.rollback()
        flash(error_text(exc.message), "error")
        abort(back if isinstance(back, Response) else redirect(back))


def posted_form() -> MultiDict:
    """The form a page shows: what was posted, or nothing yet on the GET that first shows it."""
    return request.form if request.method == "POST" else MultiDict()


def nothing_chosen(field: str, message: str) -> Invalid:
    """The refusal of a form that names nothing to act on: `message` (in the page's language)
    above the form and beside `field`."""
    return Invalid(message, {field: [message]})


def text(form: MultiDict, name: str) -> str | None:
    """A text field, stripped; None when empty or absent."""
    value = form.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    return value or None


def integer(form: MultiDict, name: str) -> int | str | None:
    """An integer field as int when it is one; the raw text otherwise (the schema says why)."""
    value = text(form, name)
    if value is None:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value


def compact(body: dict[str, Any]) -> dict[str, Any]:
    """The body without empty (None) fields, so schema defaults apply."""
    return {key: value for key, value in body.items() if value is not None}


def rows(form: MultiDict, prefix: str, limit: int) -> list[int]:
    """Indexes of the `prefix-<i>-...` rows present in the form, in order, at most `limit`."""
    found: set[int] = set()
    start = f"{prefix}-"
    for key in form:
        if key.startswith(start):
            index = key[len(start) :].partition("-")[0]
            if index.isascii() and index.isdigit() and len(index) < 6:
                found.add(int(index))
    return sorted(found)[:limit]


def filled_rows(
    form: MultiDict, prefix: str, names: tuple[str, ...], limit: int
) -> list[tuple[int, dict[str, str | None]]]:
    """The `prefix-<i>-<name>` rows with at least one field filled: (row index, values)."""
    found = []
    for index in rows(form, prefix, limit):
        values = {name: text(form, f"{prefix}-{index}-{name}") for name in names}
        if any(value is not None for value in values.values()):
            found.append((index, values))
    return found


def quantity_rows(
    form: MultiDict, prefix: str, names: tuple[str, ...], limit: int
) -> list[tuple[int, dict[str, str | None]]]:
    """The filled rows (as `filled_rows`) that give a `qty`: a row without one asks for nothing."""
    return [row for row in filled_rows(form, prefix, names, limit) if row[1]["qty"] is not None]


def remap_rows(error: DomainError, key: str, positions: list[int]) -> FormErrors:
    """Errors of a list sent to a service, re-keyed from list position to the form's row index."""
    errors = FormErrors.of(error)
    listed = errors.tree.get(key)
    if isinstance(listed, dict):
        errors.tree[key] = {
            str(positions[int(k)]) if k.isdigit() and int(k) < len(positions) else k: v
            for k, v in listed.items()
        }
    return errors
