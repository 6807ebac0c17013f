"""visibility rules: owner_range

What a WeCom add_rule call said of the owner corp's side (`owner_corp_range`: department ids and
user ids), kept as given so get_rule_info answers with it. NULL for rules made by POST /rules and
for those made before this revision (their owner side is empty).

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-30 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visibility_rules") as batch_op:
        batch_op.add_column(sa.Column("owner_range", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visibility_rules") as batch_op:
        batch_op.drop_column("owner_range")
