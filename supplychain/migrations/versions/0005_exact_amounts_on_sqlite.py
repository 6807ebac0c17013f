"""exact amounts on SQLite: store ten-thousandths as integers

On SQLite, NUMERIC columns held floats (no decimal type there), which lose digits past about 15
significant figures. From this revision the Amount type stores an exact integer count of
ten-thousandths on SQLite; this converts the values already stored. PostgreSQL keeps NUMERIC(18, 4)
and needs nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 19:50:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AMOUNT_COLUMNS = {
    "notice_items": ("qty", "unit_price"),
    "notice_response_lines": ("qty",),
    "order_lines": (
        "qty",
        "unit_price",
        "confirmed_qty",
        "confirmed_price",
        "shipped_qty",
        "received_qty",
    ),
}


def _convert(expression: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in AMOUNT_COLUMNS.items():
        assignments = ", ".join(f"{c} = {expression.format(c=c)}" for c in columns)
        op.execute(f"UPDATE {table} SET {assignments}")


def upgrade() -> None:
    _convert("CAST(ROUND({c} * 10000) AS INTEGER)")


def downgrade() -> None:
    _convert("{c} / 10000.0")
