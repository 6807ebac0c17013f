"""Issue 3: a notice to 10 000 orgs against a notice to one; a 5 000-notice inbox under load.

Fan-out must cost about one bulk insert more than a notice to one org: compare POST /notices to
all of D1 (10 000 recipients) with POST /notices to one D1 org, in turns. The inbox must send the
same number of statements for 50 rows as for 500, and a real server (`supplychain serve`,
gunicorn) must answer the inbox at a good fraction of the rate it answers GET /healthz, with
8 concurrent keep-alive clients; GET /chains/{id} (token and chain access only) shows what any
authenticated request costs. Requests/s on a box that also runs the clients depends on how the
CPUs are shared, so the server's own CPU time per request is reported beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from supplychain.models import Notice, NoticeItem, NoticeRecipient, User
from supplychain.models.base import utcnow
from tests.bench.common import (
    BenchApp,
    BuiltChain,
    ChainShape,
    Report,
    bench_app,
    bootstrap_owner,
    count_queries,
    create_bench_chain,
    insert_chain,
    org_token,
    scaled,
    timed_together,
)
from tests.bench.directory import Caller

DEALERS = 10_000  # all of D1: the big audience
BROADCAST_REPEAT = 7
INBOX_NOTICES = 5_000
PAGE_REPEAT = 9
CLIENTS = 8
WORKERS = 2
THREADS = 4
WARMUP_SECONDS = 1.5
ROUNDS = 2  # healthz, inbox, healthz, inbox: load changes hit both alike
ROUND_SECONDS = 3.0
MAX_REQUESTS_PER_CLIENT = 100_000  # the loops stop at the deadline; this only bounds them
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 30.0
# A notice body of a realistic length (~500 characters; the API allows 20 000).
BODY = " ".join(
    f"Line {i}: Model X-{i} brake pads, allocation per dealer for December, delivered from the "
    "Tianjin warehouse; reply with the quantity you can take."
    for i in range(4)
)


# --- data -------------------------------------------------------------------------------------


@dataclass
class NoticeWorld:
    owner: Caller
    dealer: Caller
    dealer_org_id: int
    dealer_token: str
    built: BuiltChain


def _build(env: BenchApp, report: Report) -> NoticeWorld:
    start = time.perf_counter()
    owner = bootstrap_owner(env.app)
    chain_id = create_bench_chain(env.app, owner)
    shape = ChainShape(tiers={"D1": scaled(DEALERS)}, contacts_per_org=1)
    built = insert_chain(env.app, chain_id, owner, shape)
    client = env.app.test_client()
    owner_caller = Caller(client, owner.token, chain_id)
    owner_caller.call("POST", "/grants", {"app": "notices", "scope": {"type": "all"}}, 201)
    dealer_org_id = built.orgs_by_tier["D1"][len(built.orgs_by_tier["D1"]) // 2]
    token = org_token(env.app, dealer_org_id)
    report.line("d1_orgs", len(built.orgs_by_tier["D1"]), "D1 orgs (notices granted to all)")
    report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
    return NoticeWorld(
        owner=owner_caller,
        dealer=Caller(client, token, chain_id),
        dealer_org_id=dealer_org_id,
        dealer_token=token,
        built=built,
    )


def _notice_body(n: int, audience: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "supply",
        "title": f"Allocation for December, round {n}",
        "body": BODY,
        "items": [
            {"sku": f"MX-{k}", "qty": "120", "unit": "pcs", "unit_price": "1999.00"}
            for k in range(3)
        ],
        "audience": audience,
        "requires_ack": True,
    }


def _broadcast(env: BenchApp, report: Report, world: NoticeWorld) -> None:
    report.section("POST /notices: all of D1 vs one D1 org")
    counter = iter(range(1_000_000))
    d1 = world.built.orgs_by_tier["D1"]
    one = {"orgs": [str(d1[0])]}
    tier = {"tiers": ["D1"]}
    recipients: dict[str, int] = {}

    def send(audience: dict[str, Any], name: str) -> None:
        sent = world.owner.call("POST", "/notices", _notice_body(next(counter), audience), 201)
        recipients[name] = sent["totals"]["recipients"] if sent.get("totals") else -1

    send(one, "one")  # warms imports and compiled statements
    send(tier, "tier")
    with count_queries(env.engine) as small_q:
        send(one, "one")
    with count_queries(env.engine) as big_q:
        send(tier, "tier")
    medians = timed_together(
        {"tier": lambda: send(tier, "tier"), "one": lambda: send(one, "one")},
        repeat=BROADCAST_REPEAT,
    )
    n = f"{len(d1):,}".replace(",", " ")
    report.expect("tier_recipients", recipients["tier"], len(d1), "recipients, audience tiers:[D1]")
    report.expect("one_recipients", recipients["one"], 1, "recipients, audience orgs:[one]")
    report.seconds("notice_tier_seconds", medians["tier"], f"POST to {n} orgs, median")
    report.seconds("notice_one_seconds", medians["one"], "POST to one org, median")
    report.ratio(
        "notice_tier_over_one",
        medians["tier"],
        medians["one"],
        f"ratio {n} orgs / one org (target <= 10x)",
    )
    report.line("notice_tier_queries", big_q.count, f"statements, POST to {n} orgs")
    report.line("notice_one_queries", small_q.count, "statements, POST to one org")
    floors = _insert_floor(env, world, d1)
    fan_out = medians["tier"] - medians["one"]
    report.seconds("fan_out_seconds", fan_out, f"fan-out cost ({n} orgs - one org)")
    report.seconds("insert_orm_seconds", floors["orm"], f"{n} rows, ORM insert(Model) (service)")
    report.seconds("insert_core_seconds", floors["core"], f"{n} rows, Core executemany")
    report.seconds("insert_set_seconds", floors["set"], f"floor: {n} rows, one INSERT ... SELECT")
    report.ratio("fan_out_over_floor", fan_out, floors["set"], "ratio fan-out cost / floor")
    report.ratio("orm_over_floor", floors["orm"], floors["set"], "ratio ORM insert / floor")
    report.ratio("core_over_floor", floors["core"], floors["set"], "ratio Core executemany / floor")


def _insert_set(conn: Any, dialect: str, notice_id: int, chain_id: int, orgs: list[int]) -> None:
    """One statement, the org ids as one parameter: unnest() of an array, json_each() on SQLite."""
    if dialect == "postgresql":
        source = "SELECT :nid, unnest(CAST(:orgs AS BIGINT[])), :cid"
        orgs_param: Any = orgs
    else:
        source = "SELECT :nid, value, :cid FROM json_each(:orgs)"
        orgs_param = json.dumps(orgs)
    conn.execute(
        text(f"INSERT INTO notice_recipients (notice_id, org_id, chain_id) {source}"),
        {"nid": notice_id, "cid": chain_id, "orgs": orgs_param},
    )


def _insert_floor(env: BenchApp, world: NoticeWorld, orgs: list[int]) -> dict[str, float]:
    """Median seconds to insert one recipient row per org: the service's way (ORM bulk insert),
    Core executemany, and one INSERT ... SELECT over the ids (the floor), each into a fresh
    notice in a transaction that is rolled back."""
    built = world.built
    samples: dict[str, list[float]] = {"orm": [], "core": [], "set": []}
    ids = sorted(orgs)
    with env.engine.connect() as conn:
        sender_user = conn.scalar(
            select(User.id).where(User.org_id == built.owner_org_id).order_by(User.id).limit(1)
        )
    for _ in range(BROADCAST_REPEAT):
        for kind, values in samples.items():
            with env.engine.connect() as conn:
                transaction = conn.begin()
                notice_id = conn.scalar(
                    insert(Notice)
                    .values(
                        chain_id=built.chain_id,
                        sender_org_id=built.owner_org_id,
                        sender_user_id=sender_user,
                        kind="supply",
                        title="Floor",
                        body="",
                        audience={},
                        requires_ack=False,
                        recipients_count=len(ids),
                    )
                    .returning(Notice.id)
                )
                rows = [
                    {"notice_id": notice_id, "org_id": org, "chain_id": built.chain_id}
                    for org in ids
                ]
                start = time.perf_counter()
                if kind == "orm":
                    with Session(bind=conn) as session:
                        session.execute(insert(NoticeRecipient), rows)
                elif kind == "core":
                    conn.execute(insert(NoticeRecipient.__table__), rows)
                else:
                    _insert_set(conn, env.dialect, notice_id, built.chain_id, ids)
                values.append(time.perf_counter() - start)
                inserted = conn.scalar(
                    select(func.count())
                    .select_from(NoticeRecipient)
                    .where(NoticeRecipient.notice_id == notice_id)
                )
                transaction.rollback()
                if inserted != len(ids):
                    raise RuntimeError(f"{kind}: {inserted} of {len(ids)} rows inserted")
    return {kind: statistics.median(values) for kind, values in samples.items()}


def _fill_inbox(env: BenchApp, report: Report, world: NoticeWorld) -> None:
    """Top the dealer's inbox up to INBOX_NOTICES with notices of the owner's, as sent ones are."""
    start = time.perf_counter()
    dealer = world.dealer_org_id
    built = world.built
    now = utcnow()
    with env.engine.begin() as conn:
        have = conn.scalar(
            select(func.count())
            .select_from(NoticeRecipient)
            .where(NoticeRecipient.org_id == dealer)
        )
        dealer_user = conn.scalar(
            select(User.id).where(User.org_id == dealer).order_by(User.id).limit(1)
        )
        sender_user = conn.scalar(
            select(User.id).where(User.org_id == built.owner_org_id).order_by(User.id).limit(1)
        )
        wanted = max(0, scaled(INBOX_NOTICES) - (have or 0))
        audience = {"all": False, "tiers": [], "groups": [], "orgs": [str(dealer)]}
        notice_ids = list(
            conn.execute(
                insert(Notice).returning(Notice.id, sort_by_parameter_order=True),
                [
                    {
                        "chain_id": built.chain_id,
                        "sender_org_id": built.owner_org_id,
                        "sender_user_id": sender_user,
                        "kind": "demand" if i % 3 == 0 else "supply",
                        "title": f"Weekly allocation {i:05d}",
                        "body": BODY,
                        "audience": audience,
                        "requires_ack": i % 2 == 0,
                        "ack_due": None,
                        "recipients_count": 1,
                        "created_at": now,
                        "withdrawn_at": None,
                    }
                    for i in range(wanted)
                ],
            ).scalars()
        )
        if notice_ids:
            conn.execute(
                insert(NoticeItem),
                [
                    {
                        "notice_id": nid,
                        "position": 0,
                        "sku": f"SKU-{i % 400:04d}",
                        "description": None,
                        "qty": i % 90 + 10,
                        "unit": "pcs",
                        "unit_price": None,
                        "available_from": None,
                        "available_until": None,
                    }
                    for i, nid in enumerate(notice_ids)
                ],
            )
            # A lived-in inbox: two thirds read, the acked ones among those that ask for it.
            conn.execute(
                insert(NoticeRecipient),
                [
                    {
                        "notice_id": nid,
                        "org_id": dealer,
                        "chain_id": built.chain_id,
                        "read_at": now if i % 3 else None,
                        "read_by": dealer_user if i % 3 else None,
                        "acked_at": now if i % 3 and i % 2 == 0 else None,
                        "acked_by": dealer_user if i % 3 and i % 2 == 0 else None,
                        "ack_note": None,
                        "responded_at": None,
                    }
                    for i, nid in enumerate(notice_ids)
                ],
            )
    if env.dialect == "postgresql":
        with env.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    report.line("inbox_inserted", len(notice_ids), "notices inserted for the dealer")
    report.seconds("inbox_setup_seconds", time.perf_counter() - start, "inbox setup (bulk insert)")


def _inbox_queries(env: BenchApp, report: Report, world: NoticeWorld) -> None:
    report.section("GET /notices (dealer inbox) page_size 50 vs 500")
    small_path, large_path = "/notices?page_size=50", "/notices?page_size=500"
    first = world.dealer.get(small_path)
    world.dealer.get(large_path)
    report.expect("inbox_total", first["total"], scaled(INBOX_NOTICES), "inbox total")
    with count_queries(env.engine) as small:
        small_page = world.dealer.get(small_path)
    with count_queries(env.engine) as large:
        large_page = world.dealer.get(large_path)
    report.line(
        "inbox_items_50_500",
        [len(small_page["items"]), len(large_page["items"])],
        "items returned (50, 500)",
        f"{len(small_page['items'])}, {len(large_page['items'])}",
    )
    report.line("inbox_queries_50", small.count, "statements, page_size=50")
    report.expect("inbox_queries_500", large.count, small.count, "statements, page_size=500")
    medians = timed_together(
        {
            "50": lambda: world.dealer.get(small_path),
            "500": lambda: world.dealer.get(large_path),
        },
        repeat=PAGE_REPEAT,
    )
    report.seconds("inbox_seconds_50", medians["50"], "page_size=50, median (test client)")
    report.seconds("inbox_seconds_500", medians["500"], "page_size=500, median (test client)")


# --- a real server and concurrent clients -----------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_command(port: int) -> list[str]:
    """`supplychain serve` from this interpreter's environment."""
    script = Path(sys.executable).with_name("supplychain")
    prefix = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from supplychain.cli import main; main()"]
    )
    return [
        *prefix,
        "serve",
        "--no-scheduler",
        "--no-worker",  # the web path alone; deliveries are measured on their own
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
    ]


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]

    def worker_pids(self) -> list[int]:
        """gunicorn's workers: the processes whose parent is the master."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.process.pid:
                pids.append(int(entry))
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the master and its workers so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.process.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks


@contextmanager
def running_server(url: str) -> Iterator[Server]:
    """`supplychain serve` on a free loopback port against `url`; stopped with SIGTERM after."""
    log_dir = tempfile.mkdtemp(prefix="supplychain-bench-serve-")
    log_path = os.path.join(log_dir, "server.log")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SUPPLYCHAIN_REPORTS_DIR": os.path.join(log_dir, "reports"),
        "SECRET_KEY": "bench-secret",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _serve_command(port), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server, log_path)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(log_dir, ignore_errors=True)


def _tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(server: Server, log_path: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{_tail(log_path)}"
            )
        try:
            if requests.get(server.base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {SERVER_START_TIMEOUT} s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's graceful stop) to the master we started; SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)


@dataclass
class Load:
    ok: int
    errors: int
    seconds: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def drive(server: Server, path: str, headers: dict[str, str], seconds: float) -> Load:
    """CLIENTS threads, one keep-alive requests.Session each, GET `path` until the deadline."""
    ok = [0] * CLIENTS
    errors = [0] * CLIENTS
    window: dict[str, float] = {}

    def start_clock() -> None:
        window["start"] = time.perf_counter()
        window["deadline"] = window["start"] + seconds
        window["cpu"] = server.cpu_seconds()

    barrier = threading.Barrier(CLIENTS, action=start_clock)
    url = server.base + path

    def client(i: int) -> None:
        with requests.Session() as session:
            session.headers.update(headers)
            try:
                session.get(url, timeout=30)  # connect before the clock starts
            except requests.RequestException:
                errors[i] += 1
            barrier.wait()
            deadline = window["deadline"]
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.perf_counter() >= deadline:
                    break
                try:
                    response = session.get(url, timeout=30)
                except requests.RequestException:
                    errors[i] += 1
                    continue
                if response.status_code == 200:
                    ok[i] += 1
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - window["start"]
    return Load(sum(ok), sum(errors), elapsed, server.cpu_seconds() - window["cpu"])


def _throughput(env: BenchApp, report: Report, world: NoticeWorld) -> None:
    report.section(f"{CLIENTS} clients against `supplychain serve` ({WORKERS}x{THREADS} gthread)")
    auth = {"Authorization": f"Bearer {world.dealer_token}"}
    chain = f"/api/v1/chains/{world.built.chain_id}"
    # GET /chains/{id} as the dealer: token check and chain access only, the floor of any
    # authenticated request, to tell the inbox's own cost from what every API call pays.
    cases = {
        "healthz": ("/healthz", {}),
        "chain": (chain, auth),
        "inbox": (f"{chain}/notices?page_size=50", auth),
    }
    with running_server(env.url) as server:
        # Every worker builds the chain's graph and its statement caches on its first requests.
        for path, headers in cases.values():
            drive(server, path, headers, WARMUP_SECONDS)
        loads: dict[str, list[Load]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, (path, headers) in cases.items():
                loads[name].append(drive(server, path, headers, ROUND_SECONDS))
        workers = len(server.worker_pids())
    totals = {
        name: Load(
            ok=sum(x.ok for x in runs),
            errors=sum(x.errors for x in runs),
            seconds=sum(x.seconds for x in runs),
            server_cpu=sum(x.server_cpu for x in runs),
        )
        for name, runs in loads.items()
    }
    health, floor, inbox = totals["healthz"], totals["chain"], totals["inbox"]
    report.line("server_workers", workers, "gunicorn workers seen")
    report.line("healthz_rps", health.rate, "GET /healthz, requests/s", f"{health.rate:.0f}")
    report.line(
        "chain_rps", floor.rate, "GET /chains/{id} (auth only), requests/s", f"{floor.rate:.0f}"
    )
    report.line("inbox_rps", inbox.rate, "GET inbox page_size=50, requests/s", f"{inbox.rate:.0f}")
    report.ratio(
        "inbox_over_healthz_rps",
        inbox.rate,
        health.rate,
        "ratio inbox / healthz req/s (target >= 0.35)",
        digits=2,
    )
    report.ratio(
        "inbox_over_chain_rps", inbox.rate, floor.rate, "ratio inbox / auth-only req/s", digits=2
    )
    errors = sum(load.errors for load in totals.values())
    report.expect("load_errors", errors, 0, "non-200 or failed requests")
    cpu = {name: load.server_cpu / load.ok if load.ok else 0.0 for name, load in totals.items()}
    report.seconds("healthz_server_cpu", cpu["healthz"], "server CPU per request, healthz")
    report.seconds("chain_server_cpu", cpu["chain"], "server CPU per request, auth only")
    report.seconds("inbox_server_cpu", cpu["inbox"], "server CPU per request, inbox")
    report.ratio(
        "healthz_over_inbox_cpu",
        cpu["healthz"],
        cpu["inbox"],
        "ratio healthz / inbox server CPU per request",
        digits=2,
    )


def run(report: Report) -> None:
    """Fan-out cost, then the inbox: statements per page size and throughput on a real server."""
    with bench_app() as env:
        world = _build(env, report)
        _broadcast(env, report, world)
        _fill_inbox(env, report, world)
        _inbox_queries(env, report, world)
        _throughput(env, report, world)
