"""What every page owes a browser besides its content: HEAD wherever GET, security headers."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ui.conftest import Scene, sign_in

# Values for the path parameters of the pages, taken from the scene (unknown ids answer 404 to
# GET and HEAD alike, which is what is compared).
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def _page_paths(app, scene: Scene) -> list[str]:
    values = {
        "cid": scene.cid,
        "nid": scene.notice_id,
        "oid": scene.order_id,
        "org_id": scene.world.parties["D1a"].org_id,
        "rid": "1",
        "iid": "1",  # an invoice (none: 404 to both)
        "sid": "1",  # a ship notice
        "period": "2026-01",  # a statement's period
        "wid": "1",
        "filename": "app.css",
        "token": "not-a-token",  # unsubscribe and password reset links
        "code": "NOT0-A0CO-DE00-0000",  # an invitation mail's activation link
    }
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/api"):
            continue
        paths.append(_PARAM.sub(lambda m: values[m.group(1)], rule.rule))
    return sorted(set(paths))


def test_head_answers_like_get_on_every_page(app, scene: Scene, web):
    browser = web()
    browser.login(scene.world.owner.email)
    paths = _page_paths(app, scene)
    assert "/login" in paths and f"/chains/{scene.cid}/orders/new" in paths
    for path in paths:
        got = browser.transport.send("GET", path, allow_redirects=False)
        head = browser.transport.send("HEAD", path, allow_redirects=False)
        assert head.status_code == got.status_code, path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        assert head.content == b"", path


def test_head_of_the_sign_in_pages_without_a_session(web):
    browser = web()
    for path in ("/login", "/activate", "/"):
        head = browser.transport.send("HEAD", path, allow_redirects=False)
        assert head.status_code == 200, path


# --- security headers -------------------------------------------------------------------------


def _assert_page_headers(response) -> None:
    policy = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    # No inline script or style, and no other site's: nothing but this site's own files.
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "script-src" not in directives and "style-src" not in directives
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    # Plain HTTP: no HSTS (a browser would ignore it, and it would lock out a test set-up).
    assert "Strict-Transport-Security" not in response.headers


def test_every_page_carries_the_security_headers(app, scene: Scene, web):
    visitor = web()
    for path in ("/", "/login", "/activate", "/no-such-page"):
        response = visitor.get(path)
        assert response.headers["Content-Type"].startswith("text/html"), path
        _assert_page_headers(response)
    browser = web()
    browser.login(scene.world.owner.email)
    for path in _page_paths(app, scene):
        response = browser.transport.send("GET", path, allow_redirects=False)
        if response.headers["Content-Type"].startswith("text/html"):
            _assert_page_headers(response)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path


def test_api_answers_and_errors_carry_headers_too(scene: Scene):
    api, w = scene.world.api, scene.world
    for response in (
        api.get("/me", token=w.owner.token),
        api.get("/me"),
        api.get("/healthz"),
        api.get("/api/openapi.json"),
        api.get(w.path("/graph"), token=w.owner.token, headers={"Accept": "image/svg+xml"}),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        policy = response.headers["Content-Security-Policy"]
        assert policy.startswith("default-src 'none'") and "frame-ancestors 'none'" in policy


def test_hsts_over_https_only(app):
    client = app.test_client()
    secure = client.get("/login", base_url="https://supplychain.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = client.get("/login", base_url="http://supplychain.example")
    assert "Strict-Transport-Security" not in plain.headers
    # A client's own X-Forwarded-Proto is no HTTPS while no proxy is trusted.
    forged = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


def test_pages_need_no_inline_style_or_script():
    """What the policy would refuse must not be in a template in the first place."""
    templates = Path(__file__).resolve().parents[2] / "supplychain" / "ui" / "templates"
    inline = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=|javascript:", re.I)
    for template in templates.rglob("*.html"):
        assert not inline.search(template.read_text(encoding="utf-8")), template.name


# --- in a real browser --------------------------------------------------------------------------


@pytest.fixture
def other_site(server: str) -> Iterator[str]:
    """Another origin (its own port) serving a page that frames ours, and one of its own."""
    pages = {
        "/framing.html": f'<!doctype html><title>evil</title><iframe id="victim" src="{server}/login"'
        ' width="600" height="400"></iframe>',
        "/own.html": '<!doctype html><title>own</title><iframe id="victim" src="/inner.html">'
        "</iframe>",
        "/inner.html": "<!doctype html><title>inner</title><p id='inner'>framed fine</p>",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    # localhost, not 127.0.0.1: another site for the browser, not only another port.
    yield f"http://localhost:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_another_site_cannot_frame_a_page(scene: Scene, browse, other_site: str, server: str):
    page = browse()
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    framed: list = []
    page.on("response", lambda r: framed.append(r) if r.url.startswith(server) else None)
    page.goto(f"{other_site}/framing.html")
    page.wait_for_load_state("load")
    # Chromium fetched our page for the frame and saw the headers that forbid framing...
    [answer] = [r for r in framed if r.url == f"{server}/login"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    # ...so the frame stays empty: no sign-in form inside it, and the refusal is reported.
    frame = page.frame_locator("#victim")
    assert frame.locator("input[name=password]").count() == 0
    assert any("frame-ancestors" in text for text in refusals), refusals
    # The harness itself frames fine: a page of the other site framing its own page.
    page.goto(f"{other_site}/own.html")
    assert page.frame_locator("#victim").locator("#inner").inner_text() == "framed fine"


def test_pages_break_no_rule_of_their_own_policy(scene: Scene, browse):
    """The owner's pages with drawings, trees and bars: Chromium reports no refused resource."""
    w = scene.world
    page = browse()
    refusals: list[str] = []
    page.on(
        "console",
        lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, w.owner.email)
    w.api.post(
        w.path("/groups"), {"path": "Dealers/North China/Beijing/Chaoyang"}, token=w.owner.token
    )
    for suffix in (
        "",
        "/map",
        "/groups",
        "/members",
        "/grants",
        f"/notices/{scene.notice_id}",
        f"/notices/{scene.notice_id}/recipients",
        f"/orders/{scene.order_id}",
        "/notices/new",
        "/orders/new",
    ):
        page.goto(scene.page(suffix))
        page.wait_for_load_state("load")
    page.goto(scene.page("/map"))
    # The drawing is styled from app.css: boxes filled, not the default black.
    fill = page.eval_on_selector("svg.chain-map .node rect", "e => getComputedStyle(e).fill")
    assert fill == "rgb(238, 244, 251)"
    page.goto(scene.page("/groups"))
    indent = page.eval_on_selector(
        "ul.tree li.depth-3", "e => parseFloat(getComputedStyle(e).paddingLeft)"
    )
    assert indent > 40
    assert refusals == []


def test_auto_secure_cookie_follows_what_werkzeug_calls_https(app, monkeypatch):
    """`auto`: Secure over HTTPS; a client's own X-Forwarded-Proto is no HTTPS (no proxy trusted)."""
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", "auto")
    interface = app.session_interface
    with app.test_request_context("/login", base_url="https://supplychain.example"):
        assert interface.get_cookie_secure(app) is True
    with app.test_request_context("/login", base_url="http://supplychain.example"):
        assert interface.get_cookie_secure(app) is False
    with app.test_request_context("/login", headers={"X-Forwarded-Proto": "https"}):
        assert interface.get_cookie_secure(app) is False
