"""panva's openid-client (npm, pinned in tests/rp/package-lock.json) as a strict relying party:
discovery, the code flow with PKCE, userinfo, refresh, introspection and revocation. Its
checks (issuer, RFC 9207 `iss`, state, nonce, ID token signature and claims, userinfo `sub`)
are all on; the node script throws on any of them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.api.oidc_helpers import grant
from tests.conftest import PASSWORD

pytestmark = pytest.mark.committed
RP = Path(__file__).resolve().parents[1] / "rp"
REDIRECT = "http://127.0.0.1:9/callback"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (RP / "node_modules" / "openid-client").is_dir():
        pytest.skip("run `npm ci` in tests/rp (.ci/run does)")
    return node


def test_openid_client_signs_in_refreshes_introspects_and_revokes(app, world, server, monkeypatch):
    node = _node()
    monkeypatch.setitem(app.config, "BASE_URL", server)
    body = {"key": "portal", "name": "P", "url": "https://p.example/", "redirect_uris": [REDIRECT]}
    client = world.api.post(world.path("/apps"), body, token=world.owner.token).json()
    grant(world, "portal", "tier", "D1")
    d1a = world.parties["D1a"]
    browser = requests.Session()
    page = browser.get(server + "/login", timeout=30)
    csrf = _CSRF.search(page.text).group(1)
    browser.post(
        server + "/login",
        data={"email": d1a.email, "password": PASSWORD, "csrf_token": csrf},
        timeout=30,
    )
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ISSUER": server,
        "CLIENT_ID": client["client_id"],
        "CLIENT_SECRET": client["client_secret"],
        "REDIRECT_URI": REDIRECT,
        "COOKIE": cookie,
    }
    done = subprocess.run(
        [node, str(RP / "openid_client_flow.mjs")],
        cwd=RP, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["issuer"] == server
    claims = seen["claims"]
    assert claims["org_id"] == d1a.org_id and claims["tier"] == "D1" and claims["sid"]
    assert seen["userinfo"]["sub"] == claims["sub"] and seen["userinfo"]["email"] == d1a.email
    assert 0 < seen["expires_in"] <= 600
    assert seen["refreshed"]["rotated"] is True
    assert seen["introspected"]["active"] is True
    assert seen["introspected"]["client_id"] == client["client_id"]
    assert seen["reuse"] == "invalid_grant"
    assert seen["revoked"] == {"active": False}
    assert 0 <= seen["aged"]["iat"] - seen["aged"]["auth_time"] <= 300
    assert seen["silent"] == "login_required"
