"""Custom apps with their client side: registering an app with redirect URIs makes it an OpenID
Connect client; reading, changing, deleting it, rotating its secret, and the orgs it is shared
with. Registration itself stays `apps.register_app` (the key rules live there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, NotFound
from supplychain.identity.clients import (
    checked_logout_uri,
    checked_redirect_uris,
    make_client,
    rotate_secret,
)
from supplychain.models import App, Grant, Member, OidcClient, OidcSession
from supplychain.models.base import utcnow
from supplychain.services import app_sessions as at_once
from supplychain.services.app_access import BUILTIN_APPS, orgs_with_app, require_app
from supplychain.services.apps import APP_KEY, register_app
from supplychain.services.audit import record_action
from supplychain.services.chains import chain_graph

UNSET: Any = object()


@dataclass
class AppClientView:
    """A custom app as the API shows it; `client_secret` only when just made."""

    id: int | None
    key: str
    name: str
    url: str | None
    description: str | None
    builtin: bool = False
    agentid: int | None = None
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None


def view(app: App, client: OidcClient | None, secret: str | None = None) -> AppClientView:
    return AppClientView(
        id=app.id,
        key=app.key,
        name=app.name,
        url=app.url,
        description=app.description,
        agentid=app.id,
        client_id=client.client_id if client else None,
        client_secret=secret,
        redirect_uris=list(client.redirect_uris or []) if client else [],
        backchannel_logout_uri=client.backchannel_logout_uri if client else None,
    )


def register(
    session: Session,
    access: ChainAccess,
    *,
    key: str,
    name: str,
    url: str,
    description: str | None = None,
    redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    allow_private: bool = False,
) -> AppClientView:
    """Register a custom app (owner admins); with `redirect_uris` it is a client at once."""
    access.require_owner_admin()
    uris = checked_redirect_uris(redirect_uris) if redirect_uris is not None else None
    logout = checked_logout_uri(backchannel_logout_uri, allow_private)
    app = register_app(session, access, key, name, url, description)
    if uris is None:
        return view(app, None)
    client, secret = make_client(session, app, uris, logout)
    record_action(
        session,
        access,
        "app.client.create",
        "app",
        app.id,
        data={"client_id": client.client_id, "redirect_uris": uris},
    )
    return view(app, client, secret)


def _require_key_form(key: str) -> None:
    """404 for a path segment no app key can be (`APP_KEY`): it names no app, and must not reach
    the database (PostgreSQL refuses a NUL byte with an error)."""
    if not APP_KEY.match(key):
        raise NotFound("No such app.")


def _custom_app(session: Session, access: ChainAccess, key: str) -> App:
    _require_key_form(key)
    app = session.scalar(select(App).where(App.chain_id == access.chain_id, App.key == key))
    if app is None:
        if key in BUILTIN_APPS:
            raise Conflict("Built-in apps cannot be changed.")
        raise NotFound("No such app.")
    return app


def get(session: Session, access: ChainAccess, key: str) -> AppClientView:
    """One custom app: owner admins see its client; partners it is shared with see the app."""
    _require_key_form(key)
    if not access.is_owner or not access.actor.is_admin:
        require_app(session, access, key)
    app = session.scalar(select(App).where(App.chain_id == access.chain_id, App.key == key))
    if app is None:
        raise NotFound("No such app.")
    if access.is_owner and access.actor.is_admin:
        return view(app, session.get(OidcClient, app.id))
    return view(app, None)


def update_app(
    session: Session,
    access: ChainAccess,
    key: str,
    *,
    name: str | None = None,
    url: str | None = None,
    description: Any = UNSET,
    redirect_uris: list[str] | None = None,
    backchannel_logout_uri: Any = UNSET,
    allow_private: bool = False,
) -> AppClientView:
    """Change an app; redirect URIs given to an app that had none make it a client (the answer
    holds the new secret, once)."""
    access.require_owner_admin()
    app = _custom_app(session, access, key)
    client = session.get(OidcClient, app.id)
    uris = checked_redirect_uris(redirect_uris) if redirect_uris is not None else None
    logout = UNSET
    if backchannel_logout_uri is not UNSET:
        logout = checked_logout_uri(backchannel_logout_uri, allow_private)
    changed: dict[str, Any] = {}
    if name is not None:
        app.name = changed["name"] = name
    if url is not None:
        app.url = changed["url"] = url
    if description is not UNSET:
        app.description = changed["description"] = description
    secret = None
    if client is None and uris is not None:
        client, secret = make_client(session, app, uris, None if logout is UNSET else logout)
        changed["client_id"] = client.client_id
    elif client is not None:
        if uris is not None:
            client.redirect_uris = changed["redirect_uris"] = uris
        if logout is not UNSET:
            client.backchannel_logout_uri = changed["backchannel_logout_uri"] = logout
    session.flush()
    if changed:
        record_action(session, access, "app.update", "app", app.id, data=changed)
    return view(app, client, secret)


def new_secret(session: Session, access: ChainAccess, key: str) -> AppClientView:
    """A new client secret, shown once; the old one stops working now."""
    access.require_owner_admin()
    app = _custom_app(session, access, key)
    client = session.get(OidcClient, app.id)
    if client is None:
        raise Conflict("The app has no redirect URIs: it is not a client yet.")
    secret = rotate_secret(client)
    record_action(session, access, "app.secret.rotate", "app", app.id)
    return view(app, client, secret)


def delete(session: Session, access: ChainAccess, key: str) -> None:
    """Delete an app: its grants are revoked, every session of it ends (logout tokens queued),
    and its client, codes and tokens are deleted with it."""
    access.require_owner_admin()
    app = _custom_app(session, access, key)
    watch = at_once.AccessWatch(session, access.chain, [key])
    at_once.end_app_sessions(session, OidcSession.app_id == app.id, "app.deleted")
    session.execute(
        update(Grant)
        .where(Grant.chain_id == access.chain_id, Grant.app_key == key, Grant.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    watch.finish("app.deleted", gone=key)
    record_action(session, access, "app.delete", "app", app.id, data={"key": key})
    session.delete(app)
    session.flush()


def custom_apps(session: Session, access: ChainAccess) -> list[AppClientView]:
    """The chain's custom apps with their client ids (owner admins; others: none)."""
    if not (access.is_owner and access.actor.is_admin):
        return []
    rows = session.execute(
        select(App, OidcClient)
        .outerjoin(OidcClient, OidcClient.app_id == App.id)
        .where(App.chain_id == access.chain_id)
        .order_by(App.key)
    ).all()
    return [view(app, client) for app, client in rows]


def shared_tiles(session: Session, access: ChainAccess) -> list[AppClientView]:
    """The custom apps the caller's org may use in the chain (a partner's home page tiles)."""
    from supplychain.services.app_access import usable_app_keys

    usable = set(usable_app_keys(session, access))
    rows = session.scalars(
        select(App).where(App.chain_id == access.chain_id).order_by(App.name)
    ).all()
    return [view(app, None) for app in rows if app.key in usable]


@dataclass
class Share:
    org_id: int
    name: str
    tier: str


def shares(session: Session, access: ChainAccess, key: str) -> list[Share]:
    """The partner orgs that may use the app now (owner admins), by name."""
    access.require_owner_admin()
    if key not in BUILTIN_APPS:
        _custom_app(session, access, key)
    graph = chain_graph(session, access.chain)
    members = set(graph.tiers) - {access.chain.owner_org_id}
    holders = orgs_with_app(session, access.chain, key, members) - {access.chain.owner_org_id}
    rows = session.execute(
        select(Member)
        .where(Member.chain_id == access.chain_id, Member.is_current)
        .order_by(Member.org_id)
    ).scalars()
    return [
        Share(m.org_id, m.org.name, graph.tier_of(m.org_id)) for m in rows if m.org_id in holders
    ]
