"""Orgs, users, chains and everything that makes up a chain's directory."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
    func,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supplychain.models.base import Base, BigId, intpk, str50, str200, str500, unique_where, utcnow
from supplychain.models.columns import chain_fk, org_fk, timestamp_now, user_fk

ORG_KINDS = ("manufacturer", "supplier", "dealer", "distributor", "logistics", "other")
USER_ROLES = ("admin", "staff")
MAX_CUSTOM_ID = 64  # members.custom_id's width
MAX_MOBILE = 50  # users.mobile's width
# A phone number as people write it: digits with spaces, parentheses, dashes, an optional +.
MOBILE_PATTERN = re.compile(r"^\+?[0-9][0-9 ()-]{2,40}\Z")


def valid_custom_id(custom_id: str | None) -> bool:
    """The custom-id rule: a member's dealer or supplier code has 1 to MAX_CUSTOM_ID characters."""
    return custom_id is not None and 0 < len(custom_id) <= MAX_CUSTOM_ID


class Org(Base):
    """One real enterprise; global, so the same supplier can sit in several chains."""

    __tablename__ = "orgs"

    id: Mapped[intpk]
    name: Mapped[str200]
    kind: Mapped[str50]
    created_at: Mapped[timestamp_now]
    # Ship notices (services.shipping): the GS1 company prefix its SSCCs are made of, the last
    # SSCC serial it used (never reused), and the address its labels and delivery notes show.
    gs1_company_prefix: Mapped[str | None] = mapped_column(String(10))
    sscc_serial: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    address: Mapped[str | None] = mapped_column(String(500))


class User(Base):
    """A person in exactly one org; in chains where that org is a partner, a fixed external member."""

    __tablename__ = "users"

    id: Mapped[intpk]
    org_id: Mapped[org_fk] = mapped_column(index=True)
    # None for a contact known by mobile only (a WeCom import names people by mobile): such a
    # person is keyed by (org, mobile) instead, and is sent no mail.
    email: Mapped[str200 | None] = mapped_column(unique=True)
    name: Mapped[str200]
    mobile: Mapped[str50 | None]
    title: Mapped[str200 | None]
    role: Mapped[str50] = mapped_column(default="staff")
    password_hash: Mapped[str500 | None]
    invite_code_hash: Mapped[str200 | None] = mapped_column(unique=True)
    activated_at: Mapped[datetime | None]
    created_at: Mapped[timestamp_now]
    # The language mail is written in ("en" or "zh"); None until chosen: Chinese.
    language: Mapped[str | None] = mapped_column(String(5))

    org: Mapped[Org] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        # A person without an email is known by mobile: one such person per mobile in an org.
        unique_where("email IS NULL", "uq_users_org_mobile_without_email", "org_id", "mobile"),
    )


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a leaked table does not leak tokens.

    A sign-in token (kind "login") expires after SUPPLYCHAIN_SESSION_DAYS without use: each use
    may push `expires_at` further (see `supplychain.auth`). An API token lives until revoked,
    or until its fixed `expires_at` when made with one."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    name: Mapped[str200]
    kind: Mapped[str50] = mapped_column(default="api")  # "login" or "api"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp_now]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    @hybrid_property
    def is_live(self) -> bool:
        """Neither revoked nor expired: the one rule behind every token check, in Python and SQL."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls) -> ColumnElement[bool]:
        # The database's clock, so statements built once (the per-request token look-ups) hold
        # no frozen "now".
        return and_(
            cls.revoked_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > func.now())
        )


class Chain(Base):
    """A network owned by one core org; graph_version is bumped by any link or membership change."""

    __tablename__ = "chains"

    id: Mapped[intpk]
    name: Mapped[str200]
    owner_org_id: Mapped[org_fk] = mapped_column(index=True)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    graph_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[timestamp_now]


# The number of a chain's root (the chain itself, which is no group row); groups count from 2.
ROOT_GROUP_NUMBER = 1


class Group(Base):
    """A node of a chain's group tree, addressed by its path such as `Dealers/North China`.

    `number` is the group's small numeric id within its chain, given at creation and never
    changed (the WeCom-compatible API's `groupid`): the root is ROOT_GROUP_NUMBER, groups count
    on from it in the order they were made."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("chain_id", "path"),
        UniqueConstraint("chain_id", "number"),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("groups.id"))
    path: Mapped[str500]
    name: Mapped[str200]
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[timestamp_now]


class Member(Base):
    """An org's membership in a chain; removal keeps the row (history) and sets removed_at."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("chain_id", "org_id"),
        # custom_id is unique among the chain's current members; removed ones free their code.
        unique_where(
            "removed_at IS NULL", "uq_members_chain_custom_id_active", "chain_id", "custom_id"
        ),
    )

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    org_id: Mapped[org_fk] = mapped_column(index=True)
    custom_id: Mapped[str | None] = mapped_column(String(MAX_CUSTOM_ID))
    group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("groups.id"), index=True)
    joined_at: Mapped[timestamp_now]
    removed_at: Mapped[datetime | None]

    org: Mapped[Org] = relationship(lazy="joined", innerjoin=True)
    group: Mapped[Group | None] = relationship(lazy="joined")

    @hybrid_property
    def is_current(self) -> bool:
        """The org belongs to the chain now: not removed (removal keeps the row for history)."""
        return self.removed_at is None

    @is_current.inplace.expression
    @classmethod
    def _is_current_sql(cls) -> ColumnElement[bool]:
        return cls.removed_at.is_(None)


class Contact(Base):
    """A user listed in a chain's directory for its org: a fixed external member for partners."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("chain_id", "user_id"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    org_id: Mapped[org_fk] = mapped_column(index=True)
    user_id: Mapped[user_fk] = mapped_column(index=True)
    created_at: Mapped[timestamp_now]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Link(Base):
    """A supply edge: goods flow from supplier to customer. The links of a chain form a DAG."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("chain_id", "supplier_id", "customer_id"),)

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    supplier_id: Mapped[org_fk]
    customer_id: Mapped[org_fk]
    created_at: Mapped[timestamp_now]


class VisibilityRule(Base):
    """Lets members matched by `viewers` see members and contacts matched by `visible`."""

    __tablename__ = "visibility_rules"

    id: Mapped[intpk]
    chain_id: Mapped[chain_fk] = mapped_column(index=True)
    viewers: Mapped[dict[str, Any]]
    visible: Mapped[dict[str, Any]]
    # What a WeCom add_rule said of the owner's side, kept to be echoed: `{"departmentids": [1],
    # "userids": ["12"]}`. Partners see every owner contact anyway (visible names the owner org).
    owner_range: Mapped[dict[str, Any] | None]
    created_at: Mapped[timestamp_now]
