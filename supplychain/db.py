"""Engine set-up: SQLite pragmas and write transactions, the request-scoped commit."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from supplychain.errors import error_response
from supplychain.extensions import db

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Endpoints whose GET records something (a notice's first read): they take the write lock early.
GET_WRITERS: set[str] = set()
# Endpoints whose service commits step by step in its own sessions (a reconciliation run): the
# request's session only reads, so it must not hold SQLite's write lock.
OWN_TRANSACTIONS: set[str] = set()


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for writers.

    SQLite upgrades a read transaction to a write lock late, so two writers that both read first
    deadlock into "database is locked". Taking the write lock at BEGIN (for every transaction
    outside a read-only request) serialises writers cleanly while readers keep reading under WAL.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        chosen = connection.get_execution_options().get("sqlite_begin")
        if chosen is None:
            reading = has_request_context() and (
                (request.method in READ_METHODS and request.endpoint not in GET_WRITERS)
                or request.endpoint in OWN_TRANSACTIONS
            )
            chosen = "DEFERRED" if reading else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {chosen}")


def register_database(app: Flask) -> None:
    """Bind the session to the app and commit once per request, or roll back on any error."""
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)

    @app.after_request
    def _finish_transaction(response):  # type: ignore[no-untyped-def]
        if response.status_code >= 400:
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except IntegrityError:
            # A concurrent request won a unique constraint race (same key, same custom_id...).
            db.session.rollback()
            return error_response(409, "Conflicting change made concurrently; nothing was saved.")
        except OperationalError as exc:
            db.session.rollback()
            if "locked" in str(exc) or "could not serialize" in str(exc):
                return error_response(409, "The database is busy with a conflicting change; retry.")
            raise
        return response
