"""order lines: last_received_on; order events by order, kind and time

The chain-local day of each line's latest receipt, what scorecards judge on-time delivery by
(on or before the promised date, else the requested date). Filled from the orders' receipt
history for lines received before this revision. And an index that gives an order's first
acknowledgment from the index alone (scorecards' median time to acknowledge).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 15:00:00
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _backfill() -> None:
    """Each received line's latest receipt day, in its chain's timezone, from the history."""
    conn = op.get_bind()
    events = sa.table(
        "order_events",
        sa.column("order_id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("data", sa.JSON),
    )
    orders = sa.table("orders", sa.column("id", sa.BigInteger), sa.column("chain_id", sa.BigInteger))
    chains = sa.table("chains", sa.column("id", sa.BigInteger), sa.column("timezone", sa.String))
    lines = sa.table(
        "order_lines",
        sa.column("order_id", sa.BigInteger),
        sa.column("line_no", sa.Integer),
        sa.column("last_received_on", sa.Date),
    )
    rows = conn.execute(
        sa.select(events.c.order_id, events.c.data, chains.c.timezone)
        .join(orders, orders.c.id == events.c.order_id)
        .join(chains, chains.c.id == orders.c.chain_id)
        .where(events.c.kind == "received")
    )
    latest: dict[tuple[int, int], object] = {}
    for order_id, data, timezone in rows:
        at = datetime.fromisoformat(data["received_at"])
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        day = at.astimezone(ZoneInfo(timezone)).date()
        for line in data.get("lines", []):
            key = (order_id, int(line["line_no"]))
            if key not in latest or latest[key] < day:  # type: ignore[operator]
                latest[key] = day
    for (order_id, line_no), day in latest.items():
        conn.execute(
            sa.update(lines)
            .where(lines.c.order_id == order_id, lines.c.line_no == line_no)
            .values(last_received_on=day)
        )


def upgrade() -> None:
    with op.batch_alter_table("order_lines") as batch_op:
        batch_op.add_column(sa.Column("last_received_on", sa.Date(), nullable=True))
    _backfill()
    op.create_index(
        "ix_order_events_order_kind_at", "order_events", ["order_id", "kind", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_order_events_order_kind_at", table_name="order_events")
    with op.batch_alter_table("order_lines") as batch_op:
        batch_op.drop_column("last_received_on")
