"""Fixtures: a migrated real database (SQLite file, or PostgreSQL via TEST_DATABASE_URL), the app
served over real HTTP on a loopback port, and helpers to build chains through the API."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event, inspect, text
from werkzeug.serving import make_server

from supplychain.app import create_app
from supplychain.config import TestConfig
from supplychain.extensions import db
from supplychain.migrate import upgrade_database
from supplychain.models import Base
from supplychain.services.chains import GRAPHS
from supplychain.services.reconciliation.background import drain_background

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    upgrade_database(TestConfig(url).SQLALCHEMY_DATABASE_URI)
    return url


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    reports = tmp_path_factory.mktemp("reports")
    application = create_app(TestConfig(database_url, str(reports)))
    return application


def _wipe(application) -> None:
    # No background reconciliation run of one test may still be writing (its status, its audit
    # event) while the tables are emptied, or into the next test.
    assert drain_background(60), "a background reconciliation run did not finish"
    with application.app_context():
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        # APScheduler's own job table, when a test started a scheduler.
        if inspect(db.engine).has_table("apscheduler_jobs"):
            tables.append("apscheduler_jobs")
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            with db.engine.begin() as conn:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        db.session.remove()
    GRAPHS.clear()
    reports = Path(application.config["REPORTS_DIR"])
    for child in reports.iterdir() if reports.is_dir() else ():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from empty tables (ids restart too on PostgreSQL)."""
    yield
    if "app" in request.fixturenames:
        _wipe(request.getfixturevalue("app"))


@pytest.fixture(scope="session")
def server(app) -> Iterator[str]:
    """The app on a real loopback HTTP server, threaded like production."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


class Api:
    """A thin HTTP client for /api/v1 with an optional bearer token."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.http = requests.Session()

    def as_(self, token: str | None) -> Api:
        clone = Api(self.base, token)
        clone.http = self.http
        return clone

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        token = kwargs.pop("token", self.token)
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        url = (
            path
            if path.startswith("http")
            else self.base
            + (
                path
                if path.startswith("/healthz") or path.startswith("/api/") or path == "/"
                else "/api/v1" + path
            )
        )
        response = self.http.request(method, url, headers=headers, timeout=60, **kwargs)
        # No input may ever produce a 5xx: every test checks it on every call.
        assert response.status_code < 500, (
            f"{method} {path} -> {response.status_code}: {response.text}"
        )
        return response

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(server: str) -> Api:
    return Api(server)


@dataclass
class Party:
    """A signed-in person of some org, with the ids tests need."""

    token: str
    user_id: str
    org_id: str
    email: str
    extra: dict[str, Any] = field(default_factory=dict)


def bootstrap(app, email: str, org_name: str = "Acme Motors", kind: str = "manufacturer") -> Party:
    """An org with its first admin, as `supplychain bootstrap` makes it."""
    from supplychain.services.accounts import bootstrap_admin

    with app.app_context():
        issued = bootstrap_admin(db.session, org_name, kind, email, "Admin " + org_name, PASSWORD)
        db.session.commit()
        return Party(issued.secret, str(issued.user.id), str(issued.user.org_id), email)


@dataclass
class World:
    """A small chain: owner admin and staff; supplier S1 (U1); dealers D1a, D1b (D1); sub-dealer D2."""

    api: Api
    chain_id: str
    owner: Party
    owner_staff: Party
    parties: dict[str, Party]
    outsider: Party

    def path(self, suffix: str = "") -> str:
        return f"/chains/{self.chain_id}{suffix}"


def add_member(
    api: Api,
    owner: Party,
    chain_id: str,
    name: str,
    kind: str,
    custom_id: str,
    group: str | None,
    email: str,
    role: str = "admin",
) -> dict:
    body: dict[str, Any] = {
        "org": {"name": name, "kind": kind},
        "custom_id": custom_id,
        "contacts": [{"name": f"{name} contact", "email": email, "role": role}],
    }
    if group:
        body["group"] = group
    response = api.post(f"/chains/{chain_id}/members", body, token=owner.token)
    assert response.status_code == 201, response.text
    return response.json()


def activate(api: Api, invite_code: str) -> str:
    response = api.post("/auth/activate", {"invite_code": invite_code, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def world(app, api: Api) -> World:
    owner = bootstrap(app, "admin@acme.example")
    chain = api.post("/chains", {"name": "Acme dealers"}, token=owner.token)
    assert chain.status_code == 201, chain.text
    cid = chain.json()["id"]
    staff_member = api.post(
        f"/chains/{cid}/members/{owner.org_id}/contacts",
        {"name": "Sam Staff", "email": "staff@acme.example", "role": "staff"},
        token=owner.token,
    )
    assert staff_member.status_code == 201, staff_member.text
    owner_staff = Party(
        activate(api, staff_member.json()["invite_code"]),
        staff_member.json()["user_id"],
        owner.org_id,
        "staff@acme.example",
    )
    specs = [
        ("S1", "Steel Works", "supplier", "SUP-001", "Suppliers/Steel", "s1@steel.example"),
        (
            "D1a",
            "Beijing Motors Sales",
            "dealer",
            "DLR-001",
            "Dealers/North China/Beijing",
            "d1a@bj.example",
        ),
        ("D1b", "Shanghai Auto Trade", "dealer", "DLR-002", "Dealers/East China", "d1b@sh.example"),
        (
            "D2",
            "Tianjin Sub-dealer",
            "dealer",
            "DLR-101",
            "Dealers/North China/Tianjin",
            "d2@tj.example",
        ),
    ]
    parties = {}
    for key, name, kind, custom_id, group, email in specs:
        member = add_member(api, owner, cid, name, kind, custom_id, group, email)
        token = activate(api, member["contacts"][0]["invite_code"])
        parties[key] = Party(token, member["contacts"][0]["user_id"], member["org_id"], email)
    o = owner.org_id
    for supplier, customer in [
        (parties["S1"].org_id, o),
        (o, parties["D1a"].org_id),
        (o, parties["D1b"].org_id),
        (parties["D1a"].org_id, parties["D2"].org_id),
    ]:
        link = api.post(
            f"/chains/{cid}/links",
            {"supplier_id": supplier, "customer_id": customer},
            token=owner.token,
        )
        assert link.status_code == 201, link.text
    outsider = bootstrap(app, "admin@rival.example", "Rival Motors")
    return World(api, cid, owner, owner_staff, parties, outsider)


class QueryCounter:
    """Counts SQL statements the app sends while active."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count += 1
        self.statements.append(statement)


@pytest.fixture
def count_queries(app):
    """A context-manager factory counting queries on the app's engine."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        counter = QueryCounter()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", counter)

    return counting
