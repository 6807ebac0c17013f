"""insert_rows on SQLite: one JSON text read back with json_each stores exactly what executemany
stores (values, SQLite storage classes, NULLs, timestamps, JSON), gives the same RETURNING rows,
and hands over to executemany for values that JSON would not give back exactly (floats, bytes,
texts with a NUL, integers beyond 64 bits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import Session

from supplychain.models.base import Amount, UTCDateTime
from supplychain.services import bulk

METADATA = MetaData()
SAMPLES = Table(
    "samples",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("count", Integer),
    Column("amount", Amount),
    Column("flag", Boolean),
    Column("at", UTCDateTime),
    Column("data", JSON),
    Column("note", String(200)),
)
ODD = Table(
    "odd",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("ratio", Float),
    Column("blob", LargeBinary),
)
COLUMNS = ("name", "count", "amount", "flag", "at", "data", "note")
NOW = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _rows(tag: str) -> list[dict]:
    names = [
        'Hangzhou "Parts" Co\'s \\ R&D',
        "杭州零件 😀 Wáng",
        "null",
        "1",
        "  spaced  ",
        "[1, 2]",
    ]
    return [
        {
            "name": f"{tag} {name}",
            "count": [0, -5, 2**62, None, 7, 1][n],
            "amount": [Decimal("12.3456"), None, Decimal("-0.0001"), Decimal("0"), None, None][n],
            "flag": [True, False, None, True, False, None][n],
            "at": [NOW, None, NOW + timedelta(seconds=1), NOW][n % 4].astimezone(
                timezone(timedelta(hours=8))
            )
            if n % 4 != 1
            else None,
            "data": [{"a": [1, "x"], "b": None}, None, [], {"k": "杭州"}, "text", 3][n],
            "note": None if n % 2 else f"note {n}",
        }
        for n, name in enumerate(names)
    ]


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'bulk.sqlite3'}")
    METADATA.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with Session(engine) as session:
        session.info["statements"] = statements
        yield session
    engine.dispose()


def _stored(session: Session, tag: str) -> list[tuple]:
    """Every value as SQLite keeps it, with its storage class, in insertion order."""
    columns = ", ".join(f"{c}, typeof({c})" for c in COLUMNS)
    query = text(f"SELECT {columns} FROM samples WHERE name LIKE :t ORDER BY id")
    return [tuple(row) for row in session.execute(query, {"t": f"{tag} %"})]


def test_json_rows_store_what_executemany_stores(session, monkeypatch):
    statements = session.info["statements"]
    fast = bulk.insert_rows(session, SAMPLES, _rows("A"), SAMPLES.c.id, SAMPLES.c.name)
    assert len(statements) == 1 and "json_each" in statements[0]
    monkeypatch.setattr(bulk, "_json_rows", lambda *args: None)
    slow = bulk.insert_rows(session, SAMPLES, _rows("B"), SAMPLES.c.id, SAMPLES.c.name)
    assert "json_each" not in statements[-1]

    def untagged(stored: list[tuple]) -> list[tuple]:
        return [(row[0][2:], *row[1:]) for row in stored]

    a, b = _stored(session, "A"), _stored(session, "B")
    assert len(a) == 6 and untagged(a) == untagged(b)
    assert [a[0][n] for n in (1, 3, 5, 7, 9, 11)] == [
        "text",
        "integer",
        *["integer"] * 2,
        *["text"] * 2,
    ]
    # None in a JSON column is JSON's null (the type's rule), elsewhere SQL's NULL.
    assert a[1][10:] == ("null", "text", None, "null")
    # RETURNING: every new row once, ids matching the names.
    assert sorted(name[2:] for _, name in fast) == sorted(name[2:] for _, name in slow)
    ids = dict(session.execute(text("SELECT name, id FROM samples")).all())
    assert all(ids[name] == row_id for row_id, name in [*fast, *slow])
    # Read back through the types: the same Python values as given.
    for tag in ("A", "B"):
        got = session.execute(
            SAMPLES.select().where(SAMPLES.c.name.like(f"{tag} %")).order_by(SAMPLES.c.id)
        ).all()
        given = _rows(tag)
        assert [r._mapping["amount"] for r in got] == [g["amount"] for g in given]
        assert [r._mapping["at"] for r in got] == [g["at"] for g in given]
        assert [r._mapping["data"] for r in got] == [g["data"] for g in given]
        assert [r._mapping["flag"] for r in got] == [g["flag"] for g in given]


def test_floats_bytes_nuls_and_huge_integers_go_through_executemany(session):
    statements = session.info["statements"]
    bulk.insert_rows(session, ODD, [{"ratio": 0.1, "blob": None}, {"ratio": None, "blob": None}])
    assert "json_each" not in statements[-1]
    bulk.insert_rows(session, ODD, [{"ratio": None, "blob": b"\x00\xff"}])
    assert "json_each" not in statements[-1]
    assert session.execute(text("SELECT ratio, blob FROM odd ORDER BY id")).all() == [
        (0.1, None),
        (None, None),
        (None, b"\x00\xff"),
    ]
    nul = {**_rows("N")[0], "note": "before\x00after"}
    bulk.insert_rows(session, SAMPLES, [nul])
    assert "json_each" not in statements[-1]
    stored = session.execute(text("SELECT note FROM samples WHERE name LIKE 'N %'")).scalar()
    assert stored == "before\x00after"
    with pytest.raises(OverflowError):
        bulk.insert_rows(session, SAMPLES, [{**_rows("C")[0], "count": 2**63}])
    assert "json_each" not in statements[-1]


def test_no_rows_is_no_statement(session):
    assert bulk.insert_rows(session, SAMPLES, [], SAMPLES.c.id) == []
    assert session.info["statements"] == []


@pytest.mark.parametrize("names_vary", [True, False], ids=["names-vary", "every-column-alike"])
def test_columns_alike_in_every_row_are_bound_once_and_stored_alike(
    session, monkeypatch, names_vary
):
    """A column with one value in every row goes in as one parameter, out of the JSON (every
    column but the first when all are alike): the same values and storage classes as
    executemany, whatever the column's type, None included."""
    statements = session.info["statements"]
    for n in (0, 1):  # the values of _rows' first row, then of its second (None, False, -5)
        given = _rows("x")[n]

        def rows(tag: str, given: dict = given) -> list[dict]:
            return [{**given, "name": f"{tag} {k if names_vary else 0}"} for k in range(5)]

        fast = bulk.insert_rows(session, SAMPLES, rows(f"S{n}"), SAMPLES.c.id, SAMPLES.c.name)
        assert statements[-1].count("json_extract(") == 1  # the name alone from the JSON
        with monkeypatch.context() as patched:
            patched.setattr(bulk, "_json_rows", lambda *args: None)
            slow = bulk.insert_rows(session, SAMPLES, rows(f"E{n}"), SAMPLES.c.id, SAMPLES.c.name)
        assert "json_each" not in statements[-1]
        stored, expected = _stored(session, f"S{n}"), _stored(session, f"E{n}")
        assert [(row[0][2:], *row[1:]) for row in stored] == [
            (row[0][2:], *row[1:]) for row in expected
        ]
        assert len(stored) == 5 and len({row[2:] for row in stored}) == 1
        assert sorted(name[2:] for _, name in fast) == sorted(name[2:] for _, name in slow)
