"""Company sign-in (SSO): an org's connection to its own OpenID Connect provider, the people
linked to it by (issuer, subject), sign-ins under way, and what back-channel logout remembers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supplychain.models.base import Base, BigId, intpk, str200, str500
from supplychain.models.columns import org_fk, timestamp_now, user_fk

MAX_DOMAINS = 50
# Claims an IdP may send are capped in width where they are kept.
MAX_SUBJECT = 255


class SsoConnection(Base):
    """One org's identity provider. The client secret is kept encrypted with a key derived from
    SECRET_KEY (it must be sent to the IdP, so it cannot be hashed) and is never shown again; the
    endpoints are those the issuer's discovery document named when the connection was saved."""

    __tablename__ = "sso_connections"

    id: Mapped[intpk]
    org_id: Mapped[org_fk] = mapped_column(unique=True)
    issuer: Mapped[str500]
    client_id: Mapped[str200]
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    create_users: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    authorization_endpoint: Mapped[str] = mapped_column(String(2000))
    token_endpoint: Mapped[str] = mapped_column(String(2000))
    userinfo_endpoint: Mapped[str | None] = mapped_column(String(2000))
    jwks_uri: Mapped[str] = mapped_column(String(2000))
    # client_secret_basic or client_secret_post, as the IdP's discovery says it takes.
    token_auth_method: Mapped[str] = mapped_column(String(50), default="client_secret_basic")
    # The ID token signing algorithms the IdP announced (asymmetric ones only are accepted).
    signing_algs: Mapped[list[Any]]
    created_at: Mapped[timestamp_now]
    updated_at: Mapped[timestamp_now]

    domains: Mapped[list[SsoDomain]] = relationship(
        order_by="SsoDomain.domain", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def email_domains(self) -> list[str]:
        return [d.domain for d in self.domains]


class SsoDomain(Base):
    """An email domain a connection answers for: one org per domain, in the whole network."""

    __tablename__ = "sso_domains"

    id: Mapped[intpk]
    connection_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True)


class SsoIdentity(Base):
    """A person of this server known to an IdP as (issuer, subject): made at the first company
    sign-in (by verified email), and from then on the link decides who signs in."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    issuer: Mapped[str500]
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT))
    created_at: Mapped[timestamp_now]
    last_sign_in_at: Mapped[datetime | None]


class SsoLogin(Base):
    """A company sign-in under way, from the redirect to the IdP until its callback (10 minutes,
    used once). Only the state's digest is kept, and the nonce's; the PKCE verifier is sealed
    as the client secret is. `mode` says how the callback answers: a page session or JSON."""

    __tablename__ = "sso_logins"

    id: Mapped[intpk]
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    connection_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sso_connections.id", ondelete="CASCADE"), index=True
    )
    nonce_hash: Mapped[str] = mapped_column(String(64))
    verifier_sealed: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(10))
    next_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[timestamp_now]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class SsoSession(Base):
    """A sign-in token issued by a company sign-in, with the IdP's session id (`sid`) it came
    from, so that the IdP's back-channel logout of that session ends exactly it."""

    __tablename__ = "sso_sessions"
    __table_args__ = (Index("ix_sso_sessions_identity_sid", "identity_id", "sid"),)

    id: Mapped[intpk]
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id"), unique=True)
    identity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sso_identities.id", ondelete="CASCADE")
    )
    sid: Mapped[str | None] = mapped_column(String(MAX_SUBJECT))
    created_at: Mapped[timestamp_now]


class SsoLogoutSeen(Base):
    """A logout token already acted on (digest of issuer and `jti`), until it has expired:
    a replayed one is refused."""

    __tablename__ = "sso_logouts_seen"

    id: Mapped[intpk]
    jti_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
