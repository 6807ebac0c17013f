"""supplier invoices: invoices, their lines against order lines, and each chain's settings

Invoices recorded by their seller against order lines (number unique per seller in a chain),
optionally tied to the confirmed version of a statement; the chain's matching tolerances and
default tax rate. The match itself is computed when read, never stored.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-07 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import supplychain.models.base

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AMOUNT = sa.Numeric(precision=18, scale=4)
AMOUNT_SUM = sa.Numeric(precision=28, scale=4)
UTC = supplychain.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invoice_settings",
        sa.Column("chain_id", ID, nullable=False),
        sa.Column("price_tolerance_pct", AMOUNT, nullable=False),
        sa.Column("amount_tolerance", AMOUNT, nullable=False),
        sa.Column("default_tax_rate", AMOUNT, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_invoice_settings_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_invoice_settings_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_invoice_settings")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("chain_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("net", AMOUNT_SUM, nullable=False),
        sa.Column("tax", AMOUNT_SUM, nullable=False),
        sa.Column("gross", AMOUNT_SUM, nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("statement_org_id", ID, nullable=True),
        sa.Column("statement_period", sa.String(length=10), nullable=True),
        sa.Column("statement_version", sa.String(length=64), nullable=True),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("accepted_exceptions", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_invoices_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["orgs.id"], name=op.f("fk_invoices_seller_id_orgs")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["orgs.id"], name=op.f("fk_invoices_buyer_id_orgs")),
        sa.ForeignKeyConstraint(
            ["statement_org_id"], ["orgs.id"], name=op.f("fk_invoices_statement_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_invoices_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_invoices_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "chain_id", "seller_id", "number", name=op.f("uq_invoices_chain_id_seller_id_number")
        ),
    )
    op.create_index(
        "ix_invoices_chain_buyer_status", "invoices", ["chain_id", "buyer_id", "status"]
    )
    op.create_index("ix_invoices_chain_period", "invoices", ["chain_id", "statement_period"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("invoice_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("qty", AMOUNT, nullable=False),
        sa.Column("unit_price", AMOUNT, nullable=False),
        sa.Column("tax_rate", AMOUNT, nullable=False),
        sa.Column("net", AMOUNT, nullable=False),
        sa.Column("tax", AMOUNT, nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_invoice_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index("ix_invoice_lines_invoice", "invoice_lines", ["invoice_id", "position"])
    op.create_index("ix_invoice_lines_order_line", "invoice_lines", ["order_id", "line_no"])


def downgrade() -> None:
    op.drop_index("ix_invoice_lines_order_line", table_name="invoice_lines")
    op.drop_index("ix_invoice_lines_invoice", table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index("ix_invoices_chain_period", table_name="invoices")
    op.drop_index("ix_invoices_chain_buyer_status", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("invoice_settings")
