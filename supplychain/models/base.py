"""Declarative base and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
    or_,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always handed back timezone-aware (SQLite drops offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Integer keys that are 64-bit on PostgreSQL and SQLite's rowid alias on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")

intpk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
str50 = Annotated[str, 50]
str200 = Annotated[str, 200]
str500 = Annotated[str, 500]


# 14 integer digits and 4 decimals, as API.md allows.
class Amount(TypeDecorator):
    """Money and quantities: NUMERIC(18, 4) on PostgreSQL; on SQLite, which has no decimal type
    and would store a float, an exact integer count of ten-thousandths (14 integer digits and 4
    decimals fit in 64 bits). Values always come back as Decimal."""

    impl = Numeric(18, 4)
    cache_ok = True
    SCALE = 4

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return int(number.scaleb(self.SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.SCALE)
        return Decimal(value)


AMOUNT = Amount()
money = Annotated[Decimal, mapped_column(AMOUNT)]


class AmountSum(Amount):
    """A sum of Amounts kept with its rows (an order's quantities over its lines): NUMERIC(28, 4)
    on PostgreSQL, where 2 000 lines of the largest amount fit; on SQLite the same count of
    ten-thousandths as Amount, summed with total() (see `services.order_figures.amount_sum`),
    which is exact up to 2**53 ten-thousandths and a real (never an overflow) past that: SQLite's
    integers end at 2**63, which ten lines of the largest amount pass. Read back as Amount is."""

    impl = Numeric(28, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(28, 4, asdecimal=True))


AMOUNT_SUM = AmountSum()


def unique_where(condition: str, name: str, *columns: str) -> Index:
    """A unique index over the rows that meet `condition` alone (a partial index, which both
    PostgreSQL and SQLite build from the same SQL condition)."""
    where = text(condition)
    return Index(name, *columns, unique=True, sqlite_where=where, postgresql_where=where)


class Base(DeclarativeBase):
    """Base of every model: shared naming convention and annotation map."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        str50: String(50),
        str200: String(200),
        str500: String(500),
        str: String(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class TradeDocument:
    """Mixin of the documents between a buyer and a seller of a chain (orders, invoices, ship
    notices): the class maps `id`, `chain_id`, `buyer_id` and `seller_id`; its two parties are
    the buyer and the seller."""

    if TYPE_CHECKING:  # mapped by each class, in its own column order
        id: Mapped[int]
        chain_id: Mapped[int]
        buyer_id: Mapped[int]
        seller_id: Mapped[int]

    @hybrid_method
    def is_party(self, org_id: Any) -> bool:
        """The org is the document's buyer or its seller."""
        return org_id in (self.buyer_id, self.seller_id)

    @is_party.inplace.expression
    @classmethod
    def _is_party_sql(cls, org_id: Any) -> ColumnElement[bool]:
        return or_(cls.buyer_id == org_id, cls.seller_id == org_id)
