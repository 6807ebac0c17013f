"""`supplychain db upgrade` on an old database: data survives, and head is what the models say."""

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Numeric, TypeDecorator, column, create_engine, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from supplychain.config import normalise_database_url
from supplychain.migrate import alembic_config, upgrade_database
from supplychain.models import Base
from supplychain.models.base import UTCDateTime, utcnow


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite file migration")
def test_upgrade_from_0004_converts_amounts(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade_database(url, "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                "(1, 'A', 'manufacturer', '2026-01-01 00:00:00'),"
                " (2, 'B', 'dealer', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES "
                "(1, 1, 'a@x.example', 'A', 'admin', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO chains (id, name, owner_org_id, currency, timezone, "
                "graph_version, created_at) VALUES "
                "(1, 'C', 1, 'CNY', 'UTC', 1, '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO orders (id, chain_id, number, buyer_id, seller_id, "
                "issuer_id, issuer_role, currency, status, version, created_by, "
                "created_at, updated_at) VALUES (1, 1, 'PO-1', 2, 1, 2, 'buyer', 'CNY', "
                "'issued', 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        # What the float era stored: 12.5 as a real, 10 as an integer (NUMERIC affinity).
        conn.execute(
            text(
                "INSERT INTO order_lines (id, order_id, line_no, sku, qty, unit_price, "
                "ack_status, shipped_qty, received_qty) VALUES "
                "(1, 1, 1, 'S', 10, 12.5, 'pending', 0, 0)"
            )
        )
    upgrade_database(url)
    from supplychain.app import create_app
    from supplychain.config import TestConfig
    from supplychain.extensions import db
    from supplychain.models import OrderLine

    app = create_app(TestConfig(url, str(tmp_path)))
    with app.app_context():
        line = db.session.get(OrderLine, 1)
        assert (line.qty, line.unit_price, line.shipped_qty) == (
            Decimal("10"),
            Decimal("12.5"),
            Decimal("0"),
        )
        db.session.remove()
    engine.dispose()
    with app.app_context():
        db.engine.dispose()


# --- any database: a scratch database of its own, migrated step by step ---------------------


@pytest.fixture
def scratch_url(tmp_path) -> Iterator[str]:
    """An empty database of this test's own: a SQLite file, or a new PostgreSQL database on the
    TEST_DATABASE_URL server (dropped afterwards)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    url = make_url(normalise_database_url(base))
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
    """Our TypeDecorators (UTC datetimes, Amount) are stored as their impl type: compare that."""
    if not isinstance(metadata_type, TypeDecorator):
        return None  # alembic's own comparison
    impl = metadata_type.impl
    if inspected_type._type_affinity is not impl._type_affinity:
        return True
    if isinstance(impl, Numeric):
        return (inspected_type.precision, inspected_type.scale) != (impl.precision, impl.scale)
    return False


def _schema_drift(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_migrations_build_exactly_the_models(scratch_url):
    """Head has what the models declare, also after stepping down to 0005 and up again."""
    upgrade_database(scratch_url)
    assert _schema_drift(scratch_url) == []
    command.downgrade(alembic_config(scratch_url), "0005")
    upgrade_database(scratch_url)
    assert _schema_drift(scratch_url) == []


def test_upgrade_from_0005_keeps_notice_recipients(scratch_url):
    """0006 re-keys notice_recipients: rows keep their state and learn their notice's chain."""
    upgrade_database(scratch_url, "0005")
    engine = create_engine(scratch_url)
    stamp = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                f"(1, 'A', 'manufacturer', '{stamp}'), (2, 'B', 'dealer', '{stamp}'),"
                f" (3, 'C', 'dealer', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES "
                f"(1, 1, 'a@x.example', 'A', 'admin', '{stamp}'),"
                f" (2, 2, 'b@x.example', 'B', 'admin', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO chains (id, name, owner_org_id, currency, timezone, graph_version, "
                f"created_at) VALUES (7, 'C', 1, 'CNY', 'UTC', 1, '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO notices (id, chain_id, sender_org_id, sender_user_id, kind, title, "
                "body, audience, requires_ack, recipients_count, created_at) VALUES "
                f"(5, 7, 1, 1, 'supply', 'T', '', '{{}}', true, 2, '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO notice_recipients (id, notice_id, org_id, read_at, read_by, "
                "acked_at, acked_by, ack_note) VALUES "
                f"(1, 5, 2, '{stamp}', 2, '{stamp}', 2, 'ok'), (2, 5, 3, NULL, NULL, NULL, "
                "NULL, NULL)"
            )
        )
    upgrade_database(scratch_url)
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT notice_id, org_id, chain_id, read_by, acked_by, ack_note "
                "FROM notice_recipients ORDER BY org_id"
            )
        ).all()
        assert [tuple(r) for r in rows] == [(5, 2, 7, 2, 2, "ok"), (5, 3, 7, None, None, None)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO notice_recipients (notice_id, org_id, chain_id) VALUES (5, 2, 7)")
        )
    # And back: a fresh surrogate id per row, the state kept.
    command.downgrade(alembic_config(scratch_url), "0005")
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, notice_id, org_id, acked_by, ack_note FROM notice_recipients "
                "ORDER BY org_id"
            )
        ).all()
        assert [tuple(r)[1:] for r in rows] == [(5, 2, 2, "ok"), (5, 3, None, None)]
        assert len({r.id for r in rows}) == 2 and None not in {r.id for r in rows}
    engine.dispose()
    upgrade_database(scratch_url)
    assert _schema_drift(scratch_url) == []


def test_upgrade_from_0007_gives_sign_in_tokens_an_expiry(scratch_url):
    """0008: live sign-in tokens expire a session lifetime from the upgrade; API tokens never."""
    upgrade_database(scratch_url, "0007")
    engine = create_engine(scratch_url)
    stamp = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO orgs (id, name, kind, created_at) VALUES (1, 'A', 'other', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES "
                f"(1, 1, 'a@x.example', 'A', 'admin', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (id, user_id, name, kind, token_hash, created_at, "
                f"revoked_at) VALUES (1, 1, 'login', 'login', 'h1', '{stamp}', NULL),"
                f" (2, 1, 'ERP', 'api', 'h2', '{stamp}', NULL),"
                f" (3, 1, 'login', 'login', 'h3', '{stamp}', '{stamp}')"
            )
        )
    upgrade_database(scratch_url)
    tokens = table("api_tokens", column("id"), column("expires_at", UTCDateTime()))
    with engine.begin() as conn:
        expires = dict(conn.execute(select(tokens.c.id, tokens.c.expires_at)).all())
    assert abs(expires[1] - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert expires[2] is None and expires[3] is None
    command.downgrade(alembic_config(scratch_url), "0007")
    upgrade_database(scratch_url)
    assert _schema_drift(scratch_url) == []
    engine.dispose()


def test_upgrade_to_0012_numbers_existing_groups(scratch_url):
    """Groups made before 0012 get numbers 2, 3, ... per chain in the order they were made
    (1 is each chain's root), and users may then have no email."""
    upgrade_database(scratch_url, "0010")
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                    "(1, 'A', 'manufacturer', :now), (2, 'B', 'manufacturer', :now)"
                ),
                {"now": utcnow()},
            )
            conn.execute(
                text(
                    "INSERT INTO chains (id, name, owner_org_id, currency, timezone, "
                    "graph_version, created_at) VALUES (1, 'C1', 1, 'CNY', 'UTC', 1, :now), "
                    "(2, 'C2', 2, 'CNY', 'UTC', 1, :now)"
                ),
                {"now": utcnow()},
            )
            for group_id, chain_id, path in [
                (1, 1, "Dealers"),
                (2, 2, "Suppliers"),
                (3, 1, "Dealers/North"),
                (4, 1, "Aaa"),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO groups (id, chain_id, parent_id, path, name, created_at) "
                        "VALUES (:id, :chain, NULL, :path, :path, :now)"
                    ),
                    {"id": group_id, "chain": chain_id, "path": path, "now": utcnow()},
                )
        upgrade_database(scratch_url)
        with engine.begin() as conn:
            numbers = conn.execute(text("SELECT id, number FROM groups ORDER BY id")).all()
            assert [tuple(row) for row in numbers] == [(1, 2), (2, 2), (3, 3), (4, 4)]
            conn.execute(
                text(
                    "INSERT INTO users (org_id, email, name, mobile, role, created_at) "
                    "VALUES (1, NULL, 'M', '13000000001', 'staff', :now)"
                ),
                {"now": utcnow()},
            )
        # One person without email per org and mobile.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (org_id, email, name, mobile, role, created_at) "
                    "VALUES (1, NULL, 'N', '13000000001', 'staff', :now)"
                ),
                {"now": utcnow()},
            )
    finally:
        engine.dispose()


def test_upgrade_to_0017_keeps_each_orders_figures(scratch_url):
    """0017: orders made before it get the figures of their lines and history, the same as the
    code keeps (`refresh_order_figures`) and as a recomputation from the rows gives."""
    upgrade_database(scratch_url, "0016")
    engine = create_engine(scratch_url)
    stamp = "2026-01-01 00:00:00"
    ten_thousandths = engine.dialect.name == "sqlite"  # how Amount stores on SQLite

    def amount(value: str) -> object:
        return int(Decimal(value) * 10_000) if ten_thousandths else Decimal(value)

    # (order id, status), and its lines: (ack_status, qty, confirmed qty, confirmed price,
    # shipped, received, requested, promised, last received on); each line's price is 2.
    orders = {
        1: ("issued", [("pending", "10", None, None, "0", "0", "2026-01-20", None, None)]),
        2: (
            "accepted_with_changes",
            [
                ("accepted", "10", "10", "2", "10", "10", "2026-01-20", "2026-01-20", "2026-01-19"),
                ("changed", "10", "6", "2", "6", "5", "2026-01-20", "2026-01-25", "2026-01-26"),
                ("changed", "4.5", "4.5", "3", "4.5", "4.5", None, None, "2026-01-10"),
                ("rejected", "3", "0", "2", "0", "0", "2026-01-20", None, None),
            ],
        ),
        3: ("cancelled", [("accepted", "8", "8", "2", "0", "0", "2026-01-20", "2026-01-20", None)]),
    }
    acks = {2: ["2026-01-02 10:00:00", "2026-01-02 08:30:00"], 3: ["2026-01-03 00:00:00"]}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                f"(1, 'A', 'manufacturer', '{stamp}'), (2, 'B', 'dealer', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES "
                f"(1, 1, 'a@x.example', 'A', 'admin', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO chains (id, name, owner_org_id, currency, timezone, graph_version, "
                f"created_at) VALUES (1, 'C', 1, 'CNY', 'UTC', 1, '{stamp}')"
            )
        )
        for order_id, (status, lines) in orders.items():
            conn.execute(
                text(
                    "INSERT INTO orders (id, chain_id, number, buyer_id, seller_id, issuer_id, "
                    "issuer_role, currency, status, version, created_by, created_at, updated_at) "
                    "VALUES (:id, 1, :number, 2, 1, 2, 'buyer', 'CNY', :status, 1, 1, :at, :at)"
                ),
                {"id": order_id, "number": f"PO-{order_id}", "status": status, "at": stamp},
            )
            for no, (ack, qty, conf, conf_price, shipped, received, req, prom, last) in enumerate(
                lines, start=1
            ):
                conn.execute(
                    text(
                        "INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price, "
                        "ack_status, confirmed_qty, confirmed_price, shipped_qty, received_qty, "
                        "requested_date, promised_date, last_received_on) VALUES (:order_id, "
                        ":no, 'S', :qty, :price, :ack, :conf, :conf_price, :shipped, :received, "
                        ":req, :prom, :last)"
                    ),
                    {
                        "order_id": order_id, "no": no, "qty": amount(qty), "price": amount("2"),
                        "ack": ack, "conf": conf and amount(conf),
                        "conf_price": conf_price and amount(conf_price),
                        "shipped": amount(shipped), "received": amount(received),
                        "req": req, "prom": prom, "last": last,
                    },
                )  # fmt: skip
        for order_id, times in acks.items():
            for kind, at in [("issued", stamp)] + [("acknowledged", at) for at in times]:
                conn.execute(
                    text(
                        "INSERT INTO order_events (order_id, kind, version, at, user_id, org_id, "
                        "data) VALUES (:order_id, :kind, 1, :at, 1, 1, '{}')"
                    ),
                    {"order_id": order_id, "kind": kind, "at": at},
                )
    upgrade_database(scratch_url)
    from supplychain.models import Order
    from supplychain.models.orders import ORDER_FIGURES
    from supplychain.services.order_figures import refresh_order_figures

    names = ("line_count", "received_line_count", "on_time_line_count", "confirmed_qty_total",
             "received_qty_total", "discrepant_line_count", "first_acked_at")  # fmt: skip
    assert set(names) == set(ORDER_FIGURES)

    def kept() -> dict[int, tuple]:
        with Session(engine) as session:
            rows = session.scalars(select(Order).order_by(Order.id)).all()
            return {o.id: tuple(getattr(o, name) for name in names) for o in rows}

    at = datetime(2026, 1, 2, 8, 30, tzinfo=UTC)
    # Lines, received with a date, on time, confirmed and received qty over confirmed lines,
    # discrepant by their own fields, first acknowledgment. Order 2: line 1 on time, line 2
    # late (promised 25th, received 26th) and short (QTY SHIP RECV), line 3 received without a
    # date (PRICE), line 4 rejected (QTY).
    expected = {
        1: (1, 0, 0, Decimal(0), Decimal(0), 1, None),
        2: (4, 2, 1, Decimal("20.5"), Decimal("19.5"), 3, at),
        3: (1, 0, 0, Decimal(8), Decimal(0), 1, datetime(2026, 1, 3, tzinfo=UTC)),
    }
    assert kept() == expected
    # The code's statement gives the same.
    with Session(engine) as session:
        refresh_order_figures(session, list(orders))
        session.commit()
    assert kept() == expected
    command.downgrade(alembic_config(scratch_url), "0016")
    upgrade_database(scratch_url)
    assert kept() == expected and _schema_drift(scratch_url) == []
    engine.dispose()
