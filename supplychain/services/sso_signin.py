"""Company sign-in: the code flow with an org's IdP (PKCE S256, `state`, `nonce`), who the
person turns out to be, and the IdP's back-channel logout.

* **Start**: the email's domain picks the connection; a pending sign-in row keeps the state's
  and nonce's digests and the sealed PKCE verifier for 10 minutes; the browser keeps the state
  (its cookie), so a callback is believed only from the browser that started it.
* **Callback**: the pending row is used up first, in a transaction of its own (a refused or
  replayed callback finds nothing), then the code is exchanged and the ID token verified
  outside any transaction, then the person is found: by the (issuer, subject) link, else, the
  first time, by verified email among the org's people, else (with `create_users`) made a staff
  user of the org. Never a user of another org.
* **A fresh sign-in**: when the sign-in page was reached from an app's authorization request
  that asked for one (`prompt=login`, `max_age`: identity/prompts.py), the IdP is asked for
  `prompt=login` (and `max_age`), and its ID token's `auth_time` must say the person
  authenticated after the app asked (AUTH_TIME_SKEW allowed); missing (Core §3.1.2.1 makes it
  REQUIRED with `max_age`; oidc-provider, Keycloak and Okta send it with `prompt=login`) or
  older: refused, nothing signed in. The IdP's `auth_time` is what the code's `auth_time` then
  says: the person authenticated there, not here.
* **Back-channel logout**: a verified logout token ends the sign-in tokens of that IdP session
  (`sid`), or of that person (`sub`), through the same revocation as signing out.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.oauth2.base import OAuth2Error
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from supplychain.auth import LOGIN_TOKEN, Actor, digest
from supplychain.db import own_transaction
from supplychain.errors import BadRequest, Forbidden, Invalid
from supplychain.identity_sso import relying_party as rp_
from supplychain.identity_sso.outbound import idp_client
from supplychain.identity_sso.sealing import SealBroken, seal, unseal
from supplychain.identity_sso.tokens import (
    AUTH_TIME_SKEW,
    LOGOUT_MAX_AGE,
    Demand,
    TokenRefused,
    fetch_keys,
    unverified_claims,
    verify_id_token,
    verify_logout_token,
)
from supplychain.models import ApiToken, User
from supplychain.models.base import utcnow
from supplychain.models.sso import (
    MAX_SUBJECT,
    SsoConnection,
    SsoDomain,
    SsoIdentity,
    SsoLogin,
    SsoLogoutSeen,
    SsoSession,
)
from supplychain.services import accounts
from supplychain.services.audit import record_event
from supplychain.services.sso import connection_for_domain, email_domain, redirect_uri

log = logging.getLogger(__name__)

PENDING_LIFETIME = timedelta(minutes=10)
CLEAN_BATCH = 200
MAX_NEXT_URL = 2000  # SsoLogin.next_url's column
# What a saved issuer (an https URL of at most 500 characters) can never hold: such a name is
# nobody's, and is not sent to the database (PostgreSQL refuses a NUL byte with an error).
_NOT_AN_ISSUER = re.compile(r"[\x00-\x20\x7f-\x9f]")
# Control characters: no subject, session id, email or name the IdP sends may hold one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text_claim(value: Any, limit: int) -> str | None:
    """A claim as text we keep (a string of 1 to `limit` characters without control
    characters), or None: the IdP signs it, but it is still input (PostgreSQL refuses NUL)."""
    if not isinstance(value, str) or not value or len(value) > limit or _CONTROL.search(value):
        return None
    return value


MODES = ("page", "api")
# The ways a sign-in is refused, each with the one message the person reads.
STATE_REFUSED = "This sign-in link is not valid (forged, used already or expired): start again."
IDP_REFUSED = "Your company's sign-in did not confirm who you are. Try again, or ask your admin."
NOT_VERIFIED = "Your company account's email is not verified: company sign-in is refused."
OTHER_ORG = "This company account belongs to another organisation here: company sign-in is refused."
NOT_DOMAIN = "This email's domain does not sign in through your company's account here."
UNKNOWN_PERSON = (
    "No one with this email is registered for your organisation here: ask your admin to invite you."
)
NOT_AGAIN = (
    "The app asked you to sign in again, and your company's sign-in did not confirm that you"
    " just did: nothing was signed in. Try again, or ask your admin."
)


@dataclass(frozen=True)
class Pending:
    """A used-up pending sign-in with what its callback needs of the connection (plain values:
    the callback talks to the IdP outside any transaction)."""

    connection_id: int
    org_id: int
    issuer: str
    client_id: str
    client_secret: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str
    token_auth_method: str
    signing_algs: tuple[str, ...]
    create_users: bool
    domains: frozenset[str]
    nonce_hash: str
    verifier: str
    mode: str
    next_url: str | None


@dataclass(frozen=True)
class Started:
    """Where to send the person, and the state their browser keeps until the callback."""

    url: str
    state: str


@dataclass
class Signed:
    """A finished company sign-in: the sign-in token (the same kind the password gives)."""

    issued: accounts.IssuedToken
    mode: str
    next_url: str | None


def start_sign_in(
    session: Session,
    email: str,
    mode: str = "page",
    next_url: str | None = None,
    fresh: Demand | None = None,
) -> Started:
    """Begin the code flow for the connection of the email's domain (422 naming `email` when no
    org connected it); `fresh`: the person must authenticate again at the IdP. A `next_url`
    longer than the pending sign-in keeps (an app's authorization request can be up to the
    request line's 4 KB) is dropped: the person lands home instead."""
    assert mode in MODES
    if next_url is not None and len(next_url) > MAX_NEXT_URL:
        next_url = None
    connection = connection_for_domain(session, email)
    if connection is None:
        raise Invalid(
            "No company sign-in is set up for this email.",
            {"email": ["No organisation here signs in with this email's domain."]},
        )
    try:
        client_secret = unseal(connection.client_secret_sealed)
    except SealBroken:
        log.error("SSO connection %s: the client secret cannot be opened", connection.id)
        raise Invalid(
            "Company sign-in cannot be used now.",
            {"email": ["Your company sign-in needs its client secret saved again by an admin."]},
        ) from None
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    now = utcnow()
    session.execute(
        delete(SsoLogin).where(
            SsoLogin.id.in_(
                select(SsoLogin.id).where(SsoLogin.expires_at <= now).limit(CLEAN_BATCH)
            )
        )
    )
    session.add(
        SsoLogin(
            state_hash=digest(state),
            connection_id=connection.id,
            nonce_hash=digest(nonce),
            verifier_sealed=seal(verifier),
            mode=mode,
            next_url=next_url,
            created_at=now,
            expires_at=now + PENDING_LIFETIME,
        )
    )
    session.flush()
    # Building the URL sends nothing: no HTTP client.
    party = rp_.relying_party(
        None, connection.client_id, client_secret, redirect_uri(), "client_secret_basic"
    )
    reauth = None
    if fresh is not None:
        reauth = {"prompt": "login"}
        if fresh.max_age is not None:
            reauth["max_age"] = str(fresh.max_age)
    url = rp_.authorization_url(
        party, connection.authorization_endpoint, state, nonce, verifier, email.strip(), reauth
    )
    return Started(url=url, state=state)


def use_pending(session: Session, state: str, expected_state: str | None) -> Pending:
    """Use up the pending sign-in of `state` in a transaction of its own, committed whatever
    follows (so a callback works once); 400 when the state is not the one this browser started
    with, or is unknown, used or expired."""
    if (
        not state
        or not expected_state
        or not secrets.compare_digest(state.encode(), expected_state.encode())
    ):
        log.warning("Company sign-in callback refused: its state is not this browser's")
        raise BadRequest(STATE_REFUSED)
    session.rollback()  # nothing to end: the callback reads nothing before this
    now = utcnow()
    with own_transaction(session) as connection:
        login = connection.execute(
            select(
                SsoLogin.id, SsoLogin.connection_id, SsoLogin.nonce_hash, SsoLogin.verifier_sealed,
                SsoLogin.mode, SsoLogin.next_url,
            ).where(SsoLogin.state_hash == digest(state))
        ).first()  # fmt: skip
        if login is None:
            raise BadRequest(STATE_REFUSED)
        used = connection.execute(
            update(SsoLogin)
            .where(SsoLogin.id == login.id, SsoLogin.used_at.is_(None), SsoLogin.expires_at > now)
            .values(used_at=now)
        )
        if used.rowcount != 1:
            log.warning("Company sign-in callback refused: its state was used or has expired")
            raise BadRequest(STATE_REFUSED)
        found = connection.execute(
            select(SsoConnection.__table__).where(SsoConnection.id == login.connection_id)
        ).first()
        if found is None:
            raise BadRequest(STATE_REFUSED)
        domains = frozenset(
            connection.scalars(select(SsoDomain.domain).where(SsoDomain.connection_id == found.id))
        )
    try:
        secret, verifier = unseal(found.client_secret_sealed), unseal(login.verifier_sealed)
    except SealBroken:
        raise Forbidden(IDP_REFUSED) from None
    return Pending(
        connection_id=found.id,
        org_id=found.org_id,
        issuer=found.issuer,
        client_id=found.client_id,
        client_secret=secret,
        token_endpoint=found.token_endpoint,
        userinfo_endpoint=found.userinfo_endpoint,
        jwks_uri=found.jwks_uri,
        token_auth_method=found.token_auth_method,
        signing_algs=tuple(found.signing_algs),
        create_users=found.create_users,
        domains=domains,
        nonce_hash=login.nonce_hash,
        verifier=verifier,
        mode=login.mode,
        next_url=login.next_url,
    )


def refused(pending: Pending, reason: str, message: str = IDP_REFUSED) -> Forbidden:
    log.warning(
        "Company sign-in refused (org %s, issuer %s): %s", pending.org_id, pending.issuer, reason
    )
    return Forbidden(message)


def confirm_with_idp(
    pending: Pending, code: str, iss: str | None, allow_private: bool
) -> dict[str, Any]:
    """Exchange the code and verify the ID token against the IdP's JWKS; the person's claims,
    missing ones (email, name) read from userinfo. Talks only to the IdP, in no transaction.
    Every refusal is logged with its reason and answered with one message (403)."""
    if iss is not None and iss != pending.issuer:  # RFC 9207: a mix-up answer
        raise refused(pending, f"the authorization response names issuer {iss!r}")
    if not code or len(code) > 2000:
        raise refused(pending, "no authorization code")
    with idp_client(allow_private) as client:
        party = rp_.relying_party(
            client,
            pending.client_id,
            pending.client_secret,
            redirect_uri(),
            pending.token_auth_method,
        )
        try:
            tokens = rp_.exchange_code(party, pending.token_endpoint, code, pending.verifier)
        except (OAuth2Error, httpx.HTTPError, ValueError) as exc:
            raise refused(pending, f"the code exchange failed: {exc}") from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise refused(pending, "the token response has no ID token")
        try:
            keys = fetch_keys(client, pending.jwks_uri)
            claims = verify_id_token(
                id_token,
                keys,
                pending.issuer,
                pending.client_id,
                pending.nonce_hash,
                pending.signing_algs,
            )
        except TokenRefused as exc:
            raise refused(pending, f"ID token refused: {exc}") from None
        if (
            not {"email", "name"} <= claims.keys()
            or not {"email_verified", "xms_edov"} & claims.keys()
        ):
            claims = {**_userinfo(client, pending, tokens, claims["sub"]), **claims}
    return claims


def idp_auth_time(
    pending: Pending, claims: dict[str, Any], fresh: Demand | None, now: int
) -> int | None:
    """When the person authenticated at the IdP (the ID token's `auth_time`; None when it did
    not say or said a time to come). With `fresh` it must be there and no older than the app's
    request (less AUTH_TIME_SKEW): otherwise 403, the IdP reused its session."""
    value = claims.get("auth_time")
    at = int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if at is not None and at > now + AUTH_TIME_SKEW:
        log.warning("Company sign-in (org %s): auth_time %s is in the future", pending.org_id, at)
        at = None
    if fresh is None:
        return at
    if at is None:
        raise refused(
            pending, "a fresh sign-in was asked and the ID token has no auth_time", NOT_AGAIN
        )
    if at < fresh.since - AUTH_TIME_SKEW:
        raise refused(
            pending,
            f"a fresh sign-in was asked at {fresh.since} and auth_time is {at}",
            NOT_AGAIN,
        )
    return at


def _userinfo(
    client: httpx.Client, pending: Pending, tokens: dict[str, Any], subject: Any
) -> dict[str, Any]:
    """The userinfo claims, when they are about the ID token's person (Core §5.3.4); {} when the
    IdP has no userinfo endpoint."""
    access_token = tokens.get("access_token")
    if pending.userinfo_endpoint is None or not isinstance(access_token, str):
        return {}
    try:
        response = client.get(
            pending.userinfo_endpoint,
            headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
        )
        answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, RecursionError) as exc:
        raise refused(pending, f"userinfo failed: {exc}") from None
    if not isinstance(answer, dict):
        raise refused(pending, f"userinfo answered HTTP {response.status_code} without claims")
    if answer.get("sub") != subject:
        # Core §5.3.4: values of a userinfo answer about another `sub` MUST NOT be used.
        log.warning("Company sign-in (org %s): userinfo names another subject", pending.org_id)
        return {}
    # Only what identifies the person is taken from it, never `sub` itself.
    return {key: answer[key] for key in ("email", "email_verified", "name") if key in answer}


def complete_sign_in(
    session: Session, pending: Pending, claims: dict[str, Any], address: str
) -> Signed:
    """Find (or, with create_users, make) the person the verified claims name, and sign them in
    with a sign-in token like a password's. 403 with a clear message otherwise."""
    subject = _text_claim(claims.get("sub"), MAX_SUBJECT)
    if subject is None:
        raise refused(pending, "the subject is missing, too long or has control characters")
    identity = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.issuer == pending.issuer, SsoIdentity.subject == subject
        )
    )
    if identity is not None:
        user = session.get(User, identity.user_id)
        if user is None or user.org_id != pending.org_id:
            raise refused(pending, f"{subject!r} is linked to a user of another org", OTHER_ORG)
    else:
        user = _first_sign_in(session, pending, claims)
        identity = SsoIdentity(user_id=user.id, issuer=pending.issuer, subject=subject)
        session.add(identity)
    identity.last_sign_in_at = utcnow()
    if user.activated_at is None:
        # An invitation not yet taken up: the company account confirmed the person instead.
        user.activated_at = utcnow()
        user.invite_code_hash = None
    session.flush()
    issued = accounts.issue_token(session, user, name="company sign-in", kind=LOGIN_TOKEN)
    session.add(
        SsoSession(
            token_id=issued.token.id,
            identity_id=identity.id,
            sid=_text_claim(claims.get("sid"), MAX_SUBJECT),
        )
    )
    record_event(
        session,
        Actor(user=user, token_id=issued.token.id),
        "user.sso_sign_in",
        "user",
        user.id,
        data={"issuer": pending.issuer, "address": address},
    )
    return Signed(issued=issued, mode=pending.mode, next_url=pending.next_url)


def _first_sign_in(session: Session, pending: Pending, claims: dict[str, Any]) -> User:
    """The first company sign-in of a subject: the org's person with this verified email of one
    of the connection's domains, or (create_users) a new staff user of the org."""
    email = _text_claim(claims.get("email"), 200)
    if email is None or "@" not in email:
        raise refused(pending, "no usable email claim", NOT_VERIFIED)
    # Entra ID sends no `email_verified`; its optional claim `xms_edov` (the email's domain is
    # verified as the tenant's) says the same thing there.
    if claims.get("email_verified") is not True and claims.get("xms_edov") is not True:
        raise refused(pending, f"{email!r} is not verified", NOT_VERIFIED)
    email = accounts.normalise_email(email)
    if email_domain(email) not in pending.domains:
        raise refused(pending, f"{email!r} is not of the connection's domains", NOT_DOMAIN)
    user = accounts.find_user_by_email(session, email)
    if user is not None:
        if user.org_id != pending.org_id:
            raise refused(pending, f"{email!r} is a user of another org", OTHER_ORG)
        return user
    if not pending.create_users:
        raise refused(pending, f"{email!r} is unknown and create_users is off", UNKNOWN_PERSON)
    name = (_text_claim(claims.get("name"), 10_000) or "").strip()[:200] or email.split("@")[0]
    user = User(org_id=pending.org_id, email=email, name=name, role="staff", activated_at=utcnow())
    session.add(user)
    session.flush()
    record_event(
        session,
        Actor(user=user, token_id=0),
        "user.sso_create",
        "user",
        user.id,
        data={"issuer": pending.issuer, "email": email},
    )
    return user


# --- back-channel logout -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verifier:
    connection_id: int
    issuer: str
    client_id: str
    jwks_uri: str
    signing_algs: tuple[str, ...]


class LogoutRefused(ValueError):
    """A logout token that is not believed (Back-Channel Logout §2.8: answered 400)."""


def back_channel_logout(session: Session, logout_token: str, allow_private: bool) -> int:
    """End the sign-in tokens the IdP's verified logout token names: those of its `sid` when it
    has one, else every sign-in token of its `sub`. A replayed `jti` is refused. The number of
    sessions ended is returned."""
    try:
        unverified = unverified_claims(logout_token)
    except TokenRefused as exc:
        raise LogoutRefused(str(exc)) from None
    issuer, audience = unverified.get("iss"), unverified.get("aud")
    if not isinstance(issuer, str) or not issuer:
        raise LogoutRefused("The logout token names no issuer.")
    if len(issuer) > 500 or _NOT_AN_ISSUER.search(issuer):
        raise LogoutRefused("No connection has this issuer and audience.")
    audiences = audience if isinstance(audience, list) else [audience]
    candidates = [
        _Verifier(c.id, c.issuer, c.client_id, c.jwks_uri, tuple(c.signing_algs))
        for c in session.scalars(select(SsoConnection).where(SsoConnection.issuer == issuer))
        if c.client_id in audiences
    ]
    session.rollback()  # no transaction is held while the IdP's keys are fetched
    if not candidates:
        raise LogoutRefused("No connection has this issuer and audience.")
    verifier = candidates[0]
    try:
        with idp_client(allow_private) as client:
            keys = fetch_keys(client, verifier.jwks_uri)
        claims = verify_logout_token(
            logout_token, keys, verifier.issuer, verifier.client_id, verifier.signing_algs
        )
    except TokenRefused as exc:
        log.warning("Back-channel logout refused (issuer %s): %s", issuer, exc)
        raise LogoutRefused(str(exc)) from None
    for name in ("sub", "sid"):
        value = claims.get(name)
        if isinstance(value, str) and value and _text_claim(value, MAX_SUBJECT) is None:
            raise LogoutRefused(f"The logout token's {name} names nobody here.")
    _remember_jti(session, verifier.issuer, claims)
    identities = select(SsoIdentity.id).where(SsoIdentity.issuer == verifier.issuer)
    if isinstance(claims.get("sub"), str):
        identities = identities.where(SsoIdentity.subject == claims["sub"])
    sid = claims.get("sid")
    if isinstance(sid, str) and sid:
        tokens = select(SsoSession.token_id).where(
            SsoSession.identity_id.in_(identities), SsoSession.sid == sid
        )
    else:
        users = select(SsoIdentity.user_id).where(SsoIdentity.id.in_(identities))
        tokens = select(ApiToken.id).where(
            ApiToken.user_id.in_(users), ApiToken.kind == LOGIN_TOKEN
        )
    ended = 0
    for token in session.scalars(select(ApiToken).where(ApiToken.id.in_(tokens), ApiToken.is_live)):
        user = session.get(User, token.user_id)
        assert user is not None
        # The sign-out's own revocation: whatever signing out sets off, this sets off too.
        accounts.revoke_api_token(session, Actor(user=user, token_id=token.id), token.id)
        ended += 1
    log.info("Back-channel logout from %s ended %s session(s)", verifier.issuer, ended)
    return ended


def _remember_jti(session: Session, issuer: str, claims: dict[str, Any]) -> None:
    """Refuse a logout token seen before; remember this one until it has expired."""
    now = utcnow()
    key = digest(f"{issuer}\n{claims['jti']}")
    session.execute(
        delete(SsoLogoutSeen).where(
            SsoLogoutSeen.id.in_(
                select(SsoLogoutSeen.id).where(SsoLogoutSeen.expires_at <= now).limit(CLEAN_BATCH)
            )
        )
    )
    if session.scalar(select(SsoLogoutSeen.id).where(SsoLogoutSeen.jti_hash == key)) is not None:
        raise LogoutRefused("This logout token was used already.")
    until = claims.get("exp", claims["iat"] + LOGOUT_MAX_AGE)
    keep = max(timedelta(seconds=float(until) - now.timestamp()), timedelta(0))
    keep += timedelta(minutes=5)  # beyond the leeway any check allows
    session.execute(insert(SsoLogoutSeen).values(jti_hash=key, expires_at=now + keep))
