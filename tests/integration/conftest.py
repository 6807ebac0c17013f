"""Service tests on the real database: the app's session inside the test's rolled-back
transaction (see tests/conftest.py), and a small chain made with factories.

The services are called as the views call them: a session, a `ChainAccess` for the caller, plain
values; they flush and raise domain errors, and nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess, chain_access
from supplychain.auth import Actor
from supplychain.extensions import db
from supplychain.models import Chain, Group, Org, User
from supplychain.outbound import http as outbound_http
from tests.factories import (
    ChainFactory,
    ContactFactory,
    GrantFactory,
    GroupFactory,
    LinkFactory,
    MemberFactory,
    OrgFactory,
    UserFactory,
)
from tests.receiver import Receiver, running_receiver


@pytest.fixture
def session(app) -> Iterator[Session]:
    """The app's scoped session in an app context (rolled back with the test)."""
    with app.app_context():
        yield db.session


# key, org name, kind, custom id, group path
PARTNERS = [
    ("S1", "Steel Works", "supplier", "SUP-001", "Suppliers/Steel"),
    ("D1a", "Beijing Motors Sales", "dealer", "DLR-001", "Dealers/North China/Beijing"),
    ("D1b", "Shanghai Auto Trade", "dealer", "DLR-002", "Dealers/East China"),
    ("D2", "Tianjin Sub-dealer", "dealer", "DLR-101", "Dealers/North China/Tianjin"),
]
# supplier -> customer
LINKS = [("S1", "owner"), ("owner", "D1a"), ("owner", "D1b"), ("D1a", "D2")]


@dataclass
class Net:
    """The world's chain as rows: owner admin and staff; supplier S1 (U1); dealers D1a, D1b
    (D1); sub-dealer D2 under D1a; each partner with an admin; orders and notices shared with
    all partners; and an outsider org that is in no chain."""

    session: Session
    chain: Chain
    orgs: dict[str, Org]
    users: dict[str, User]

    def as_(self, who: str) -> ChainAccess:
        """The chain as `who` (owner, staff, S1, D1a, D1b, D2) stands in it."""
        return chain_access(self.session, Actor(self.users[who], 0), self.chain.id)

    def org(self, key: str) -> int:
        return self.orgs[key].id


def _group(chain: Chain, path: str, made: dict[str, Group]) -> Group:
    parent = None
    segments = path.split("/")
    for depth, segment in enumerate(segments):
        sub_path = "/".join(segments[: depth + 1])
        if sub_path not in made:
            made[sub_path] = GroupFactory(chain=chain, parent=parent, segment=segment)
        parent = made[sub_path]
    assert parent is not None
    return parent


@pytest.fixture
def net(session: Session) -> Net:
    owner = OrgFactory(name="Acme Motors", kind="manufacturer")
    chain = ChainFactory(owner=owner, name="Acme dealers")
    orgs = {"owner": owner, "outsider": OrgFactory(name="Rival Motors", kind="manufacturer")}
    users = {
        "owner": UserFactory(org=owner, role="admin"),
        "staff": UserFactory(org=owner, role="staff"),
    }
    groups: dict[str, Group] = {}
    for key, name, kind, custom_id, path in PARTNERS:
        member = MemberFactory(
            chain=chain,
            org__name=name,
            org__kind=kind,
            custom_id=custom_id,
            group=_group(chain, path, groups),
        )
        orgs[key] = member.org
        users[key] = ContactFactory(member=member, user__role="admin").user
    for supplier, customer in LINKS:
        LinkFactory(chain=chain, supplier_id=orgs[supplier].id, customer_id=orgs[customer].id)
    for app_key in ("notices", "orders"):
        GrantFactory(chain=chain, app_key=app_key)
    return Net(session, chain, orgs, users)


# --- webhook deliveries: a real receiver and the settings to reach it --------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


@pytest.fixture
def settings(app, monkeypatch):
    """Loopback receivers allowed, a short timeout and an immediate retry schedule; the
    sender's client is rebuilt with them and closed after the test."""
    values = {
        "WEBHOOK_ALLOW_PRIVATE": True,
        "WEBHOOK_TIMEOUT": 1,
        "WEBHOOK_RETRY_SCHEDULE": (0, 0),
        "WORKER_LEASE_SECONDS": 30,
    }
    outbound_http.release(app)
    for name, value in values.items():
        monkeypatch.setitem(app.config, name, value)
    yield app.config
    outbound_http.release(app)
