"""One statement-access rule: a partner gets only its own statement, the owner any member's."""

from __future__ import annotations

import pytest

from supplychain.access import ChainAccess
from supplychain.auth import Actor
from supplychain.errors import Forbidden
from supplychain.models import Chain, Member, User
from supplychain.services.reconciliation.statements import statement_org

OWNER, PARTNER, OTHER = 1, 2, 3


def access_of(org_id: int) -> ChainAccess:
    actor = Actor(user=User(id=org_id * 10, org_id=org_id), token_id=0)
    return ChainAccess(
        chain=Chain(id=1, owner_org_id=OWNER),
        actor=actor,
        member=Member(chain_id=1, org_id=org_id),
    )


@pytest.mark.parametrize(
    ("caller", "asked", "gets"),
    [
        (OWNER, None, OWNER),
        (OWNER, OWNER, OWNER),
        (OWNER, PARTNER, PARTNER),
        (OWNER, OTHER, OTHER),
        (PARTNER, None, PARTNER),
        (PARTNER, PARTNER, PARTNER),
    ],
)
def test_whose_statement(caller, asked, gets):
    assert statement_org(access_of(caller), asked) == gets


@pytest.mark.parametrize("asked", [OWNER, OTHER])
def test_a_partner_never_gets_another_orgs_statement(asked):
    with pytest.raises(Forbidden) as refused:
        statement_org(access_of(PARTNER), asked)
    assert refused.value.message == "A partner may download only its own statement."
