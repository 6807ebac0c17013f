"""Apps a chain offers, grants that share them with partners, and the check every app view makes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, Invalid, NotFound
from supplychain.graph import valid_tier
from supplychain.ids import parse_id
from supplychain.models import App, Grant
from supplychain.models.base import utcnow
from supplychain.services.app_access import BUILTIN_APPS, usable_app_keys
from supplychain.services.app_sessions import AccessWatch
from supplychain.services.audit import record_action
from supplychain.services.chains import current_member
from supplychain.services.groups import find_group, normalise_group_path

APP_KEY = re.compile(r"^[a-z][a-z0-9_-]{1,39}\Z")


@dataclass
class AppView:
    """An app as listed: built-in or custom."""

    key: str
    name: str
    url: str | None
    description: str | None
    builtin: bool
    id: int | None = None


def list_apps(session: Session, access: ChainAccess) -> list[AppView]:
    """Built-in and custom apps; partners see only those granted to them."""
    usable = set(usable_app_keys(session, access))
    views = [
        AppView(key=key, name=name, url=None, description=text, builtin=True)
        for key, (name, text) in BUILTIN_APPS.items()
    ]
    for app in session.scalars(
        select(App).where(App.chain_id == access.chain_id).order_by(App.key)
    ):
        views.append(
            AppView(
                key=app.key,
                name=app.name,
                url=app.url,
                description=app.description,
                builtin=False,
                id=app.id,
            )
        )
    return [view for view in views if view.key in usable]


def register_app(
    session: Session, access: ChainAccess, key: str, name: str, url: str, description: str | None
) -> App:
    """Register a custom app (owner admins); keys are unique per chain and never a built-in's."""
    access.require_owner_admin()
    if not APP_KEY.match(key):
        raise Invalid("Bad app key.", {"key": ["2-40 of a-z 0-9 _ -, starting with a letter."]})
    if key in BUILTIN_APPS:
        raise Conflict("That key belongs to a built-in app.", {"key": ["Reserved."]})
    if session.scalar(select(App.id).where(App.chain_id == access.chain_id, App.key == key)):
        raise Conflict("An app with this key exists already.", {"key": ["Already in use."]})
    app = App(chain_id=access.chain_id, key=key, name=name, url=url, description=description)
    session.add(app)
    session.flush()
    record_action(session, access, "app.create", "app", app.id, data={"key": key, "url": url})
    return app


def _normalise_scope(
    session: Session, access: ChainAccess, scope_type: str, value: Any
) -> str | None:
    if scope_type == "all":
        if value not in (None, ""):
            raise Invalid("Scope 'all' takes no value.", {"scope": {"value": ["Leave empty."]}})
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid("Scope value missing.", {"scope": {"value": ["Required for this scope."]}})
    if scope_type == "tier":
        if not valid_tier(value):
            raise Invalid("Unknown tier.", {"scope": {"value": [f"Not a tier: {value}"]}})
        return value
    if scope_type == "group":
        path = normalise_group_path(value, "value")
        if find_group(session, access.chain_id, path) is None:
            raise Invalid("Unknown group.", {"scope": {"value": [f"Unknown group: {path}"]}})
        return path
    org_id = parse_id(value.strip())
    if not org_id or current_member(session, access.chain_id, org_id) is None:
        raise Invalid("Unknown org.", {"scope": {"value": [f"Not a member: {value.strip()}"]}})
    return str(org_id)


def create_grant(
    session: Session, access: ChainAccess, app_key: str, scope_type: str, value: Any
) -> Grant:
    """Share an app with all partners, a tier, a group (and subgroups) or one org (owner admins)."""
    access.require_owner_admin()
    # A key no app can have is unknown without asking the database (PostgreSQL refuses NUL).
    known = app_key in BUILTIN_APPS or (
        APP_KEY.match(app_key) is not None
        and session.scalar(
            select(App.id).where(App.chain_id == access.chain_id, App.key == app_key)
        )
    )
    if not known:
        raise Invalid("Unknown app.", {"app": [f"No app with key {app_key!r} in this chain."]})
    scope_value = _normalise_scope(session, access, scope_type, value)

    watch = AccessWatch(session, access.chain, [app_key])
    duplicate = session.scalar(
        select(Grant).where(
            Grant.chain_id == access.chain_id,
            Grant.app_key == app_key,
            Grant.scope_type == scope_type,
            Grant.scope_value.is_(None)
            if scope_value is None
            else Grant.scope_value == scope_value,
            Grant.revoked_at.is_(None),
        )
    )
    if duplicate is not None:
        raise Conflict("The same grant exists already.", {"grant_id": [str(duplicate.id)]})
    grant = Grant(
        chain_id=access.chain_id,
        app_key=app_key,
        scope_type=scope_type,
        scope_value=scope_value,
        created_by=access.actor.user_id,
    )
    session.add(grant)
    session.flush()
    watch.finish("grant.created")
    record_action(
        session,
        access,
        "grant.create",
        "grant",
        grant.id,
        data={"app": app_key, "scope": {"type": scope_type, "value": scope_value}},
    )
    return grant


def grants_query(access: ChainAccess) -> Select:
    """Live grants of the chain (owner admins)."""
    access.require_owner_admin()
    return (
        select(Grant)
        .where(Grant.chain_id == access.chain_id, Grant.revoked_at.is_(None))
        .order_by(Grant.id)
    )


def revoke_grant(session: Session, access: ChainAccess, grant_id: int | None) -> None:
    """Revoke a grant; partners it covered (and no other grant covers) lose the app at once."""
    access.require_owner_admin()
    grant = session.get(Grant, grant_id) if grant_id else None
    if grant is None or grant.chain_id != access.chain_id or grant.revoked_at is not None:
        raise NotFound("No such grant.")

    watch = AccessWatch(session, access.chain, [grant.app_key])
    grant.revoked_at = utcnow()
    session.flush()
    # Partners no other grant covers lose the app at once: tokens, sessions, logout tokens.
    watch.finish("grant.revoked")
    record_action(
        session,
        access,
        "grant.revoke",
        "grant",
        grant.id,
        data={
            "app": grant.app_key,
            "scope": {"type": grant.scope_type, "value": grant.scope_value},
        },
    )
