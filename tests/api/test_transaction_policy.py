"""Transaction policy declared on the views: which requests write, which own their transactions,
and how SQLite begins them."""

import os

import pytest

from supplychain.db import READ_METHODS, Transaction, UndeclaredWrite, policy_of, request_policy

sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's BEGIN and its guard"
)

# Every view whose policy is not its HTTP method's default, by (endpoint, method).
DECLARED = {
    ("notices.NoticeDetail", "GET"): Transaction.WRITES,  # a recipient's first read
    ("reconciliation.Statement", "GET"): Transaction.WRITES,  # an audit event
    ("reconciliation.Runs", "POST"): Transaction.OWN,  # the run commits in its own sessions
    ("ui.notice", "GET"): Transaction.WRITES,
    ("ui.statement_file", "GET"): Transaction.WRITES,
    ("ui.recon_run_now", "POST"): Transaction.OWN,
    # WeCom's calls: gettoken is a GET that issues a token, and its reading calls are POSTs.
    ("wecom.gettoken", "GET"): Transaction.WRITES,
    ("wecom.get_chain_group", "POST"): Transaction.READS,
    ("wecom.get_chain_corpinfo_list", "POST"): Transaction.READS,
    ("wecom.get_chain_corpinfo", "POST"): Transaction.READS,
    ("wecom.rule_list_ids", "POST"): Transaction.READS,
    ("wecom.rule_get_rule_info", "POST"): Transaction.READS,
    # Company sign-in: starting one records it; the IdP's callback signs the person in.
    ("sso_start.SsoStart", "GET"): Transaction.WRITES,
    ("sso_callback.callback", "GET"): Transaction.WRITES,
    # The OpenID Connect provider: the JWKS makes the first signing key, an authorization
    # issues a code; userinfo and introspection are POSTs that only read.
    ("oidc.jwks", "GET"): Transaction.WRITES,
    ("oidc.authorize", "GET"): Transaction.WRITES,
    ("oidc.userinfo", "POST"): Transaction.READS,
    ("oidc.introspect", "POST"): Transaction.READS,
    ("wecom.list_app_share_info", "POST"): Transaction.READS,
}


def _default(method: str) -> Transaction:
    return Transaction.READS if method in READ_METHODS else Transaction.WRITES


def test_only_the_declared_views_differ_from_their_method(app):
    found = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            policy = policy_of(app, rule.endpoint, method)
            if policy is not _default(method):
                found[rule.endpoint, method] = policy
    assert found == DECLARED


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/chains/1/notices/2", Transaction.WRITES),
        ("HEAD", "/api/v1/chains/1/notices/2", Transaction.WRITES),
        ("GET", "/api/v1/chains/1/notices", Transaction.READS),
        ("POST", "/api/v1/chains/1/notices", Transaction.WRITES),
        ("POST", "/api/v1/chains/1/notices/2/ack", Transaction.WRITES),
        ("GET", "/api/v1/chains/1/reconciliation/statements/2026-01", Transaction.WRITES),
        ("GET", "/api/v1/chains/1/reconciliation/runs", Transaction.READS),
        ("POST", "/api/v1/chains/1/reconciliation/runs", Transaction.OWN),
        ("PUT", "/api/v1/chains/1/reconciliation/schedule", Transaction.WRITES),
        ("GET", "/chains/1/notices/2", Transaction.WRITES),
        ("POST", "/chains/1/notices/2/ack", Transaction.WRITES),
        ("GET", "/chains/1/statements/download", Transaction.WRITES),
        ("GET", "/chains/1/statements", Transaction.READS),
        ("GET", "/chains/1/statements/2026-01", Transaction.READS),
        ("POST", "/chains/1/statements/2026-01/confirm", Transaction.WRITES),
        ("POST", "/chains/1/statements/2026-01/disputes", Transaction.WRITES),
        ("GET", "/chains/1/reconciliation/statements", Transaction.READS),
        ("POST", "/chains/1/reconciliation/disputes/3/resolve", Transaction.WRITES),
        ("POST", "/chains/1/reconciliation/runs", Transaction.OWN),
        ("GET", "/chains/1/reconciliation", Transaction.READS),
        ("GET", "/no/such/page", Transaction.READS),
        ("POST", "/no/such/page", Transaction.WRITES),
    ],
)
def test_a_request_has_its_views_policy(app, method, path, expected):
    with app.test_request_context(path, method=method):
        assert request_policy() is expected


def _notice_for_d1a(world) -> str:
    w = world
    grant = {"app": "notices", "scope": {"type": "all"}}
    assert w.api.post(w.path("/grants"), grant, token=w.owner.token).status_code == 201
    body = {"kind": "supply", "title": "Model X", "items": [], "audience": {"tiers": ["D1"]}}
    sent = w.api.post(w.path("/notices"), body, token=w.owner.token)
    assert sent.status_code == 201, sent.text
    return w.path(f"/notices/{sent.json()['id']}")


@sqlite_only
def test_a_get_that_writes_takes_the_write_lock_at_begin(live_world, count_queries):
    """The first read of a notice is recorded: its GET begins IMMEDIATE, the inbox's plainly.
    Over real HTTP: a rolled-back test's requests nest savepoints and issue no BEGIN."""
    world = live_world
    notice = _notice_for_d1a(world)
    d1a = world.parties["D1a"]
    with count_queries() as opening:
        assert world.api.get(notice, token=d1a.token).json()["my"]["read_at"] is not None
    with count_queries() as listing:
        assert world.api.get(world.path("/notices"), token=d1a.token).status_code == 200
    assert [s for s in opening.statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert [s for s in listing.statements if s.startswith("BEGIN")] == ["BEGIN DEFERRED"]


@sqlite_only
def test_an_undeclared_get_that_writes_fails_loudly(app, live_world, monkeypatch, caplog):
    """Without its declaration the notice's GET would write in a read transaction (and meet
    "database is locked" under load only): in testing it fails at the first write instead."""
    world = live_world
    notice = _notice_for_d1a(world)
    detail = app.view_functions["notices.NoticeDetail"].view_class
    monkeypatch.delattr(detail.get, "transaction_policy")
    token = world.parties["D1a"].token
    response = app.test_client().get(
        f"/api/v1{notice}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 500
    (failure,) = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(failure, UndeclaredWrite)
    assert str(failure).startswith("GET notices.NoticeDetail ran UPDATE")
