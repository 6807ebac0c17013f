"""panva's oidc-provider (tests/idp, pinned by its package-lock.json) run with node as a company
IdP for the SSO tests: on a free 127.0.0.1 port, one process per test session, with one client
registered for the app's loopback server. `browser_sign_in` plays the person at its development
login form (any login; the login is the account's `sub`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
CLIENT_ID = "supplychain-test"
CLIENT_SECRET = "idp-client-secret-0123456789"
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Idp:
    """A running provider: its issuer, the file its accounts' claims are read from, the one its
    behaviour is read from and the one it writes the authorization requests it got to."""

    issuer: str
    accounts_file: Path
    process: subprocess.Popen
    log: list[str]
    behaviour_file: Path
    requests_file: Path

    def set_claims(self, accounts: dict[str, dict[str, Any]]) -> None:
        """Claims that override the defaults ({email: login, email_verified: true}) per login."""
        self.accounts_file.write_text(json.dumps(accounts), encoding="utf-8")

    def behave(self, **behaviour: Any) -> None:
        """`reuse_session="silent"|"honest"`: ignore prompt and max_age (and say no auth_time, or
        the session's); `session_age=N`: report auth_time N seconds before the login. None:
        a conforming provider again."""
        self.behaviour_file.write_text(json.dumps(behaviour), encoding="utf-8")

    def forget_requests(self) -> None:
        self.requests_file.write_text("", encoding="utf-8")

    def requests(self) -> list[dict[str, str]]:
        """The query of every authorization request received since `forget_requests`."""
        lines = self.requests_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


def node_ready() -> str | None:
    """Why the provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        return "tests/idp has no node_modules: run `npm ci` in tests/idp (.ci/run does)"
    return None


def start_idp(workdir: Path, app_base: str, callback: str, logout: str) -> Idp:
    """Start the provider with the app's client registered; returns once it listens."""
    accounts = workdir / "accounts.json"
    accounts.write_text("{}", encoding="utf-8")
    behaviour, requests_file = workdir / "behaviour.json", workdir / "requests.jsonl"
    behaviour.write_text("{}", encoding="utf-8")
    requests_file.write_text("", encoding="utf-8")
    config = workdir / "idp.json"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [app_base + callback],
        "backchannel_logout_uri": app_base + logout,
        "backchannel_logout_session_required": True,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    config.write_text(
        json.dumps(
            {
                "clients": [client],
                "accounts_file": str(accounts),
                "behaviour_file": str(behaviour),
                "requests_file": str(requests_file),
            }
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        ["node", str(HERE / "idp.mjs"), str(config)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"the IdP did not start: {process.stderr.read()}")
    log: list[str] = []

    def drain(stream) -> None:
        for text in stream:
            log.append(text)

    threading.Thread(target=drain, args=(process.stderr,), daemon=True).start()
    return Idp(json.loads(line)["issuer"], accounts, process, log, behaviour, requests_file)


def stop_idp(idp: Idp) -> None:
    idp.process.terminate()
    try:
        idp.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        idp.process.kill()
        idp.process.wait(timeout=10)
    for stream in (idp.process.stdout, idp.process.stderr):
        if stream is not None:
            stream.close()


def submit_form(
    http: requests.Session, page: requests.Response, follow: bool = True, **fields: str
):
    """Post the page's first form (its hidden fields and `fields`), following redirects (unless
    not `follow`)."""
    action = _FORM_ACTION.search(page.text)
    assert action, page.text[:500]
    url = requests.compat.urljoin(page.url, unescape(action.group(1)))
    data = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    data.update(fields)
    return http.post(url, data=data, timeout=30, allow_redirects=follow)


def idp_login(
    http: requests.Session, login_page: requests.Response, login: str, follow: bool = True
):
    """At the IdP's development login form: any login, any password; back to the app."""
    assert 'name="login"' in login_page.text, login_page.text[:500]
    return submit_form(http, login_page, follow, login=login, password="any-password")


def idp_logout(http: requests.Session, issuer: str) -> requests.Response:
    """End the person's session at the IdP (RP-less logout, confirmed): the IdP then sends a
    back-channel logout token to every client of that session."""
    page = http.get(issuer + "/session/end", timeout=30)
    assert page.status_code == 200, page.text[:500]
    return submit_form(http, page, logout="yes")
