"""statements and disputes

Partners' statements (对账确认): each org's answer for a period (confirmed with the version it
saw, or disputed), when a tier run made it ready, and disputes with their lines and resolutions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 14:32:27.021508
"""

from alembic import op
import sqlalchemy as sa
import supplychain.models.base


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chain_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ready_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_version", sa.String(length=64), nullable=True),
        sa.Column(
            "confirmed_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "confirmed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("confirmed_figures", sa.JSON(), nullable=True),
        sa.Column("updated_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_statements_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_statements_confirmed_by_users")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_statements_org_id_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint(
            "chain_id", "period", "org_id", name=op.f("uq_statements_chain_id_period_org_id")
        ),
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index("ix_statements_ready", ["ready_at"], unique=False)

    op.create_table(
        "statement_disputes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "statement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("chain_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "opened_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("opened_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolved_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_statement_disputes_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["users.id"], name=op.f("fk_statement_disputes_opened_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_statement_disputes_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_statement_disputes_resolved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_statement_disputes_statement_id_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_disputes")),
    )
    with op.batch_alter_table("statement_disputes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statement_disputes_statement", ["statement_id", "status"], unique=False
        )

    op.create_table(
        "statement_dispute_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "dispute_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_number", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("expected", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["statement_disputes.id"],
            name=op.f("fk_statement_dispute_lines_dispute_id_statement_disputes"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_statement_dispute_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_dispute_lines")),
    )
    with op.batch_alter_table("statement_dispute_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statement_dispute_lines_dispute_id"), ["dispute_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("statement_dispute_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_dispute_lines_dispute_id"))

    op.drop_table("statement_dispute_lines")
    with op.batch_alter_table("statement_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_disputes_statement")

    op.drop_table("statement_disputes")
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index("ix_statements_ready")

    op.drop_table("statements")
