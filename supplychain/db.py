"""Engine set-up: SQLite pragmas and write transactions, the request-scoped commit, and the
transaction policy a view declares."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from supplychain.errors import error_response
from supplychain.extensions import db

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
View = TypeVar("View", bound=Callable[..., Any])
# Set on a connection whose transaction a reading request began (only when guarding reads).
_READS_ONLY = "supplychain_reads_only"


class Transaction(enum.Enum):
    """How a request uses its session; on SQLite, how its transactions begin."""

    READS = "reads"  # plain BEGIN: under WAL it reads while others write
    WRITES = "writes"  # BEGIN IMMEDIATE: the write lock at once, so writers queue, never deadlock
    # The service commits step by step in sessions of its own (a reconciliation run): the
    # request's session only reads meanwhile, so it must not hold SQLite's write lock.
    OWN = "own"


def transaction(policy: Transaction) -> Callable[[View], View]:
    """Declare a view's transaction policy where the view is (on a MethodView, on the method).

    Undeclared, GET, HEAD and OPTIONS read and other methods write; a GET that records
    something (a notice's first read) declares WRITES, or SQLite says "database is locked"."""

    def declare(view: View) -> View:
        view.transaction_policy = policy  # type: ignore[attr-defined]
        return view

    return declare


def policy_of(app: Flask, endpoint: str | None, method: str) -> Transaction:
    """The policy declared on the view serving `method` at `endpoint`, else the method's default.

    Read from the endpoint, not set by the view as it runs: a decorator before it (sign-in, the
    token lookup) begins the transaction already."""
    view: Any = app.view_functions.get(endpoint) if endpoint else None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        # As MethodView dispatches: the method named by the verb, HEAD falling back to GET.
        view = getattr(view_class, method.lower(), None)
        if view is None and method == "HEAD":
            view = getattr(view_class, "get", None)
    declared = getattr(view, "transaction_policy", None)
    if declared is not None:
        return declared
    return Transaction.READS if method in READ_METHODS else Transaction.WRITES


def request_policy() -> Transaction:
    """The current request's transaction policy."""
    return policy_of(current_app, request.endpoint, request.method)


class UndeclaredWrite(RuntimeError):
    """A request whose view declares that it only reads tried to write (testing and debug)."""


def configure_sqlite(engine: Engine, guard_reads: bool = False) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for writers.

    SQLite upgrades a read transaction to a write lock late, so two writers that both read first
    deadlock into "database is locked". Taking the write lock at BEGIN (for every transaction
    outside a request whose view reads) serialises writers cleanly while readers keep reading
    under WAL. With `guard_reads`, a write in a reading request's transaction raises
    UndeclaredWrite at once instead of failing under load only.
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
        policy = None
        if chosen is None:
            policy = request_policy() if has_request_context() else Transaction.WRITES
            chosen = "IMMEDIATE" if policy is Transaction.WRITES else "DEFERRED"
        if guard_reads:
            connection.info[_READS_ONLY] = policy is Transaction.READS
        connection.exec_driver_sql(f"BEGIN {chosen}")

    if guard_reads:

        @event.listens_for(engine, "before_cursor_execute")
        def _refuse_undeclared_write(
            connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            writes = context is not None and (
                context.isinsert or context.isupdate or context.isdelete
            )
            if writes and connection.info.get(_READS_ONLY) and has_request_context():
                raise UndeclaredWrite(
                    f"{request.method} {request.endpoint} ran {statement.split(None, 1)[0]} but"
                    " its view does not declare @transaction(Transaction.WRITES)."
                )


def register_database(app: Flask) -> None:
    """Bind the session to the app and commit once per request, or roll back on any error."""
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, guard_reads=app.testing or app.debug)

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


@contextmanager
def own_transaction(session: Session) -> Iterator[Connection]:
    """A short write transaction of its own beside the request's, committed when the block ends
    whatever the request does after (a failed sign-in is counted although the request rolls
    back). On SQLite it takes the write lock at BEGIN.

    A session joined to an outer transaction (bound to a Connection, as the test suite's
    rolled-back tests are) gets a savepoint on that connection instead: a second connection would
    wait for the outer one's lock.
    """
    bind = session.get_bind()
    if isinstance(bind, Connection):
        with bind.begin_nested():
            yield bind
        return
    with bind.connect() as connection:
        connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            yield connection
