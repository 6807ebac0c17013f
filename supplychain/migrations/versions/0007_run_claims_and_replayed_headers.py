"""run claims and replayed headers

A reconciliation run carries the token of its current claim, so a producer that lost the run to a
takeover records nothing; an idempotency record keeps the headers a replay must carry (a 202's
Location).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_runs") as batch_op:
        batch_op.add_column(sa.Column("claim", sa.String(length=32), nullable=True))
    with op.batch_alter_table("idempotency_records") as batch_op:
        batch_op.add_column(sa.Column("response_headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch_op:
        batch_op.drop_column("response_headers")
    with op.batch_alter_table("reconciliation_runs") as batch_op:
        batch_op.drop_column("claim")
