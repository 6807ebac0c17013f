"""`Member.is_current` says the same in Python and in SQL: a member is current until removed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.extensions import db
from supplychain.models import Chain, Member, Org
from supplychain.models.base import utcnow


@pytest.fixture
def session(app) -> Iterator[Session]:
    """The app's session inside an app context; nothing is committed."""
    with app.app_context():
        yield db.session
        db.session.rollback()


def test_is_current_agrees_in_python_and_sql(session: Session):
    owner = Org(name="Acme", kind="manufacturer")
    stayed = Org(name="Stayed", kind="dealer")
    left = Org(name="Left", kind="dealer")
    session.add_all([owner, stayed, left])
    session.flush()
    chain = Chain(name="Dealers", owner_org_id=owner.id)
    session.add(chain)
    session.flush()
    members = [
        Member(chain_id=chain.id, org_id=owner.id),
        Member(chain_id=chain.id, org_id=stayed.id, custom_id="D-1"),
        Member(chain_id=chain.id, org_id=left.id, custom_id="D-2", removed_at=utcnow()),
    ]
    session.add_all(members)
    session.flush()

    in_python = {m.org_id for m in members if m.is_current}
    in_sql = set(
        session.scalars(select(Member.org_id).where(Member.chain_id == chain.id, Member.is_current))
    )
    assert in_python == in_sql == {owner.id, stayed.id}
    removed = set(
        session.scalars(
            select(Member.org_id).where(Member.chain_id == chain.id, ~Member.is_current)
        )
    )
    assert removed == {left.id}
