"""Access ends at once: the one service every change that takes an app away from someone calls.

Two doors lead in:
- `AccessWatch` around a change of who is covered (a grant revoked or made, an app deleted, a
  member added, removed or moved by hand or by an import, a supply link that changes tiers): it
  reads who has each app before (`apps.orgs_with_app`, the one rule) and after, publishes
  `app.shared` / `app.unshared` to the owner and the orgs that gained or lost an app, and ends
  the app sessions of the orgs that lost one. An org another grant still covers is in "after"
  too, so it keeps its access.
- `end_sign_in_sessions` when page sessions end (sign-out, password change or reset).

Ending app sessions is a fixed number of statements whatever their count, in the caller's
transaction: the back-channel logouts are written with INSERT ... SELECT (one row per app session
whose app has a logout URI) with their `logout` deliveries, then the sessions' tokens are revoked
and the sessions ended. The delivery workers sign and send the logout tokens (outbound/logout.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, insert, literal, select, update
from sqlalchemy.orm import Session

from supplychain.models import (
    App,
    Chain,
    Event,
    Grant,
    OidcClient,
    OidcLogout,
    OidcSession,
    OidcToken,
)
from supplychain.models.base import utcnow
from supplychain.services.app_access import BUILTIN_APPS, orgs_with_app
from supplychain.services.bulk import among_ids
from supplychain.services.chains import chain_graph
from supplychain.services.events import insert_pending_deliveries, publish

LOGOUT_CHANNEL = "logout"
LOGOUT_EVENT = "app.logout"  # an outbox record only: addressed to no org, in no feed


def end_app_sessions(session: Session, which: ColumnElement[bool], reason: str) -> int:
    """End the live app sessions `which` selects (a condition on OidcSession): queue a logout
    token to each one's app that has a back-channel logout URI, revoke their tokens, end them.
    Returns how many ended. 3 statements when there are none, 4 + 2 per chain otherwise."""
    live = (OidcSession.ended_at.is_(None), which)
    chains = list(
        session.scalars(
            select(App.chain_id)
            .join(OidcSession, OidcSession.app_id == App.id)
            .where(*live)
            .distinct()
        )
    )
    if not chains:
        return 0
    now = utcnow()
    event_ids = []
    for chain_id in chains:
        event_id = session.scalar(
            insert(Event)
            .values(
                chain_id=chain_id,
                type=LOGOUT_EVENT,
                subject_type="app",
                subject_id=None,
                data={"reason": reason},
                occurred_at=now,
            )
            .returning(Event.id)
        )
        event_ids.append(event_id)
        session.execute(
            insert(OidcLogout).from_select(
                ["event_id", "chain_id", "app_id", "client_id", "uri", "sub", "sid", "created_at"],
                select(
                    literal(event_id),
                    App.chain_id,
                    OidcSession.app_id,
                    OidcClient.client_id,
                    OidcClient.backchannel_logout_uri,
                    OidcSession.sub,
                    OidcSession.sid,
                    literal(now, type_=OidcLogout.created_at.type),
                )
                .join(App, App.id == OidcSession.app_id)
                .join(OidcClient, OidcClient.app_id == OidcSession.app_id)
                .where(
                    *live, App.chain_id == chain_id, OidcClient.backchannel_logout_uri.is_not(None)
                ),
            )
        )
    insert_pending_deliveries(
        session,
        select(
            OidcLogout.event_id, OidcLogout.chain_id, literal(LOGOUT_CHANNEL), OidcLogout.id
        ).where(among_ids(session, OidcLogout.event_id, event_ids)),
        "endpoint_id",
        now,
    )
    ended = select(OidcSession.id).where(*live).scalar_subquery()
    session.execute(
        update(OidcToken)
        .where(OidcToken.session_id.in_(ended), OidcToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(OidcSession)
        .where(*live)
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def end_sign_in_sessions(session: Session, login_token_ids: Iterable[int], reason: str) -> int:
    """Page sessions ended (sign-out, password change or reset): every app session they
    opened ends with them."""
    ids = sorted(set(login_token_ids))
    if not ids:
        return 0
    return end_app_sessions(session, among_ids(session, OidcSession.login_token_id, ids), reason)


def end_user_sessions(
    session: Session, user_id: int, keep_token_id: int | None, reason: str
) -> int:
    """Every app session of a person except those of the sign-in session `keep_token_id`."""
    which = OidcSession.user_id == user_id
    if keep_token_id is not None:
        which = which & (OidcSession.login_token_id != keep_token_id)
    return end_app_sessions(session, which, reason)


class AccessWatch:
    """Who has which custom app before a change and after it: `finish` tells the orgs that gained or
    lost an app and ends the app sessions of those that lost one.

    `app_keys` None watches every app with a live grant of one of `scopes` (a membership, group
    or tier change); the owner always has every app, so only partners can gain or lose one.

    `orgs` None watches every current member. A change that knows which orgs it can touch (an
    import: the members it moves; those it adds are given to `finish` as `joined`) names them,
    and the others are not looked at: the watch's work follows the change, not the chain. Both
    are read only when an app is watched, so a lazy iterable costs nothing when none is."""

    def __init__(
        self,
        session: Session,
        chain: Chain,
        app_keys: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        orgs: Iterable[int] | None = None,
    ) -> None:
        self.session = session
        self.chain = chain
        if app_keys is None:
            # The apps a grant of one of `scopes` (all scopes if None) could stop covering.
            stmt = select(Grant.app_key).where(
                Grant.chain_id == chain.id, Grant.revoked_at.is_(None)
            )
            if scopes is not None:
                stmt = stmt.where(Grant.scope_type.in_(list(scopes)))
            app_keys = session.scalars(stmt.distinct())
        wanted = set(app_keys) - set(BUILTIN_APPS)
        # Custom apps only: they are what people sign in to, and what WeCom tells of
        # (share_chain_change); the built-in apps are this server's own pages.
        self.ids: dict[str, int] = {}
        if wanted:
            self.ids = dict(
                session.execute(
                    select(App.key, App.id).where(
                        App.chain_id == chain.id, App.key.in_(sorted(wanted))
                    )
                ).all()
            )
        self.keys = sorted(self.ids)
        self.whole_chain = orgs is None
        self.members: set[int] = set()
        self.before: dict[str, set[int]] = {}
        if self.keys:
            tiers = chain_graph(session, chain).tiers if orgs is None else None
            self.members = (set(orgs) if tiers is None else set(tiers)) - {chain.owner_org_id}
            self.before = {key: self._holders(key, tiers) for key in self.keys}

    def _holders(self, key: str, tiers: Mapping[int, str] | None) -> set[int]:
        return orgs_with_app(self.session, self.chain, key, self.members, tiers) - {
            self.chain.owner_org_id
        }

    def finish(
        self, reason: str, gone: str | None = None, joined: Iterable[int] = ()
    ) -> dict[str, tuple[set[int], set[int]]]:
        """Compare with now; `gone` names an app that was deleted (nobody has it after), `joined`
        the orgs that became members during a change watching named `orgs`.
        Returns {key: (gained, lost)} for the apps whose holders changed."""
        changes: dict[str, tuple[set[int], set[int]]] = {}
        if not self.keys:
            return changes
        # Orgs that joined during the change count after it (a member added or re-added). One
        # graph for every app (rebuilt when the change touched members or links), when needed.
        tiers = None
        if self.whole_chain:
            tiers = chain_graph(self.session, self.chain).tiers
            self.members |= set(tiers) - {self.chain.owner_org_id}
        else:
            self.members |= set(joined) - {self.chain.owner_org_id}
            if self.members:
                tiers = chain_graph(self.session, self.chain).tiers
        for key in self.keys:
            after = set() if key == gone else self._holders(key, tiers)
            gained, lost = after - self.before[key], self.before[key] - after
            if gained or lost:
                changes[key] = (gained, lost)
        if not changes:
            return changes
        names = dict(
            self.session.execute(
                select(App.key, App.name).where(App.id.in_([self.ids[k] for k in changes]))
            ).all()
        )
        for key, (gained, lost) in changes.items():
            name = names.get(key, key)
            for type_, orgs in (("app.shared", gained), ("app.unshared", lost)):
                if orgs:
                    _publish(self.session, self.chain, type_, key, name, self.ids[key], orgs)
            if lost:
                end_app_sessions(
                    self.session,
                    (OidcSession.app_id == self.ids[key])
                    & among_ids(self.session, OidcSession.org_id, sorted(lost)),
                    reason,
                )
        return changes


def _publish(
    session: Session,
    chain: Chain,
    type_: str,
    key: str,
    name: str,
    app_id: int,
    orgs: set[int],
) -> None:
    data: dict[str, Any] = {
        "app": key,
        "app_name": name,
        "org_ids": [str(o) for o in sorted(orgs)],
    }
    publish(
        session,
        chain_id=chain.id,
        type=type_,
        subject_type="app",
        subject_id=app_id,
        data=data,
        org_ids=sorted(orgs | {chain.owner_org_id}),
    )
