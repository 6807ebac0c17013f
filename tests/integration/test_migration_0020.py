"""0020 (ship notices): orgs made before it get no GS1 prefix, no address and an SSCC counter at
zero; the new tables take notices; stepping down and up again keeps the orgs."""

from alembic import command
from sqlalchemy import create_engine, text

from supplychain.migrate import alembic_config, upgrade_database
from tests.integration.test_migrations import scratch_url  # noqa: F401 - the fixture


def test_upgrade_to_0020_keeps_orgs_and_starts_their_counters(scratch_url):  # noqa: F811
    upgrade_database(scratch_url, "0017")
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                    "(1, '华夏汽车', 'manufacturer', '2026-01-01 00:00:00'), "
                    "(2, 'B', 'dealer', '2026-01-01 00:00:00')"
                )
            )
        upgrade_database(scratch_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, name, gs1_company_prefix, address, sscc_serial FROM orgs ORDER BY id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [(1, "华夏汽车", None, None, 0), (2, "B", None, None, 0)]
        command.downgrade(alembic_config(scratch_url), "0017")
        upgrade_database(scratch_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM orgs")).scalar() == 2
            assert conn.execute(text("SELECT count(*) FROM ship_notices")).scalar() == 0
    finally:
        engine.dispose()
