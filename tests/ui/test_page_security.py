"""What every page owes a browser besides its content: HEAD wherever GET."""

from __future__ import annotations

import re

from tests.ui.conftest import Scene

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
        "filename": "app.css",
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
        got = browser.http.get(browser.base + path, allow_redirects=False, timeout=60)
        head = browser.http.head(browser.base + path, allow_redirects=False, timeout=60)
        assert head.status_code == got.status_code, path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        assert head.content == b"", path


def test_head_of_the_sign_in_pages_without_a_session(web):
    browser = web()
    for path in ("/login", "/activate", "/"):
        head = browser.http.head(browser.base + path, allow_redirects=False, timeout=60)
        assert head.status_code == 200, path
