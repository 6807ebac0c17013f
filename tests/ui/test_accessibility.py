"""axe-core over every page of the demo, as the owner, a partner (a dealer) and a supplier, on a
phone and on a desktop: no violation at all.

axe-core comes from npm, pinned by tests/axe/package-lock.json (`npm ci` there; .ci/run does it).
The pages are found by following the links of each page from /home, once per kind of page (ids
and periods in a path do not make another kind), so a new page is checked as soon as a link
leads to it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from supplychain.demo.seeding import (
    DEFAULT_SEED,
    answer_demo_statements,
    load_demo,
    produce_demo_runs,
    read_seed,
)
from supplychain.extensions import db
from tests.ui.conftest import sign_in

AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SEED = read_seed(DEFAULT_SEED)
PEOPLE = {
    "owner": "zhang.wei@huaxia-motor.example",
    "partner": "wang.fang@bj-huaxia-auto.example",
    "supplier": "chen.jie@nbcastings.example",
}
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": None}
# Links that are not pages: the JSON API and health check, files, the end of the session.
NOT_PAGES = re.compile(
    r"^/(api|healthz)(/|$)|/(file|download|template|logout)(/|$)|/unsubscribe/|\.(pdf|xlsx)$"
)
MAX_PAGES = 80

pytestmark = pytest.mark.skipif(
    not AXE.exists(), reason="axe-core not installed: run `npm ci` in tests/axe"
)


def _kind(path: str) -> str:
    """A page's kind: its path with every number (ids, periods) the same."""
    return re.sub(r"\d+", "N", path)


def _links(page: Any, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download])",
        "links => links.map(a => new URL(a.getAttribute('href'), document.baseURI).href)",
    )
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != base or NOT_PAGES.search(parts.path):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"""
    )
    return list(found)


def _crawl(page: Any, base: str) -> dict[str, list[str]]:
    """Every kind of page reachable from /home: its violations by the path first seen."""
    seen: set[str] = set()
    queue = ["/home"]
    results: dict[str, list[str]] = {}
    while queue and len(results) < MAX_PAGES:
        path = queue.pop(0)
        kind = _kind(urlsplit(path).path)
        if kind in seen:
            continue
        seen.add(kind)
        response = page.goto(path)
        assert response is not None and response.status < 500, path
        if not response.ok:
            continue
        results[path] = _violations(page)
        queue.extend(_links(page, base))
    return results


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_axe_finds_nothing_on_any_page(app, browse, server, viewport):
    with app.app_context():
        load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
        produce_demo_runs(db.engine, app.config["REPORTS_DIR"], DEFAULT_SEED)
        answer_demo_statements(db.session, DEFAULT_SEED)
        db.session.commit()
    faults: dict[str, list[str]] = {}
    for who, email in PEOPLE.items():
        page = browse(viewport=VIEWPORTS[viewport], bypass_csp=True)
        sign_in(page, email, SEED["password"])
        pages = _crawl(page, server)
        # The chain's own pages were reached, not only the account's.
        assert any(path.startswith("/chains/") for path in pages), (who, sorted(pages))
        for path, found in pages.items():
            if found:
                faults[f"{who} {path}"] = found
    assert not faults, "\n".join(f"{where}: {found}" for where, found in faults.items())
