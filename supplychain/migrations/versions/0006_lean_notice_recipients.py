"""lean notice recipients: key (notice_id, org_id), chain_id copied, no per-row foreign keys

The fan-out table loses its surrogate `id` (the key is the pair it was unique on), gains the
notice's `chain_id` so an org's inbox in one chain is counted and paged from one index, and drops
the foreign keys to notices and orgs, each a per-row trigger on PostgreSQL (see
`NoticeRecipient`). Existing rows keep their state; chain_id is filled from their notices.
On PostgreSQL this rewrites the table under an exclusive lock: plan a short write pause for
a large one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.add_column(sa.Column("chain_id", BIG_ID, nullable=True))
    op.execute(
        "UPDATE notice_recipients SET chain_id = "
        "(SELECT notices.chain_id FROM notices WHERE notices.id = notice_recipients.notice_id)"
    )
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.drop_index("ix_notice_recipients_org_notice")
        batch_op.drop_constraint("fk_notice_recipients_notice_id_notices", type_="foreignkey")
        batch_op.drop_constraint("fk_notice_recipients_org_id_orgs", type_="foreignkey")
        batch_op.drop_constraint("uq_notice_recipients_notice_id_org_id", type_="unique")
        batch_op.drop_constraint("pk_notice_recipients", type_="primary")
        batch_op.drop_column("id")
        batch_op.alter_column("chain_id", existing_type=BIG_ID, nullable=False)
        batch_op.create_primary_key("pk_notice_recipients", ["notice_id", "org_id"])
        batch_op.create_index(
            "ix_notice_recipients_org_chain_notice", ["org_id", "chain_id", "notice_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.drop_index("ix_notice_recipients_org_chain_notice")
        batch_op.drop_constraint("pk_notice_recipients", type_="primary")
        batch_op.drop_column("chain_id")
    # The old foreign keys come back: rows whose notice or org is gone cannot stay.
    op.execute(
        "DELETE FROM notice_recipients WHERE notice_id NOT IN (SELECT id FROM notices) "
        "OR org_id NOT IN (SELECT id FROM orgs)"
    )
    # A fresh surrogate key (in the table's physical order).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE notice_recipients ADD COLUMN id BIGSERIAL")
    else:
        with op.batch_alter_table("notice_recipients") as batch_op:
            batch_op.add_column(sa.Column("id", BIG_ID, nullable=True))
        op.execute("UPDATE notice_recipients SET id = rowid")
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.alter_column("id", existing_type=BIG_ID, nullable=False)
        batch_op.create_primary_key("pk_notice_recipients", ["id"])
        batch_op.create_unique_constraint(
            "uq_notice_recipients_notice_id_org_id", ["notice_id", "org_id"]
        )
        batch_op.create_foreign_key(
            "fk_notice_recipients_notice_id_notices", "notices", ["notice_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_notice_recipients_org_id_orgs", "orgs", ["org_id"], ["id"])
        batch_op.create_index("ix_notice_recipients_org_notice", ["org_id", "notice_id"])
