"""Fixtures for the pages: a client that speaks forms (in-process, or over real HTTP), a shared
Chromium on the loopback server, and a small chain with a notice and an order waiting for a dealer."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import PASSWORD, Api, World, transport

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Web:
    """A person's browser without JavaScript: cookies, forms with their CSRF token, redirects.
    In-process through Flask's test client (given the app) or over real HTTP (given a URL)."""

    def __init__(self, target: Flask | str) -> None:
        self.transport = transport(target)
        self.csrf = ""

    @property
    def base(self) -> str:
        return self.transport.base

    def request(self, method: str, path: str, **kw: Any) -> Any:
        response = self.transport.send(method, path, **kw)
        self._remember(response)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: dict | list | None = None, csrf: bool = True, **kw: Any):
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("csrf_token", self.csrf))
        return self.request("POST", path, data=fields, **kw)

    def cookies(self) -> dict[str, str]:
        """The cookies this browser holds, by name."""
        return self.transport.cookies()

    def add_cookies(self, cookies: dict[str, str]) -> None:
        """Hold these cookies too (as a thief replaying a stolen session would)."""
        self.transport.add_cookies(cookies)

    def _remember(self, response: Any) -> None:
        assert response.status_code < 500, f"{response.url} -> {response.status_code}"
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 200 and "/home" in response.url, response.text[:500]
        return response


@pytest.fixture
def web(app):
    """A fresh no-JavaScript browser for each test, in-process."""
    return lambda: Web(app)


@pytest.fixture
def live_web(server: str):
    """A fresh no-JavaScript browser over real HTTP (the test runs committed)."""
    return lambda: Web(server)


@dataclass
class Scene:
    """The world with apps shared, a notice to the D1 tier and an order from the owner to D1a."""

    world: World
    notice_id: str
    order_id: str

    @property
    def cid(self) -> str:
        return self.world.chain_id

    def page(self, suffix: str = "") -> str:
        return f"/chains/{self.cid}{suffix}"


def _ok(response: Any, status: int = 201) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def send_notice(w: World, **overrides: Any) -> dict:
    body = {
        "kind": "supply",
        "title": "Brake pads allocation for May",
        "body": "Tell us how many you need.",
        "items": [
            {"sku": "BRK-100", "description": "Front pads", "qty": "500", "unit": "set"},
            {"sku": "BRK-200", "description": "Rear pads", "qty": "300", "unit": "set"},
        ],
        "audience": {"tiers": ["D1"]},
        "requires_ack": True,
        **overrides,
    }
    return _ok(w.api.post(w.path("/notices"), body, token=w.owner.token))


def issue_order(w: World, buyer: str = "D1a", lines: int = 2) -> dict:
    body = {
        "counterparty_id": w.parties[buyer].org_id,
        "issuer_role": "seller",
        "lines": [
            {
                "line_no": i + 1,
                "sku": f"PART-{i + 1}",
                "description": f"Part {i + 1}",
                "qty": "10",
                "unit": "pcs",
                "unit_price": "25.00",
                "requested_date": "2026-12-15",
            }
            for i in range(lines)
        ],
    }
    return _ok(w.api.post(w.path("/orders"), body, token=w.owner.token))


@pytest.fixture
def scene(world: World) -> Scene:
    for app_key in ("notices", "orders"):
        _ok(
            world.api.post(
                world.path("/grants"),
                {"app": app_key, "scope": {"type": "all"}},
                token=world.owner.token,
            )
        )
    notice = send_notice(world)
    order = issue_order(world)
    return Scene(world=world, notice_id=notice["id"], order_id=order["id"])


def ship_all(api: Api, w: World, order_id: str) -> None:
    """The owner (seller) ships every confirmed line in full."""
    order = _ok(api.get(w.path(f"/orders/{order_id}"), token=w.owner.token), 200)
    lines = [
        {"line_no": line["line_no"], "qty": line["confirmed_qty"]}
        for line in order["lines"]
        if line["ack_status"] in ("accepted", "changed", "backordered")
    ]
    _ok(api.post(w.path(f"/orders/{order_id}/shipments"), {"lines": lines}, token=w.owner.token))


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run (Debian's package, not a downloaded build)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browse(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context per test; `browse(viewport=...)` opens a page at the server."""
    contexts: list[Any] = []

    def open_page(viewport: dict | None = None, **kw: Any):
        options: dict[str, Any] = {"base_url": server, "locale": "en-US", **kw}
        if viewport:
            options.update(viewport=viewport, is_mobile=True, has_touch=True)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """Save the whole page as an artifact under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/home")
