"""Marshmallow building blocks shared by every feature: ids, safe text, decimals, pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from supplychain.decimals import format_decimal
from supplychain.ids import ID_PATTERN, parse_id

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# Printable text only: C0 controls (NUL included), DEL and C1 controls are refused.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BaseSchema(ma.Schema):
    """Unknown fields are an error, so a typo never silently does nothing."""

    class Meta:
        unknown = ma.RAISE


class Id(fields.Field):
    """An opaque id: a string in JSON, an int inside. Numbers are accepted on input too."""

    default_error_messages = {"invalid": "Not a valid id."}

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        # Documented as what the API emits (API.md: ids are opaque strings), so the OpenAPI
        # document says more than "anything" and clients (and the fuzz) send real-looking ids.
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("pattern", ID_PATTERN)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        parsed = parse_id(value)
        if parsed is None:
            raise self.make_error("invalid")
        return parsed


class Text(fields.String):
    """A string without control characters, stripped, with a length limit (blank refused)."""

    def __init__(
        self, *, max_length: int = 200, multiline: bool = False, allow_blank: bool = False, **kw
    ):
        super().__init__(**kw)
        self.max_length = max_length
        self.multiline = multiline
        self.allow_blank = allow_blank
        self.metadata.setdefault("maxLength", max_length)
        if not allow_blank:
            self.metadata.setdefault("minLength", 1)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        pattern = _CONTROL if self.multiline else _CONTROL_SINGLE_LINE
        if pattern.search(text):
            raise ma.ValidationError("Control characters (such as NUL) are not allowed.")
        if not text and not self.allow_blank:
            raise ma.ValidationError("Must not be blank.")
        if len(text) > self.max_length:
            raise ma.ValidationError(f"At most {self.max_length} characters.")
        return text


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with an offset, loaded as the same instant in UTC.

    Instants that UTC cannot represent (0001-01-01T00:00:00+01:00, 9999-12-31T23:59:59-01:00)
    are refused here: otherwise the UTC conversion before the database fails with a 500.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError(
                "Out of range: the time must lie within years 1 to 9999 in UTC."
            )


class DecimalAmount(fields.Field):
    """A decimal from a string or number: at most 14 integer digits and 4 decimals, finite."""

    def __init__(
        self,
        *,
        minimum: Decimal | None = None,
        exclusive_minimum: bool = False,
        min_decimals: int = 0,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.min_decimals = min_decimals
        self.minimum = minimum
        self.exclusive_minimum = exclusive_minimum
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("pattern", r"^-?\d{1,14}(\.\d{1,4})?$")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return format_decimal(Decimal(value), self.min_decimals)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ma.ValidationError("Must be a decimal number or a string holding one.")
        text = repr(value) if isinstance(value, float) else str(value).strip()
        if len(text) > 40:
            raise ma.ValidationError("Not a valid decimal.")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ma.ValidationError("Not a valid decimal.") from None
        if not number.is_finite():
            raise ma.ValidationError("Must be a finite number.")
        exponent = number.as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if decimals > 4:
            raise ma.ValidationError("At most 4 decimal places.")
        if abs(number) >= Decimal(10) ** 14:
            raise ma.ValidationError("At most 14 integer digits.")
        if self.minimum is not None:
            if self.exclusive_minimum and number <= self.minimum:
                raise ma.ValidationError(f"Must be greater than {self.minimum}.")
            if not self.exclusive_minimum and number < self.minimum:
                raise ma.ValidationError(f"Must be at least {self.minimum}.")
        return number


def Quantity(**kw: Any) -> DecimalAmount:  # noqa: N802 - reads as a field type
    """A quantity: strictly positive, at most 4 decimals and 14 integer digits."""
    return DecimalAmount(minimum=Decimal(0), exclusive_minimum=True, **kw)


def Price(**kw: Any) -> DecimalAmount:  # noqa: N802 - reads as a field type
    """A unit price or amount: zero or more."""
    return DecimalAmount(minimum=Decimal(0), min_decimals=2, **kw)


def LineNo(**kw: Any) -> fields.Integer:  # noqa: N802 - reads as a field type
    """An order line's number: a whole number from 1 to 999 999."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=999_999), **kw)


class PageQuery(BaseSchema):
    """`page` (1-based) and `page_size` (default 50, max 500) of any list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


class FilterQuery(PageQuery):
    """A list's query string: its filters and the page. A filter the client leaves out loads as
    None, so the loaded query is the keyword arguments of the service that lists."""

    @ma.post_load
    def absent_filters_are_none(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Every filter present in the loaded query: None where the client sent none."""
        return {name: None for name in self.load_fields} | data


class PageSchema(BaseSchema):
    """The list envelope: items, total, page, page_size."""

    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


def page_of(item_schema: type[ma.Schema], name: str | None = None) -> type[ma.Schema]:
    """A page envelope schema whose `items` are `item_schema`."""
    return type(
        name or f"{item_schema.__name__.removesuffix('Schema')}PageSchema",
        (PageSchema,),
        {"items": fields.List(fields.Nested(item_schema), required=True)},
    )
