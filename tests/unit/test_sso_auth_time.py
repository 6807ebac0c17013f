"""The company IdP's `auth_time` when an app asked for a fresh sign-in: every way an ID token can
say it (or not), against the request's time and the allowed clock skew."""

from __future__ import annotations

import pytest

from supplychain.errors import Forbidden
from supplychain.identity_sso.tokens import AUTH_TIME_SKEW, Demand
from supplychain.services.sso_signin import NOT_AGAIN, Pending, idp_auth_time

NOW = 1_800_000_000
ASKED = Demand(since=NOW - 30, max_age=None)
PENDING = Pending(
    connection_id=1, org_id=1, issuer="https://idp.example", client_id="c", client_secret="s",
    token_endpoint="https://idp.example/token", userinfo_endpoint=None,
    jwks_uri="https://idp.example/jwks", token_auth_method="client_secret_basic",
    signing_algs=("RS256",), create_users=False, domains=frozenset(), nonce_hash="n",
    verifier="v", mode="page", next_url=None,
)  # fmt: skip


@pytest.mark.parametrize(
    ("auth_time", "expected"),
    [
        (NOW - 5, NOW - 5),  # after the request
        (float(NOW - 5), NOW - 5),  # a JSON number with a fraction part
        (ASKED.since - AUTH_TIME_SKEW, ASKED.since - AUTH_TIME_SKEW),  # the skew, at its edge
        (NOW + AUTH_TIME_SKEW, NOW + AUTH_TIME_SKEW),  # a clock a little ahead
    ],
)
def test_a_fresh_auth_time_is_taken(auth_time, expected):
    assert idp_auth_time(PENDING, {"auth_time": auth_time}, ASKED, NOW) == expected


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"auth_time": None},
        {"auth_time": "1800000000"},
        {"auth_time": True},
        {"auth_time": ASKED.since - AUTH_TIME_SKEW - 1},  # older than the request, beyond skew
        {"auth_time": NOW - 3600},
        {"auth_time": NOW + AUTH_TIME_SKEW + 1},  # from the future: not believed
    ],
)
def test_a_fresh_sign_in_without_a_fresh_auth_time_is_refused(claims):
    with pytest.raises(Forbidden) as refused:
        idp_auth_time(PENDING, claims, ASKED, NOW)
    assert refused.value.message == NOT_AGAIN


def test_without_a_demand_any_auth_time_is_kept_and_a_bad_one_dropped():
    assert idp_auth_time(PENDING, {"auth_time": NOW - 86400}, None, NOW) == NOW - 86400
    assert idp_auth_time(PENDING, {}, None, NOW) is None
    assert idp_auth_time(PENDING, {"auth_time": "yesterday"}, None, NOW) is None
    assert idp_auth_time(PENDING, {"auth_time": NOW + 3600}, None, NOW) is None
