"""Access ends at once, told to the apps: back-channel logout tokens reach a real HTTP receiver
through the delivery worker; a fixed number of statements whatever the number of sessions; key
rotation; a second server on the same database honours the first one's tokens and revocations."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from supplychain.extensions import db
from supplychain.models import Delivery, OidcLogout
from supplychain.outbound.logout import EVENT
from supplychain.outbound.worker import Worker
from tests.api.oidc_helpers import Rp, grant, query, register
from tests.ui.conftest import Web

pytestmark = pytest.mark.committed
ISSUER = "http://localhost:8000"


def _grant_id(world, app_key):
    items = world.api.get(world.path("/grants"), token=world.owner.token).json()["items"]
    return next(g["id"] for g in items if g["app"] == app_key)


def _signed_in(app, world, client, who="D1a") -> Rp:
    web = Web(app)
    web.login(world.parties[who].email)
    return Rp(web, client["client_id"], client["client_secret"])


def test_revoking_the_grant_sends_a_logout_token_the_app_can_verify(app, world, settings, receiver):
    client = register(world, backchannel_logout_uri=receiver.url + "/bcl")
    grant(world, "portal", "tier", "D1")
    rp = _signed_in(app, world, client)
    tokens = rp.tokens()
    id_claims = rp.id_token_claims(tokens["id_token"])
    other = _signed_in(app, world, client, "D1b")
    other.tokens()
    r = world.api.delete(
        world.path(f"/grants/{_grant_id(world, 'portal')}"), token=world.owner.token
    )
    assert r.status_code == 204
    assert Worker(app).run_once() == 2
    assert len(receiver.receipts) == 2
    jwks = KeySet.import_key_set(rp.web.transport.send("GET", "/oauth/jwks").json())
    seen = set()
    for receipt in receiver.receipts:
        assert receipt.path == "/bcl"
        assert receipt.headers["content-type"] == "application/x-www-form-urlencoded"
        [token] = parse_qs(receipt.body.decode())["logout_token"]
        decoded = jwt.decode(token, jwks, algorithms=["RS256"])
        assert decoded.header["typ"] == "logout+jwt" and decoded.header["kid"]
        c = decoded.claims
        assert c["iss"] == ISSUER and c["aud"] == client["client_id"]
        assert c["events"] == {EVENT: {}} and "nonce" not in c
        assert c["jti"] and c["iat"] <= c["exp"] <= c["iat"] + 120
        seen.add((c["sub"], c["sid"]))
    assert (id_claims["sub"], id_claims["sid"]) in seen
    with app.app_context():
        statuses = {d.status for d in db.session.query(Delivery).filter_by(channel="logout")}
        db.session.remove()
    assert statuses == {"succeeded"}


def test_a_failed_logout_is_retried(app, world, settings, receiver):
    client = register(world, backchannel_logout_uri=receiver.url + "/bcl")
    grant(world, "portal", "org", world.parties["D1a"].org_id)
    _signed_in(app, world, client).tokens()
    receiver.script = ["500"]
    world.api.delete(world.path(f"/grants/{_grant_id(world, 'portal')}"), token=world.owner.token)
    worker = Worker(app)
    worker.run_once()
    worker.run_once()
    assert [r.mode for r in receiver.receipts] == ["500", "ok"]


def test_private_logout_uris_are_refused_unless_allowed(world):
    body = {
        "key": "portal",
        "name": "P",
        "url": "https://p.example/",
        "redirect_uris": ["https://p.example/cb"],
        "backchannel_logout_uri": "http://127.0.0.1:9/bcl",
    }
    r = world.api.post(world.path("/apps"), body, token=world.owner.token)
    assert r.status_code == 422 and "backchannel_logout_uri" in r.json()["errors"]


def test_ending_many_app_sessions_takes_a_fixed_number_of_statements(
    app, world, settings, receiver, count_queries
):
    client = register(world, backchannel_logout_uri=receiver.url + "/bcl")

    def revoke_with(sessions: int) -> int:
        grant(world, "portal", "tier", "D1")
        for i in range(sessions):
            _signed_in(app, world, client, ("D1a", "D1b")[i % 2]).tokens()
        with count_queries() as counter:
            world.api.delete(
                world.path(f"/grants/{_grant_id(world, 'portal')}"), token=world.owner.token
            )
        return counter.count

    few, many = revoke_with(1), revoke_with(6)
    assert few == many
    with app.app_context():
        assert db.session.query(OidcLogout).count() == 7
        db.session.remove()


def test_rotated_keys_still_verify_and_new_tokens_use_the_new_kid(app, world, database_url):
    client = register(world)
    grant(world, "portal", "tier", "D1")
    rp = _signed_in(app, world, client)
    before = rp.id_token_claims(rp.tokens()["id_token"])
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": app.config["SECRET_KEY"]}
    done = subprocess.run(
        [sys.executable, "-c", "from supplychain.cli import main; main()", "oidc", "rotate-key"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kid = done.stdout.split()[2].rstrip(";")
    after = rp.id_token_claims(rp.tokens()["id_token"])
    assert after["_header"]["kid"] == kid != before["_header"]["kid"]
    kids = {k["kid"] for k in rp.web.transport.send("GET", "/oauth/jwks").json()["keys"]}
    assert {kid, before["_header"]["kid"]} <= kids


SECOND_SERVER = """
import sys
from werkzeug.serving import make_server
from supplychain import config
from supplychain.app import create_app

app = create_app(config.TestConfig(sys.argv[1], sys.argv[2]))
httpd = make_server("127.0.0.1", 0, app, threaded=True)
print(httpd.server_port, flush=True)
httpd.serve_forever()
"""


def test_a_second_server_on_the_same_database_honours_the_first(app, world, database_url):
    client = register(world)
    grant(world, "portal", "tier", "D1")
    rp = _signed_in(app, world, client)
    tokens = rp.tokens()
    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_SERVER, database_url, app.config["REPORTS_DIR"]],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = int(second.stdout.readline())
        rp2 = Rp(Web(f"http://127.0.0.1:{port}"), client["client_id"], client["client_secret"])
        assert rp2.introspect(tokens["access_token"]).json()["active"] is True
        assert rp2.userinfo(tokens["access_token"]).status_code == 200
        assert rp2.revoke(tokens["refresh_token"]).status_code == 200
    finally:
        second.terminate()
        second.wait(timeout=30)
        second.stdout.close()
    assert rp.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert query(rp.authorize().headers["Location"])["code"]
