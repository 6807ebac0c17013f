"""Fixtures: a migrated real database (SQLite file, or PostgreSQL via TEST_DATABASE_URL), the app
called in-process through Flask's test client (`api`), the app on a real loopback HTTP server for
the few tests that need one (`http_api`), and a small chain (`world`) built through the services.

Every test that touches the database runs in one of two lifetimes:

* **rolled back** (the default, and the fast one). The test runs inside one outer transaction on
  one connection. The app's `db.session` is bound to that connection with
  `join_transaction_mode="create_savepoint"`, so a request's commit() or rollback() only releases
  or rolls back a SAVEPOINT, and the outer transaction is rolled back when the test ends: no table
  is wiped. Only that connection may be used. A second one (a reconciliation run's own sessions,
  another thread, a subprocess, the scheduler) would not see the test's data, or would wait for
  SQLite's write lock: the test fails at once and says so.
* **committed** (opt in). Data is really committed, and every table is emptied after the test
  (ids restart on PostgreSQL). For tests about what other connections see: mark the test or the
  module `@pytest.mark.committed`. Using the loopback server (`http_api`, `server`, the UI's
  `live_web` and `browse`) implies it, since the server answers in threads of its own.

The process-wide graph cache is emptied around every test in both lifetimes: ids come back after
a rollback (SQLite) or a wipe, and a cached graph of an old chain with the same id and version
would otherwise answer for a new one.
"""

from __future__ import annotations

import json as jsonlib
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from werkzeug.serving import make_server

from supplychain.access import chain_access
from supplychain.app import create_app
from supplychain.auth import Actor
from supplychain.config import TestConfig
from supplychain.extensions import db
from supplychain.migrate import upgrade_database
from supplychain.models import Base
from supplychain.periods import monthly_period
from supplychain.services import accounts, chains, links, members
from supplychain.services.chains import GRAPHS
from supplychain.services.reconciliation.background import drain_background
from tests.factories import PASSWORD, shared_password_hash

__all__ = ["PASSWORD", "Api", "Party", "World"]


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


# --- the two lifetimes ----------------------------------------------------------------------------


def _clear_reports(application: Flask) -> None:
    reports = Path(application.config["REPORTS_DIR"])
    for child in reports.iterdir() if reports.is_dir() else ():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _wipe(application: Flask) -> None:
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
    _clear_reports(application)


@cache
def _joined(session_class: type) -> type:
    """The app's session class, using the connection it is made with: Flask-SQLAlchemy's
    Session picks the engine itself and would ignore `bind`."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind

    return type("JoinedSession", (session_class,), {"get_bind": get_bind})


class SecondConnection(RuntimeError):
    """A rolled-back test opened another database connection."""


@contextmanager
def rolled_back(application: Flask) -> Iterator[Connection]:
    """One outer transaction for the whole test; the app's sessions nest savepoints in it."""
    with application.app_context():
        engine = db.engine
        factory = db.session.session_factory
    connection = engine.connect()
    outer = connection.begin()  # on SQLite the engine's "begin" hook issues BEGIN IMMEDIATE
    saved_class, saved_kw = factory.class_, dict(factory.kw)
    factory.class_ = _joined(saved_class)
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    strays: list[str] = []

    def refuse(_dbapi: Any, _record: Any, _proxy: Any) -> None:
        strays.append(threading.current_thread().name)
        raise SecondConnection(
            "This test runs in a rolled-back transaction on one connection, and something "
            "opened a second one (its own sessions, a thread, a subprocess): mark the test "
            "`@pytest.mark.committed` (see tests/conftest.py)."
        )

    event.listen(engine, "checkout", refuse)
    try:
        yield connection
    finally:
        event.remove(engine, "checkout", refuse)
        factory.class_ = saved_class
        factory.kw.clear()
        factory.kw.update(saved_kw)
        if outer.is_active:
            outer.rollback()
        connection.close()
    assert not strays, (
        f"a second database connection was opened (in {strays}); see SecondConnection"
    )


def needs_commits(request: pytest.FixtureRequest) -> bool:
    """Marked `committed`, or talking to the loopback server (whose threads need real commits)."""
    return request.node.get_closest_marker("committed") is not None or (
        "server" in request.fixturenames
    )


@dataclass
class Lifetime:
    """How the current test's data lives: its connection when rolled back, None when committed."""

    connection: Connection | None


@pytest.fixture(autouse=True)
def database(request: pytest.FixtureRequest) -> Iterator[Lifetime | None]:
    """Rolled back by default, committed and wiped when the test needs it (see the module doc)."""
    if "app" not in request.fixturenames:
        yield None
        return
    application = request.getfixturevalue("app")
    GRAPHS.clear()
    try:
        if needs_commits(request):
            try:
                yield Lifetime(None)
            finally:
                _wipe(application)
        else:
            with rolled_back(application) as connection:
                yield Lifetime(connection)
            _clear_reports(application)
    finally:
        GRAPHS.clear()


# --- clients --------------------------------------------------------------------------------------


class Response:
    """The parts of a `requests.Response` the tests read, for a Flask test client response."""

    def __init__(self, raw: Any) -> None:
        self.status_code: int = raw.status_code
        self.headers = raw.headers
        self.url: str = raw.request.url
        self.content: bytes = raw.get_data()
        raw.close()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class InProcess:
    """Requests through Flask's test client, encoded exactly as `requests` would send them
    (JSON, form fields, multipart files, query params, default headers); cookies are kept."""

    base = "http://localhost"

    def __init__(self, application: Flask) -> None:
        self.client = application.test_client()
        self.cookie_name = application.config["SESSION_COOKIE_NAME"]

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        allow_redirects: bool = True,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Response:
        merged = requests.utils.default_headers()
        merged.update(headers or {})
        prepared = requests.Request(method, self.base + path, headers=merged, **kwargs).prepare()
        body = prepared.body
        if body is not None and not isinstance(body, str | bytes):
            raise TypeError("A streamed body needs real HTTP: use the `http_api` fixture.")
        sent = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        raw = self.client.open(
            prepared.path_url,
            method=method,
            headers=sent,
            data=body,
            follow_redirects=allow_redirects,
        )
        return Response(raw)

    def cookies(self) -> dict[str, str]:
        cookie = self.client.get_cookie(self.cookie_name)
        return {cookie.key: cookie.value} if cookie else {}

    def add_cookies(self, cookies: dict[str, str]) -> None:
        for name, value in cookies.items():
            self.client.set_cookie(name, value)


class OverHttp:
    """Requests over a real socket to the loopback server, with a `requests` session."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.http.request(method, self.base + path, **kwargs)

    def cookies(self) -> dict[str, str]:
        return dict(self.http.cookies)

    def add_cookies(self, cookies: dict[str, str]) -> None:
        self.http.cookies.update(cookies)


def transport(target: Flask | str) -> InProcess | OverHttp:
    """The app itself (in-process) or a server's base URL (real HTTP)."""
    return OverHttp(target) if isinstance(target, str) else InProcess(target)


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
    """A thin client for /api/v1 with an optional bearer token: in-process (given the app) or
    over real HTTP (given a server's base URL). Every call checks that no 5xx came back."""

    def __init__(self, target: Flask | str, token: str | None = None) -> None:
        self.transport = transport(target)
        self.token = token

    @property
    def base(self) -> str:
        return self.transport.base

    @property
    def http(self) -> requests.Session:
        """The `requests` session of a client over real HTTP."""
        assert isinstance(self.transport, OverHttp), "only over real HTTP (http_api)"
        return self.transport.http

    def as_(self, token: str | None) -> Api:
        clone = Api.__new__(Api)
        clone.transport = self.transport
        clone.token = token
        return clone

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        token = kwargs.pop("token", self.token)
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        if not (path.startswith("/healthz") or path.startswith("/api/") or path == "/"):
            path = "/api/v1" + path
        response = self.transport.send(method, path, headers=headers, **kwargs)
        # No input may ever produce a 5xx: every test checks it on every call.
        assert response.status_code < 500, (
            f"{method} {path} -> {response.status_code}: {response.text}"
        )
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(app) -> Api:
    """The API in-process, through Flask's test client."""
    return Api(app)


@pytest.fixture
def http_api(server: str) -> Api:
    """The API over real HTTP on the loopback server (the test runs committed)."""
    return Api(server)


# --- a small chain --------------------------------------------------------------------------------


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
    with app.app_context(), shared_password_hash():
        issued = accounts.bootstrap_admin(
            db.session, org_name, kind, email, "Admin " + org_name, PASSWORD
        )
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

    def share_app(self, app_key: str) -> World:
        """Share an app with every partner (a grant of scope `all`); returns the world."""
        r = self.api.post(
            self.path("/grants"), {"app": app_key, "scope": {"type": "all"}}, token=self.owner.token
        )
        assert r.status_code == 201, r.text
        return self


CHAIN_NAME = "Acme dealers"
# The test chain's zone: its days and periods are Shanghai's, a day ahead of UTC's from 16:00 UTC.
CHAIN_TIMEZONE = "Asia/Shanghai"


def this_period() -> str:
    """The test chain's current month, as its orders and notices made now are dated."""
    return monthly_period(datetime.now(ZoneInfo(CHAIN_TIMEZONE)).date()).label


STAFF = ("Sam Staff", "staff@acme.example")
# key, org name, kind, custom id, group path, contact email (each contact an admin of its org)
PARTNERS = [
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
# supplier -> customer, by party key ("owner" is the core org)
LINKS = [("S1", "owner"), ("owner", "D1a"), ("owner", "D1b"), ("D1a", "D2")]


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


def race(n: int, fn: Any) -> list[Any]:
    """Call `fn` from `n` threads released at the same moment; their answers, in finishing
    order."""
    results: list[Any] = []
    barrier = threading.Barrier(n)

    def run() -> None:
        barrier.wait()
        results.append(fn())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def activate(api: Api, invite_code: str) -> str:
    response = api.post("/auth/activate", {"invite_code": invite_code, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def build_world(app, api: Api) -> World:
    """The world through the services, in one transaction: the rows, audit events, invitation
    activations and tokens that `build_world_over_api` makes with ~20 requests."""
    with app.app_context(), shared_password_hash():
        session = db.session
        boot = accounts.bootstrap_admin(
            session, "Acme Motors", "manufacturer", "admin@acme.example", "Admin Acme Motors",
            PASSWORD,
        )  # fmt: skip
        actor = Actor(user=boot.user, token_id=boot.token.id)
        chain = chains.create_chain(session, actor, CHAIN_NAME, "CNY", CHAIN_TIMEZONE)
        access = chain_access(session, actor, chain.id)
        owner_org = boot.user.org_id

        def signed_in(code: str | None) -> str:
            assert code is not None
            # An activation is a request of its own: what came before is committed (its
            # throttling claim ends the session's transaction, as at the start of a request).
            session.commit()
            return accounts.activate(session, code, PASSWORD, "127.0.0.1").secret

        staff = members.add_contact(
            session, access, owner_org, members.NewContact(*STAFF, role="staff")
        )
        owner_staff = Party(
            signed_in(staff.invite_code), str(staff.contact.user_id), str(owner_org), STAFF[1]
        )
        parties = {}
        for key, name, kind, custom_id, group, email in PARTNERS:
            view, [contact] = members.add_member(
                session,
                access,
                org_id=None,
                new_org={"name": name, "kind": kind},
                custom_id=custom_id,
                group_path=group,
                contacts=[members.NewContact(f"{name} contact", email, role="admin")],
            )
            parties[key] = Party(
                signed_in(contact.invite_code),
                str(contact.contact.user_id),
                str(view.member.org_id),
                email,
            )
        org_of = {key: int(p.org_id) for key, p in parties.items()} | {"owner": owner_org}
        for supplier, customer in LINKS:
            links.create_link(session, access, org_of[supplier], org_of[customer])
        owner = Party(boot.secret, str(boot.user.id), str(owner_org), "admin@acme.example")
        chain_id = str(chain.id)
        session.commit()
    outsider = bootstrap(app, "admin@rival.example", "Rival Motors")
    return World(api, chain_id, owner, owner_staff, parties, outsider)


def build_world_over_api(app, api: Api) -> World:
    """The same world through the HTTP API, request by request, as a client would build it."""
    owner = bootstrap(app, "admin@acme.example")
    chain = api.post("/chains", {"name": CHAIN_NAME}, token=owner.token)
    assert chain.status_code == 201, chain.text
    cid = chain.json()["id"]
    staff_member = api.post(
        f"/chains/{cid}/members/{owner.org_id}/contacts",
        {"name": STAFF[0], "email": STAFF[1], "role": "staff"},
        token=owner.token,
    )
    assert staff_member.status_code == 201, staff_member.text
    owner_staff = Party(
        activate(api, staff_member.json()["invite_code"]),
        staff_member.json()["user_id"],
        owner.org_id,
        STAFF[1],
    )
    parties = {}
    for key, name, kind, custom_id, group, email in PARTNERS:
        member = add_member(api, owner, cid, name, kind, custom_id, group, email)
        token = activate(api, member["contacts"][0]["invite_code"])
        parties[key] = Party(token, member["contacts"][0]["user_id"], member["org_id"], email)
    org_of = {key: p.org_id for key, p in parties.items()} | {"owner": owner.org_id}
    for supplier, customer in LINKS:
        link = api.post(
            f"/chains/{cid}/links",
            {"supplier_id": org_of[supplier], "customer_id": org_of[customer]},
            token=owner.token,
        )
        assert link.status_code == 201, link.text
    outsider = bootstrap(app, "admin@rival.example", "Rival Motors")
    return World(api, cid, owner, owner_staff, parties, outsider)


@pytest.fixture
def world(app, api: Api) -> World:
    return build_world(app, api)


@pytest.fixture
def live_world(world: World, http_api: Api) -> World:
    """The world, with its `api` over real HTTP (the test runs committed)."""
    world.api = http_api
    return world


class QueryCounter:
    """Counts SQL statements the app sends while active."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count += 1
        self.statements.append(statement)


@pytest.fixture
def count_queries(app, database: Lifetime):
    """A context-manager factory counting queries on the app's engine (or, in a rolled-back test,
    on its one connection; savepoint statements count too, the same for every request)."""

    @contextmanager
    def counting():
        counter = QueryCounter()
        target: Any = database.connection
        if target is None:
            with app.app_context():
                target = db.engine
        event.listen(target, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(target, "before_cursor_execute", counter)

    return counting


@pytest.fixture(scope="session")
def company_idp(server: str, tmp_path_factory: pytest.TempPathFactory):
    """panva's oidc-provider as a company IdP (tests/idp), one node process for the whole session,
    with a client registered for the loopback server's SSO callback and back-channel logout."""
    from supplychain.services.sso import BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH
    from tests.idp.provider import node_ready, start_idp, stop_idp

    why = node_ready()
    if why:
        pytest.skip(why)
    running = start_idp(
        tmp_path_factory.mktemp("idp"), server, CALLBACK_PATH, BACKCHANNEL_LOGOUT_PATH
    )
    yield running
    stop_idp(running)
