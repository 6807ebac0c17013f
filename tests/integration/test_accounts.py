"""The accounts service: single-use invitations, sign-in, tokens."""

from __future__ import annotations

import pytest

from supplychain.auth import Actor, actor_from_token
from supplychain.errors import Invalid, NotFound, Unauthorized
from supplychain.services import accounts
from tests.factories import PASSWORD, UserFactory


def test_an_invitation_code_activates_once(session):
    user = UserFactory(invited=True, email="li.wei@bj.example")
    code = accounts.assign_invite_code(user)
    # Each sign-in is a request of its own: its throttling claim ends the session's transaction
    # first, so what came before is committed (to the test's savepoint) as a request would have.
    session.commit()
    with pytest.raises(Invalid) as short:
        accounts.activate(session, code, "short", "192.0.2.7")
    assert set(short.value.errors) == {"password"}
    assert user.password_hash is None  # the code still works
    issued = accounts.activate(session, f" {code.lower()} ", PASSWORD, "192.0.2.7")
    assert issued.user.id == user.id and issued.token.kind == "login"
    assert user.activated_at is not None and user.invite_code_hash is None
    session.commit()
    with pytest.raises(NotFound):
        accounts.activate(session, code, PASSWORD, "192.0.2.7")


def test_sign_in_says_the_same_for_an_unknown_email_and_a_wrong_password(session):
    UserFactory(email="d1a@bj.example")
    session.commit()  # each sign-in is a request of its own (see above)
    with pytest.raises(Unauthorized) as wrong:
        accounts.login(session, "d1a@bj.example", "not the password", "192.0.2.7")
    with pytest.raises(Unauthorized) as unknown:
        accounts.login(session, "nobody@bj.example", PASSWORD, "192.0.2.7")
    assert wrong.value.message == unknown.value.message == accounts.BAD_CREDENTIALS
    invited = UserFactory(invited=True, email="new@bj.example")
    session.commit()
    with pytest.raises(Unauthorized):
        accounts.login(session, invited.email, PASSWORD, "192.0.2.7")
    issued = accounts.login(session, " D1A@bj.example ", PASSWORD, "192.0.2.7")
    assert actor_from_token(session, issued.secret).user_id == issued.user.id


def test_a_revoked_token_stops_working_and_only_its_owner_revokes_it(session):
    user, other = UserFactory(), UserFactory()
    actor = Actor(user, 0)
    issued = accounts.create_api_token(session, actor, "ci")
    assert [t.name for t in accounts.list_api_tokens(session, actor)] == ["ci"]
    with pytest.raises(NotFound):
        accounts.revoke_api_token(session, Actor(other, 0), issued.token.id)
    accounts.revoke_api_token(session, actor, issued.token.id)
    with pytest.raises(Unauthorized):
        actor_from_token(session, issued.secret)
    assert accounts.list_api_tokens(session, actor) == []
    with pytest.raises(NotFound):
        accounts.revoke_api_token(session, actor, issued.token.id)
