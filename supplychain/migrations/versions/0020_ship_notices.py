"""ship notices (送货单, ASN): notices, their packages and lines; orgs' GS1 prefix and address

A ship notice is one seller -> buyer delivery holding lines of several orders and the packages
they travel in; an org with a GS1 company prefix numbers its packages with SSCCs from its own
counter (`orgs.sscc_serial`, the last serial used). New tables and nullable columns only: no data
to move.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 17:36:53
"""

import sqlalchemy as sa
from alembic import op

import supplychain.models.base

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = supplychain.models.base.UTCDateTime(timezone=True)
# models.base.Amount: NUMERIC(18, 4) (on SQLite it holds integer ten-thousandths, see 0005).
AMOUNT = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    op.create_table(
        "ship_notices",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("chain_id", ID, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("shipped_at", WHEN, nullable=False),
        sa.Column("expected_at", WHEN, nullable=True),
        sa.Column("carrier_name", sa.String(length=200), nullable=True),
        sa.Column("carrier_code", sa.String(length=50), nullable=True),
        sa.Column("tracking_numbers", sa.JSON(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("cancel_reason", sa.String(length=2000), nullable=True),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["orgs.id"], name=op.f("fk_ship_notices_buyer_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_ship_notices_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ship_notices_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["orgs.id"], name=op.f("fk_ship_notices_seller_id_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ship_notices")),
        sa.UniqueConstraint("seller_id", "number", name=op.f("uq_ship_notices_seller_id_number")),
    )
    with op.batch_alter_table("ship_notices", schema=None) as batch_op:
        batch_op.create_index("ix_ship_notices_chain_buyer", ["chain_id", "buyer_id", "id"])
        batch_op.create_index("ix_ship_notices_chain_seller", ["chain_id", "seller_id", "id"])

    op.create_table(
        "ship_notice_packages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("weight_kg", AMOUNT, nullable=True),
        sa.Column("sscc", sa.String(length=18), nullable=True),
        sa.Column("received_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["ship_notices.id"],
            name=op.f("fk_ship_notice_packages_notice_id_ship_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["orgs.id"], name=op.f("fk_ship_notice_packages_seller_id_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ship_notice_packages")),
        sa.UniqueConstraint("notice_id", "seq", name=op.f("uq_ship_notice_packages_notice_id_seq")),
        sa.UniqueConstraint(
            "seller_id", "sscc", name=op.f("uq_ship_notice_packages_seller_id_sscc")
        ),
    )
    with op.batch_alter_table("ship_notice_packages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ship_notice_packages_notice_id"), ["notice_id"])

    op.create_table(
        "ship_notice_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("order_line_id", ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("package_id", ID, nullable=True),
        sa.Column("qty", AMOUNT, nullable=False),
        sa.Column("received_qty", AMOUNT, nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["ship_notices.id"],
            name=op.f("fk_ship_notice_lines_notice_id_ship_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_ship_notice_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_ship_notice_lines_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["ship_notice_packages.id"],
            name=op.f("fk_ship_notice_lines_package_id_ship_notice_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ship_notice_lines")),
        sa.UniqueConstraint("notice_id", "seq", name=op.f("uq_ship_notice_lines_notice_id_seq")),
    )
    with op.batch_alter_table("ship_notice_lines", schema=None) as batch_op:
        batch_op.create_index("ix_ship_notice_lines_order", ["order_id"])

    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gs1_company_prefix", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("sscc_serial", ID, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("address", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_column("address")
        batch_op.drop_column("sscc_serial")
        batch_op.drop_column("gs1_company_prefix")
    op.drop_table("ship_notice_lines")
    op.drop_table("ship_notice_packages")
    op.drop_table("ship_notices")
