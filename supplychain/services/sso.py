"""Company sign-in (SSO) settings: an org's admins connect the org's own OpenID Connect provider
(issuer checked through its discovery document first, client secret sealed, email domains that
belong to one org only), and the rule that such an org may switch passwords off for its people.

The sign-in itself is `services.sso_signin`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from supplychain.auth import Actor
from supplychain.errors import Conflict, Forbidden, Invalid, NotFound
from supplychain.identity_sso.discovery import Discovered, DiscoveryFailed, discover
from supplychain.identity_sso.sealing import seal
from supplychain.models import User
from supplychain.models.base import utcnow
from supplychain.models.sso import SsoConnection, SsoDomain, SsoIdentity
from supplychain.services.audit import record_event

CALLBACK_PATH = "/auth/sso/callback"
BACKCHANNEL_LOGOUT_PATH = "/auth/sso/backchannel-logout"
# The browser (or script) keeps the state of the sign-in it started in its session under this
# key: the callback believes a sign-in only with it (the API and the pages start it alike).
STATE_KEY = "sso_state"
# ... and, beside it, the fresh sign-in the IdP was asked for ([since, max_age]; set or dropped at
# every start): the callback then checks the ID token's `auth_time` (services/sso_signin.py).
FRESH_KEY = "sso_fresh"


def redirect_uri() -> str:
    """The redirect URI every IdP is registered with (on SUPPLYCHAIN_BASE_URL, never a Host)."""
    return current_app.config["BASE_URL"] + CALLBACK_PATH


def backchannel_logout_uri() -> str:
    """The back-channel logout URI every IdP is registered with."""
    return current_app.config["BASE_URL"] + BACKCHANNEL_LOGOUT_PATH


@dataclass
class ConnectionView:
    """A connection as its admins see it: without the secret, with the two addresses to register."""

    connection: SsoConnection

    def __getattr__(self, name: str):
        return getattr(self.connection, name)

    @property
    def redirect_uri(self) -> str:
        return redirect_uri()

    @property
    def backchannel_logout_uri(self) -> str:
        return backchannel_logout_uri()


def _require_org_admin(actor: Actor, org_id: int | None) -> int:
    """Only the org's own admins: another org's is 404 (its settings are none of theirs)."""
    if org_id is None or org_id != actor.org_id:
        raise NotFound("No such org.")
    if not actor.is_admin:
        raise Forbidden("Only your org's admins manage its company sign-in.")
    return org_id


def connection_of(session: Session, org_id: int) -> SsoConnection | None:
    """The org's connection, if it has one."""
    return session.scalar(select(SsoConnection).where(SsoConnection.org_id == org_id))


def get_connection(session: Session, actor: Actor, org_id: int | None) -> ConnectionView:
    """The org's connection (its admins); 404 when none is set up."""
    found = connection_of(session, _require_org_admin(actor, org_id))
    if found is None:
        raise NotFound("Company sign-in is not set up for this org.")
    return ConnectionView(found)


def _domains_taken(session: Session, org_id: int, domains: list[str]) -> list[str]:
    return list(
        session.scalars(
            select(SsoDomain.domain)
            .join(SsoConnection, SsoConnection.id == SsoDomain.connection_id)
            .where(SsoDomain.domain.in_(domains), SsoConnection.org_id != org_id)
            .order_by(SsoDomain.domain)
        )
    )


def _discovered(issuer: str, private_ok: bool) -> Discovered:
    try:
        return discover(issuer, private_ok)
    except DiscoveryFailed as exc:
        raise Invalid("The issuer's discovery failed.", {"issuer": [str(exc)]}) from None


def save_connection(
    session: Session,
    actor: Actor,
    org_id: int | None,
    *,
    issuer: str,
    client_id: str,
    email_domains: list[str],
    client_secret: str | None = None,
    create_users: bool = False,
    required: bool = False,
    allow_private: bool = False,
) -> ConnectionView:
    """Connect (or change) the org's IdP: its admins only; the issuer's discovery document is
    fetched and checked first (422 naming `issuer`); a domain another org connected is 409; the
    secret is sealed and never shown again (left out on a change, the stored one stays)."""
    org_id = _require_org_admin(actor, org_id)
    existing = connection_of(session, org_id)
    if existing is None and not client_secret:
        raise Invalid("A client secret is needed.", {"client_secret": ["Required."]})
    taken = _domains_taken(session, org_id, email_domains)
    if taken:
        raise Conflict(
            "Another org signs in with this domain.",
            {"email_domains": [f"Another org signs in with {domain}." for domain in taken]},
        )
    # The only slow part, done before anything is written.
    found = _discovered(issuer.strip(), allow_private)
    connection = existing or SsoConnection(org_id=org_id)
    connection.issuer = found.issuer
    connection.client_id = client_id
    if client_secret:
        connection.client_secret_sealed = seal(client_secret)
    connection.create_users = create_users
    connection.required = required
    _take_endpoints(connection, found)
    connection.updated_at = utcnow()
    kept = {d.domain: d for d in connection.domains}
    connection.domains = [kept.get(domain) or SsoDomain(domain=domain) for domain in email_domains]
    session.add(connection)
    session.flush()
    record_event(
        session,
        actor,
        "sso.update" if existing else "sso.create",
        "org",
        org_id,
        data={
            "issuer": connection.issuer,
            "client_id": client_id,
            "email_domains": email_domains,
            "create_users": create_users,
            "required": required,
            "secret_changed": bool(client_secret),
        },
    )
    return ConnectionView(connection)


def _take_endpoints(connection: SsoConnection, found: Discovered) -> None:
    connection.authorization_endpoint = found.authorization_endpoint
    connection.token_endpoint = found.token_endpoint
    connection.userinfo_endpoint = found.userinfo_endpoint
    connection.jwks_uri = found.jwks_uri
    connection.token_auth_method = found.token_auth_method
    connection.signing_algs = list(found.signing_algs)


def check_connection(
    session: Session, actor: Actor, org_id: int | None, allow_private: bool
) -> Discovered:
    """Run the saved issuer's discovery again (the settings page's test button); 422 naming
    `issuer` when it fails. Nothing is written."""
    view = get_connection(session, actor, org_id)
    return _discovered(view.connection.issuer, allow_private)


def delete_connection(session: Session, actor: Actor, org_id: int | None) -> None:
    """Switch company sign-in off for the org: its domains are freed, its people's links to the
    IdP forgotten (a later connection links them afresh), passwords work again. Sessions already
    signed in stay until they end."""
    view = get_connection(session, actor, org_id)
    connection = view.connection
    people = select(User.id).where(User.org_id == connection.org_id)
    session.execute(
        delete(SsoIdentity).where(
            SsoIdentity.issuer == connection.issuer, SsoIdentity.user_id.in_(people)
        )
    )
    session.delete(connection)
    session.flush()
    record_event(session, actor, "sso.delete", "org", connection.org_id)


# --- passwords switched off ----------------------------------------------------------------------


def email_domain(email: str) -> str:
    """The domain of an email as connections list it (lower case, no trailing dot)."""
    return email.strip().rpartition("@")[2].lower().rstrip(".")


def connection_for_domain(session: Session, email: str) -> SsoConnection | None:
    """The connection that answers for this email's domain, if any."""
    domain = email_domain(email)
    if not domain:
        return None
    return session.scalar(
        select(SsoConnection)
        .join(SsoDomain, SsoDomain.connection_id == SsoConnection.id)
        .where(SsoDomain.domain == domain)
    )


def _required_for_org(session: Session, org_id: int) -> SsoConnection | None:
    return session.scalar(
        select(SsoConnection).where(SsoConnection.org_id == org_id, SsoConnection.required)
    )


def refuse_password_for_email(session: Session, email: str) -> None:
    """A password sign-in for an email of a domain whose org requires company sign-in is
    refused before any password is checked (403 naming the IdP)."""
    connection = connection_for_domain(session, email)
    if connection is None or not connection.required:
        return
    # The domain is one org's claim, not proof it owns every address of it: a person of another
    # org with such an email is not that org's to lock out.
    org_id = session.scalar(
        select(User.org_id).where(func.lower(User.email) == email.strip().lower())
    )
    if org_id is None or org_id == connection.org_id:
        _refuse(connection)


def refuse_password_for_user(session: Session, user: User) -> None:
    """A person whose org requires company sign-in uses no password here (sign-in and invitation
    activation alike; API tokens are not affected): 403 naming the IdP."""
    connection = _required_for_org(session, user.org_id)
    if connection is not None:
        _refuse(connection)


def _refuse(connection: SsoConnection) -> None:
    raise Forbidden(
        f"Your organisation signs in with its company account at {connection.issuer}: "
        "use “Sign in with your company account”."
    )
