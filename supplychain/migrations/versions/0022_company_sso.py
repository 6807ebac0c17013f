"""company sign-in (SSO)

An org's connection to its own OpenID Connect provider (the client secret sealed with a key
derived from SECRET_KEY, the endpoints its discovery named), the email domains it answers for
(one org per domain), people linked by (issuer, subject), sign-ins under way (state and nonce
kept as digests), the sign-in tokens a company sign-in issued with the IdP's session id, and the
logout tokens already acted on.

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-07 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sso_connections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("create_users", sa.Boolean(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("authorization_endpoint", sa.String(length=2000), nullable=False),
        sa.Column("token_endpoint", sa.String(length=2000), nullable=False),
        sa.Column("userinfo_endpoint", sa.String(length=2000), nullable=True),
        sa.Column("jwks_uri", sa.String(length=2000), nullable=False),
        sa.Column("token_auth_method", sa.String(length=50), nullable=False),
        sa.Column("signing_algs", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_sso_connections_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_connections")),
        sa.UniqueConstraint("org_id", name=op.f("uq_sso_connections_org_id")),
    )
    op.create_table(
        "sso_domains",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connections.id"],
            name=op.f("fk_sso_domains_connection_id_sso_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_sso_domains_domain")),
    )
    op.create_index(
        op.f("ix_sso_domains_connection_id"), "sso_domains", ["connection_id"], unique=False
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_sign_in_at", Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sso_identities_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_sso_identities_issuer_subject")),
    )
    op.create_index(op.f("ix_sso_identities_user_id"), "sso_identities", ["user_id"], unique=False)
    op.create_table(
        "sso_logins",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("connection_id", BigId, nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("verifier_sealed", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("next_url", sa.String(length=2000), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.Column("used_at", Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sso_connections.id"],
            name=op.f("fk_sso_logins_connection_id_sso_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_sso_logins_state_hash")),
    )
    op.create_index(
        op.f("ix_sso_logins_connection_id"), "sso_logins", ["connection_id"], unique=False
    )
    op.create_index(op.f("ix_sso_logins_expires_at"), "sso_logins", ["expires_at"], unique=False)
    op.create_table(
        "sso_sessions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token_id", BigId, nullable=False),
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("sid", sa.String(length=255), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["sso_identities.id"],
            name=op.f("fk_sso_sessions_identity_id_sso_identities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_sso_sessions_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_sessions")),
        sa.UniqueConstraint("token_id", name=op.f("uq_sso_sessions_token_id")),
    )
    op.create_index(
        "ix_sso_sessions_identity_sid", "sso_sessions", ["identity_id", "sid"], unique=False
    )
    op.create_table(
        "sso_logouts_seen",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_logouts_seen")),
        sa.UniqueConstraint("jti_hash", name=op.f("uq_sso_logouts_seen_jti_hash")),
    )
    op.create_index(
        op.f("ix_sso_logouts_seen_expires_at"), "sso_logouts_seen", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("sso_logouts_seen")
    op.drop_table("sso_sessions")
    op.drop_table("sso_logins")
    op.drop_table("sso_identities")
    op.drop_table("sso_domains")
    op.drop_table("sso_connections")
