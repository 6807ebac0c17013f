"""oidc provider

The chain as an OpenID Connect provider for its custom apps: apps registered with redirect URIs
become clients (client id, SHA-256 of the secret), RS256 signing keys (sealed with a key derived
from SECRET_KEY), app sessions (one page sign-in session as one app knows it), single-use codes,
access and refresh tokens (digests only), and the back-channel logouts waiting to be sent (the
`logout` delivery channel points at them). New tables only: nothing existing changes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oidc_keys",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_oidc_keys_kid")),
    )
    op.create_table(
        "oidc_logouts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("chain_id", BigId, nullable=False),
        sa.Column("app_id", BigId, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_logouts")),
    )
    op.create_index(op.f("ix_oidc_logouts_event_id"), "oidc_logouts", ["event_id"], unique=False)
    op.create_table(
        "oidc_clients",
        sa.Column("app_id", BigId, autoincrement=False, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("backchannel_logout_uri", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_oidc_clients_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_oidc_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oidc_clients_client_id")),
    )
    op.create_table(
        "oidc_sessions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("app_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("login_token_id", BigId, nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_oidc_sessions_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_sessions")),
        sa.UniqueConstraint(
            "app_id", "login_token_id", name=op.f("uq_oidc_sessions_app_id_login_token_id")
        ),
    )
    with op.batch_alter_table("oidc_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_sessions_login_token_id", ["login_token_id"], unique=False)
        batch_op.create_index("ix_oidc_sessions_user_id", ["user_id"], unique=False)

    op.create_table(
        "oidc_codes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", BigId, nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("nonce", sa.String(length=500), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=False),
        sa.Column("auth_time", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["oidc_sessions.id"],
            name=op.f("fk_oidc_codes_session_id_oidc_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oidc_codes_code_hash")),
    )
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_codes_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_codes_nonce"), ["nonce"], unique=False)

    op.create_table(
        "oidc_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("session_id", BigId, nullable=False),
        sa.Column("code_id", BigId, nullable=False),
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["oidc_sessions.id"],
            name=op.f("fk_oidc_tokens_session_id_oidc_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_tokens")),
        sa.UniqueConstraint("access_hash", name=op.f("uq_oidc_tokens_access_hash")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_oidc_tokens_refresh_hash")),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_tokens_code_id"), ["code_id"], unique=False)
        batch_op.create_index("ix_oidc_tokens_session_id", ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_tokens_session_id")
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_code_id"))

    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_codes_nonce"))
        batch_op.drop_index(batch_op.f("ix_oidc_codes_session_id"))

    op.drop_table("oidc_codes")
    with op.batch_alter_table("oidc_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_sessions_user_id")
        batch_op.drop_index("ix_oidc_sessions_login_token_id")

    op.drop_table("oidc_sessions")
    op.drop_table("oidc_clients")
    op.drop_table("oidc_logouts")
    op.drop_table("oidc_keys")
