"""The OpenID Connect provider's state: apps as clients, signing keys, app sessions, codes,
tokens, and the back-channel logout messages waiting to be sent.

Every secret is stored as a SHA-256 digest (client secrets, codes, access and refresh tokens);
signing keys are stored encrypted with a key derived from SECRET_KEY (identity/keys.py).

An *app session* is one sign-in session of the pages (a login token) used by one app: its `sid`
is what the ID tokens and the logout tokens carry. Codes and tokens hang off it, so ending it
(access lost, sign-out, password change) ends everything the app holds for that person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, BigId, intpk, str500
from supplychain.models.columns import timestamp_now, user_fk


class OidcClient(Base):
    """A custom app that signs people in through this server: its client id, the digest of its
    secret (shown once), its exact redirect URIs and its back-channel logout URI."""

    __tablename__ = "oidc_clients"

    app_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[list[Any]]
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[timestamp_now]
    secret_rotated_at: Mapped[datetime | None]


class OidcKey(Base):
    """An RS256 signing key. The newest active one signs; keys rotated out stay published in the
    JWKS until `retired_at` (a day at least), so ID tokens they signed still verify."""

    __tablename__ = "oidc_keys"

    id: Mapped[intpk]
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    public_jwk: Mapped[dict[str, Any]]
    private_key: Mapped[str] = mapped_column(Text)  # AES-GCM sealed PEM, base64
    created_at: Mapped[timestamp_now]
    rotated_out_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class OidcSession(Base):
    """One page sign-in session (login token) as one app knows it."""

    __tablename__ = "oidc_sessions"
    __table_args__ = (
        UniqueConstraint("app_id", "login_token_id"),
        Index("ix_oidc_sessions_login_token_id", "login_token_id"),
        Index("ix_oidc_sessions_user_id", "user_id"),
    )

    id: Mapped[intpk]
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[user_fk]
    org_id: Mapped[int] = mapped_column(BigId)
    login_token_id: Mapped[int] = mapped_column(BigId)
    sub: Mapped[str] = mapped_column(String(64))  # the person's pairwise subject in the chain
    sid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[timestamp_now]
    ended_at: Mapped[datetime | None]


class OidcCode(Base):
    """An authorization code: single use, short-lived, bound to its redirect URI and PKCE."""

    __tablename__ = "oidc_codes"

    id: Mapped[intpk]
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("oidc_sessions.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str500]
    nonce: Mapped[str | None] = mapped_column(String(500), index=True)  # replays are refused
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[timestamp_now]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OidcToken(Base):
    """An access token and the refresh token issued with it (digests only). Tokens that descend
    from one code form a family (`code_id`): a reused code or refresh token revokes it whole."""

    __tablename__ = "oidc_tokens"
    __table_args__ = (Index("ix_oidc_tokens_session_id", "session_id"),)

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("oidc_sessions.id", ondelete="CASCADE")
    )
    code_id: Mapped[int] = mapped_column(BigId, index=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str500]
    issued_at: Mapped[timestamp_now]
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OidcLogout(Base):
    """A back-channel logout to send: what the logout token names (the app's client id, the
    person's `sub`, the session's `sid`) and where it goes. The `logout` delivery channel points
    at it (`deliveries.endpoint_id`); the token is signed when sent. No foreign keys: the app may
    be deleted before its logouts leave."""

    __tablename__ = "oidc_logouts"

    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(BigId, index=True)  # the batch it was queued in
    chain_id: Mapped[int] = mapped_column(BigId)
    app_id: Mapped[int] = mapped_column(BigId)
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(2000))
    sub: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[timestamp_now]
