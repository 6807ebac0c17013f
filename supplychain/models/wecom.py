"""What the WeCom-compatible API keeps: its access tokens and its contact import jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base, BigId, intpk
from supplychain.models.columns import chain_fk, org_fk, timestamp_now, user_fk


class WeComAccessToken(Base):
    """A WeCom `access_token` from /cgi-bin/gettoken: it acts as the admin whose API token was
    the `corpsecret`, for a fixed time, and dies with that API token. Only its SHA-256 is kept."""

    __tablename__ = "wecom_access_tokens"

    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    api_token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp_now]
    expires_at: Mapped[datetime]


class WeComImportJob(Base):
    """One import_chain_contact call: its job id, whose it is, and what getresult reports."""

    __tablename__ = "wecom_import_jobs"

    id: Mapped[intpk]
    jobid: Mapped[str] = mapped_column(String(64), unique=True)
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    org_id: Mapped[org_fk] = mapped_column(index=True)
    user_id: Mapped[user_fk]
    # WeCom's task status: 1 started, 2 running, 3 done.
    status: Mapped[int] = mapped_column(Integer, default=1)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[timestamp_now]
    finished_at: Mapped[datetime | None]
