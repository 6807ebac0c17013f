"""Bulk statements shared by the services that write many rows at once (imports, the events
outbox): a fixed number of statements whatever the number of rows, never a query per row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Row,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

# Types that SQLite's json_extract gives back as the driver would have bound them (not float:
# SQLite's own text-to-double conversion is not guaranteed to round as Python's does).
_JSON_EXACT = frozenset({str, int, bool, type(None)})
_MAX_INT = 2**63 - 1
_NOTHING = object()


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: Any, values: list[Any]) -> Iterator[ColumnElement[bool]]:
    """`column IN values` as clauses to query one by one: one clause of one parameter however
    many values (`among_ids`: ids, texts), none for no values."""
    if values:
        yield among_ids(session, column, values)


def among_ids(session: Session, column: Any, ids: list[Any]) -> ColumnElement[bool]:
    """`column IN ids` as one clause with one parameter however many ids (or texts): an array
    on PostgreSQL, a JSON list read with json_each on SQLite."""
    if is_postgres(session):
        return column == any_(bindparam(None, ids, type_=ARRAY(column.type)))
    elements = func.json_each(literal(json.dumps(ids))).table_valued("value")
    return column.in_(select(elements.c.value))


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *returning: Column[Any]
) -> list[Row[Any]]:
    """INSERT many rows in bulk, in one statement whatever their number: column arrays
    (unnest) on PostgreSQL, where psycopg would otherwise parse a multi-VALUES text of
    thousands of parameters per batch; on SQLite one JSON text of the rows read back with
    json_each (`_json_rows`), else executemany. Returns the `returning` columns of the new
    rows, in no fixed order (ordered RETURNING costs a statement per row on SQLite)."""
    if not rows:
        return []
    names = list(rows[0])
    if is_postgres(session):
        source = select(*(_unnest(table.c[name], n, rows) for n, name in enumerate(names)))
        stmt: Any = insert(table).from_select(names, source)
        result = session.execute(stmt.returning(*returning) if returning else stmt)
    elif (shaped := _json_rows(session, table, names, rows)) is not None:
        payload, same = shaped
        element = func.json_each(bindparam("rows", payload, type_=Text)).table_valued("value")
        varying = iter(range(len(names)))
        source = select(
            *(
                bindparam(f"same_{n}", same[n], type_=NullType())
                if n in same
                else func.json_extract(element.c.value, f"$[{next(varying)}]")
                for n in range(len(names))
            )
        )
        stmt = insert(table).from_select(names, source)
        result = session.execute(stmt.returning(*returning) if returning else stmt)
    else:
        stmt = insert(table)
        result = session.execute(stmt.returning(*returning) if returning else stmt, rows)
    return result.all() if returning else []


def _json_rows(
    session: Session, table: Table, names: list[str], rows: list[dict[str, Any]]
) -> tuple[str, dict[int, Any]] | None:
    """The rows as one JSON array of arrays for SQLite's json_each, each value as the driver
    would bind it (the column type's bind processor applied, once for a run of the same
    object such as the `now` of every row): one statement and no per-row work in SQLAlchemy.
    A column with the same value in every row (a timestamp, the chain) is left out of the
    JSON and given by its position, to be bound once as a parameter (unless every column
    is: the first then stays, for json_each to give a row for each). None when a value
    would not come back from JSON exactly as bound (a float, a big integer, bytes, a text
    with a NUL): the caller uses executemany."""
    dialect = session.get_bind().dialect
    columns = []
    same: dict[int, Any] = {}
    for n, name in enumerate(names):
        values = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processed, last, last_value = [], _NOTHING, None
            for value in values:
                if value is not last:
                    last, last_value = value, process(value)
                processed.append(last_value)
            values = processed
        types = set(map(type, values))
        if not _JSON_EXACT.issuperset(types):
            return None
        if int in types:
            ints = values if len(types) == 1 else [v for v in values if type(v) is int]
            if min(ints) < -_MAX_INT or max(ints) > _MAX_INT:
                return None
        if str in types:
            texts = values if len(types) == 1 else [v for v in values if type(v) is str]
            if "\x00" in "".join(texts):  # SQLite's JSON would cut the text there
                return None
        if len(types) == 1 and values.count(values[0]) == len(values):
            same[n] = values[0]
        else:
            columns.append(values)
    if not columns:  # every column the same: the first stays, one entry a row
        columns.append([same.pop(0)] * len(rows))
    payload = json.dumps(list(zip(*columns, strict=True)), ensure_ascii=False, allow_nan=False)
    return payload, same


def _unnest(column: Column[Any], n: int, rows: list[dict[str, Any]]) -> ColumnElement[Any]:
    """One column's values as an array unnested into rows; JSON values travel as text."""
    values = [row[column.name] for row in rows]
    if isinstance(column.type, JSON):
        texts = [json.dumps(value) for value in values]
        return cast(func.unnest(bindparam(f"column_{n}", texts, type_=ARRAY(Text))), column.type)
    return func.unnest(bindparam(f"column_{n}", values, type_=ARRAY(column.type)))
