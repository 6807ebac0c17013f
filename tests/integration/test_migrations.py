"""`supplychain db upgrade` on an old database: data written by 0004 survives, exactly."""

import os
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from supplychain.migrate import upgrade_database


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
