"""token expiry and sign-in attempts

A token may expire: sign-in tokens after SUPPLYCHAIN_SESSION_DAYS without use, API tokens when
made with `expires_in_days`. Sign-in tokens already out get a full session lifetime from now;
API tokens keep living until revoked. Failed sign-in attempts are counted in `sign_in_attempts`
(one row per attempt and key), for throttling.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00
"""

import os
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import supplychain.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(
            sa.Column(
                "expires_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    days = int(os.environ.get("SUPPLYCHAIN_SESSION_DAYS") or 30)
    tokens = sa.table(
        "api_tokens",
        sa.column("kind", sa.String()),
        sa.column("revoked_at", supplychain.models.base.UTCDateTime(timezone=True)),
        sa.column("expires_at", supplychain.models.base.UTCDateTime(timezone=True)),
    )
    op.execute(
        tokens.update()
        .where(tokens.c.kind == "login", tokens.c.revoked_at.is_(None))
        .values(expires_at=datetime.now(UTC) + timedelta(days=days))
    )


    op.create_table(
        "sign_in_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "attempted_at", supplychain.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    with op.batch_alter_table("sign_in_attempts") as batch_op:
        batch_op.create_index("ix_sign_in_attempts_key_at", ["key_hash", "attempted_at"])
        batch_op.create_index(
            batch_op.f("ix_sign_in_attempts_attempted_at"), ["attempted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_attempts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_attempts_attempted_at"))
        batch_op.drop_index("ix_sign_in_attempts_key_at")
    op.drop_table("sign_in_attempts")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("expires_at")
