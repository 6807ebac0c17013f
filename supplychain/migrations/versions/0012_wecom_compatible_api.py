"""wecom compatible api

The WeCom-compatible /cgi-bin API: its access tokens (hashed, 7 200 s) and contact import jobs;
a stable per-chain number for every group (WeCom's numeric `groupid`, the root being 1), given to
existing groups in the order they were made; and people known by mobile only (a WeCom import
names contacts by mobile), so a user's email may be empty and such a person is unique by
(org, mobile).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wecom_access_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("api_token_id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_wecom_access_tokens_api_token_id_api_tokens"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wecom_access_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_wecom_access_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_wecom_access_tokens_user_id"), "wecom_access_tokens", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_wecom_access_tokens_api_token_id"),
        "wecom_access_tokens",
        ["api_token_id"],
        unique=False,
    )
    op.create_table(
        "wecom_import_jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("jobid", sa.String(length=64), nullable=False),
        sa.Column("chain_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_wecom_import_jobs_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_wecom_import_jobs_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wecom_import_jobs_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_import_jobs")),
        sa.UniqueConstraint("jobid", name=op.f("uq_wecom_import_jobs_jobid")),
    )
    op.create_index(
        op.f("ix_wecom_import_jobs_chain_id"), "wecom_import_jobs", ["chain_id"], unique=False
    )
    op.create_index(
        op.f("ix_wecom_import_jobs_org_id"), "wecom_import_jobs", ["org_id"], unique=False
    )

    # Group numbers: existing groups numbered 2, 3, ... per chain in the order they were made.
    with op.batch_alter_table("groups") as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    groups = sa.table(
        "groups", sa.column("id", BigId), sa.column("chain_id", BigId), sa.column("number")
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(groups.c.id, groups.c.chain_id).order_by(groups.c.chain_id, groups.c.id)
    ).all()
    numbers: dict[int, int] = {}
    updates = []
    for group_id, chain_id in rows:
        numbers[chain_id] = numbers.get(chain_id, 1) + 1
        updates.append({"group_id": group_id, "number": numbers[chain_id]})
    if updates:
        connection.execute(
            groups.update()
            .where(groups.c.id == sa.bindparam("group_id"))
            .values(number=sa.bindparam("number")),
            updates,
        )
    with op.batch_alter_table("groups") as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            op.f("uq_groups_chain_id_number"), ["chain_id", "number"]
        )

    # People known by mobile only.
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=200), nullable=True)
    op.create_index(
        "uq_users_org_mobile_without_email",
        "users",
        ["org_id", "mobile"],
        unique=True,
        sqlite_where=sa.text("email IS NULL"),
        postgresql_where=sa.text("email IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_users_org_mobile_without_email", table_name="users")
    op.execute("DELETE FROM contacts WHERE user_id IN (SELECT id FROM users WHERE email IS NULL)")
    # People without email cannot stay: the older schema needs one. Their tokens and rows that
    # name them make the delete fail, which is the honest answer for such a database.
    op.execute("DELETE FROM users WHERE email IS NULL AND password_hash IS NULL")
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=200), nullable=False)
    with op.batch_alter_table("groups") as batch_op:
        batch_op.drop_constraint(op.f("uq_groups_chain_id_number"), type_="unique")
        batch_op.drop_column("number")
    op.drop_index(op.f("ix_wecom_import_jobs_org_id"), table_name="wecom_import_jobs")
    op.drop_index(op.f("ix_wecom_import_jobs_chain_id"), table_name="wecom_import_jobs")
    op.drop_table("wecom_import_jobs")
    op.drop_index(op.f("ix_wecom_access_tokens_api_token_id"), table_name="wecom_access_tokens")
    op.drop_index(op.f("ix_wecom_access_tokens_user_id"), table_name="wecom_access_tokens")
    op.drop_table("wecom_access_tokens")
