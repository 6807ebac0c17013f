"""orders: figures of their lines and history, for scorecards

Each order keeps the figures scorecards need of its lines (lines, received and on-time lines,
confirmed and received quantities over confirmed lines, lines discrepant by their own fields) and
the time of its first acknowledgment, so that a year of scorecards reads the orders, not every
line: from an index on the orders' chain and date that holds all they read. The code keeps them with `services.order_figures.refresh_order_figures`; orders made before
this revision get them here, by the same statement (one correlated aggregate per figure), written
out against the tables as they are at this revision.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COUNTS = (
    "line_count",
    "received_line_count",
    "on_time_line_count",
    "discrepant_line_count",
)
TOTALS = ("confirmed_qty_total", "received_qty_total")
# What scorecards read of a period's orders, in the index that covers them.
SCORECARD_COLUMNS = (
    "buyer_id",
    "seller_id",
    "issuer_id",
    "status",
    "ack_due",
    "acked_at",
    "first_acked_at",
    "line_count",
    "received_line_count",
    "on_time_line_count",
    "confirmed_qty_total",
    "received_qty_total",
    "discrepant_line_count",
)


def _sum(column: sa.ColumnElement) -> sa.ColumnElement:
    # SQLite's integer sum() fails past 2**63 (amounts are counts of ten-thousandths there);
    # total() does not (models.base.AmountSum).
    total = sa.func.total if op.get_bind().dialect.name == "sqlite" else sa.func.sum
    return sa.func.coalesce(total(column), 0)


def _backfill() -> None:
    """Every order's figures from its lines and its history."""
    orders = sa.table("orders", sa.column("id", sa.BigInteger), *(sa.column(c) for c in COUNTS),
                      *(sa.column(c) for c in TOTALS), sa.column("first_acked_at"))  # fmt: skip
    line = sa.table(
        "order_lines",
        *(
            sa.column(name)
            for name in (
                "order_id", "ack_status", "qty", "unit_price", "confirmed_qty", "confirmed_price",
                "shipped_qty", "received_qty", "requested_date", "promised_date",
                "last_received_on",
            )  # fmt: skip
        ),
    ).c
    events = sa.table("order_events", sa.column("order_id"), sa.column("kind"), sa.column("at")).c
    due = sa.func.coalesce(line.promised_date, line.requested_date)
    received = sa.and_(line.received_qty > 0, due.is_not(None))
    confirmed = line.confirmed_qty.is_not(None)
    discrepant = sa.or_(
        line.ack_status == "pending",
        sa.and_(line.confirmed_qty.is_not(None), line.confirmed_qty != line.qty),
        sa.and_(
            line.ack_status != "rejected",
            line.confirmed_price.is_not(None),
            line.confirmed_price != line.unit_price,
        ),
        line.shipped_qty != sa.func.coalesce(line.confirmed_qty, 0),
        line.received_qty != line.shipped_qty,
    )

    def of_lines(figure: sa.ColumnElement, *where: sa.ColumnElement) -> sa.ScalarSelect:
        return sa.select(figure).where(line.order_id == orders.c.id, *where).scalar_subquery()

    op.execute(
        sa.update(orders).values(
            line_count=of_lines(sa.func.count()),
            received_line_count=of_lines(sa.func.count(), received),
            on_time_line_count=of_lines(sa.func.count(), received, line.last_received_on <= due),
            confirmed_qty_total=of_lines(_sum(line.confirmed_qty), confirmed),
            received_qty_total=of_lines(_sum(line.received_qty), confirmed),
            discrepant_line_count=of_lines(sa.func.count(), discrepant),
            first_acked_at=sa.select(sa.func.min(events.at))
            .where(events.order_id == orders.c.id, events.kind == "acknowledged")
            .scalar_subquery(),
        )
    )


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
        for name in TOTALS:
            batch_op.add_column(
                sa.Column(name, sa.Numeric(precision=28, scale=4), server_default="0",
                          nullable=False)  # fmt: skip
            )
        batch_op.add_column(sa.Column("first_acked_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    op.create_index(
        "ix_orders_chain_created_figures",
        "orders",
        ["chain_id", "created_at", *SCORECARD_COLUMNS],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_orders_chain_created_figures", table_name="orders")
    with op.batch_alter_table("orders") as batch_op:
        for name in ("first_acked_at", *reversed(TOTALS), *reversed(COUNTS)):
            batch_op.drop_column(name)
