"""factory-boy factories for the models, in the app's scoped session (cookiecutter-flask style).

They only flush: the test's transaction (see tests/conftest.py) decides what is kept. Use them
inside an app context. Rows that carry a rule (a member's tier, a link's cycle check, a grant's
scope) are better made through the service that enforces it; these factories make plain rows
and keep a chain's `graph_version` honest when they add members or links behind its back.

Passwords: every user made here has PASSWORD, hashed once per test session with the app's test
cost (scrypt is slow on purpose). The hash is a real one of the real password: signing in checks
it as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from supplychain.auth import hash_password as real_hash_password
from supplychain.config import TestConfig
from supplychain.extensions import db
from supplychain.models import Chain, Contact, Grant, Group, Link, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.services import accounts

PASSWORD = "correct horse battery"


@cache
def password_hash() -> str:
    """PASSWORD hashed once for the whole run, at the cost the test app uses."""
    return generate_password_hash(PASSWORD, method=TestConfig().PASSWORD_HASH_METHOD)


def _hash_once(password: str) -> str:
    return password_hash() if password == PASSWORD else real_hash_password(password)


@contextmanager
def shared_password_hash() -> Iterator[None]:
    """While inside, the account services hash PASSWORD with the one precomputed hash (any other
    password is hashed as usual): for fixtures that sign up many people through the services."""
    original = accounts.hash_password
    accounts.hash_password = _hash_once
    try:
        yield
    finally:
        accounts.hash_password = original


class BaseFactory(SQLAlchemyModelFactory):
    """Rows added to the app's scoped session and flushed, never committed."""

    class Meta:
        abstract = True
        sqlalchemy_session = db.session
        sqlalchemy_session_persistence = "flush"


class OrgFactory(BaseFactory):
    class Meta:
        model = Org

    name = factory.Sequence(lambda n: f"Org {n}")
    kind = "dealer"


class UserFactory(BaseFactory):
    """An activated user who signs in with PASSWORD; `invited=True` for one still to activate."""

    class Meta:
        model = User

    class Params:
        invited = factory.Trait(password_hash=None, activated_at=None)

    org = factory.SubFactory(OrgFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "staff"
    password_hash = factory.LazyFunction(password_hash)
    activated_at = factory.LazyFunction(utcnow)


def _bump_graph(chain_id: int) -> None:
    # What the directory service does on every link or membership change: cached tiers of the
    # old version are never read again.
    db.session.execute(
        update(Chain).where(Chain.id == chain_id).values(graph_version=Chain.graph_version + 1)
    )


class ChainFactory(BaseFactory):
    """A chain with its owner org as member (tier core), as `create_chain` leaves it."""

    class Meta:
        model = Chain

    class Params:
        owner = factory.SubFactory(OrgFactory, kind="manufacturer")

    name = factory.Sequence(lambda n: f"Chain {n}")
    owner_org_id = factory.SelfAttribute("owner.id")

    @factory.post_generation
    def owner_member(obj, create, extracted, **kwargs):  # noqa: N805
        db.session.add(Member(chain_id=obj.id, org_id=obj.owner_org_id, custom_id=None))
        db.session.flush()


class GroupFactory(BaseFactory):
    """A top-level group by default; give `parent` for a subgroup."""

    class Meta:
        model = Group

    class Params:
        chain = None
        parent = None
        segment = factory.Sequence(lambda n: f"Group {n}")

    chain_id = factory.SelfAttribute("chain.id")
    parent_id = factory.LazyAttribute(lambda o: o.parent.id if o.parent else None)
    name = factory.SelfAttribute("segment")
    path = factory.LazyAttribute(
        lambda o: f"{o.parent.path}/{o.segment}" if o.parent else o.segment
    )
    # Distinct in every chain (the root is 1), as next_group_numbers would give them.
    number = factory.Sequence(lambda n: n + 2)


class MemberFactory(BaseFactory):
    """A partner org in a chain (a new org unless `org` is given), unlinked until linked."""

    class Meta:
        model = Member

    class Params:
        chain = None
        org = factory.SubFactory(OrgFactory)
        group = None

    chain_id = factory.SelfAttribute("chain.id")
    org_id = factory.SelfAttribute("org.id")
    custom_id = factory.Sequence(lambda n: f"M-{n:04d}")
    group_id = factory.LazyAttribute(lambda o: o.group.id if o.group else None)

    @factory.post_generation
    def graph_version(obj, create, extracted, **kwargs):  # noqa: N805
        _bump_graph(obj.chain_id)


class ContactFactory(BaseFactory):
    """A person listed for a member org in a chain."""

    class Meta:
        model = Contact

    class Params:
        member = None

    chain_id = factory.SelfAttribute("member.chain_id")
    org_id = factory.SelfAttribute("member.org_id")
    user = factory.SubFactory(UserFactory, org=factory.SelfAttribute("..member.org"))


class LinkFactory(BaseFactory):
    """A supply edge between two members (no cycle check: use the service to test that rule)."""

    class Meta:
        model = Link

    class Params:
        chain = None

    chain_id = factory.SelfAttribute("chain.id")

    @factory.post_generation
    def graph_version(obj, create, extracted, **kwargs):  # noqa: N805
        _bump_graph(obj.chain_id)


class GrantFactory(BaseFactory):
    """An app shared with all partners of a chain unless a scope is given."""

    class Meta:
        model = Grant

    class Params:
        chain = None

    chain_id = factory.SelfAttribute("chain.id")
    app_key = "notices"
    scope_type = "all"
    scope_value = None
