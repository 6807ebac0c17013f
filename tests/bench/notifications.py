"""Issue 12: what notifications cost a notice, and how fast workers deliver them.

1. POST /notices to all of D1 (10 000 orgs, 20 000 signed-up contacts) with notifications on
   (everyone's email `immediate`, 2 000 webhook endpoints) against the same notice with them off
   (everyone's email `off`, the endpoints disabled), in turns: target <= 2x.
2. `supplychain worker` processes against a local aiosmtpd server and a local threaded HTTP
   receiver answering 200: emails/s and webhooks/s of one worker (target >= 200/s each), and
   two workers against one on a mixed queue (target >= 1.7x). The SMTP server only counts what
   it accepts (the tests' collector parses every message, which costs the server more than the
   worker spends writing it). Both servers run in this process, beside the workers, the
   database and whatever else runs on the machine: the report adds up the CPU every delivery
   costs (workers + servers) and the machine's busy cores during the runs, and from them the
   rate the machine's cores allow at all, which bounds what a second worker can add.
3. The dealer inbox under 8 clients against `supplychain serve` while 20 000 deliveries drain
   through a worker beside it, against the same with nothing to deliver, in turns (>= 0.8x).
   Everything shares the machine's CPUs: the deliveries/s drained meanwhile are shown too. The
   worker runs at its default nice value (SUPPLYCHAIN_WORKER_NICE=10): it yields the CPU to
   the web and the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from supplychain.models import User
from supplychain.models.base import utcnow
from supplychain.models.events import Delivery, Event, NotificationSetting, WebhookEndpoint
from supplychain.services.webhooks import new_secret
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
from tests.bench.notices import (
    CLIENTS,
    ROUND_SECONDS,
    ROUNDS,
    WARMUP_SECONDS,
    Load,
    _notice_body,
    _stop,
    _tail,
    drive,
    running_server,
)
from tests.mailserver import smtp_server
from tests.receiver import Receiver, running_receiver

DEALERS = 10_000
CONTACTS_PER_ORG = 2  # 20 000 people, all signed up, email on
ENDPOINTS = 2_000
BROADCAST_REPEAT = 5
PER_CHANNEL = 2_000  # deliveries per channel a worker drains
WORKER_ROUNDS = 2  # one worker, two workers, one, two
BACKLOG = 20_000  # deliveries draining while the inbox is under load
WORKER_START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 600.0
POLL = 0.02


class CountingHandler:
    """The bench's SMTP handler: takes every message and counts it, without parsing it."""

    def __init__(self) -> None:
        self.messages: list[int] = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(len(envelope.content))
        return "250 Message accepted"


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (0, 0 if none):
    user, nice, system, irq and softirq time are busy; idle, iowait and steal are not (guest
    time is counted in user time already)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    except OSError:
        return 0.0, 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields)
    rate = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq
    return busy / rate, (busy + idle + iowait + steal) / rate


def _database_cpu(url: str) -> float | None:
    """CPU seconds of the bench's PostgreSQL cluster so far (postmaster, its live backends and
    those gone), when it runs on this machine under a socket directory; None otherwise."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.query.get("host") if parsed.get_backend_name() == "postgresql" else None
    if isinstance(host, tuple):
        host = host[0]
    if not host or not host.startswith("/"):
        return None
    try:
        postmaster = int((Path(host) / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:  # with the CPU of its children that have ended
            total += sum(int(x) for x in fields[11:15])
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass
class World:
    owner: Caller
    built: BuiltChain
    users: list[int]
    endpoints: list[int]


def _build(env: BenchApp, report: Report, receiver: Receiver) -> World:
    start = time.perf_counter()
    owner = bootstrap_owner(env.app)
    chain_id = create_bench_chain(env.app, owner)
    shape = ChainShape(tiers={"D1": scaled(DEALERS)}, contacts_per_org=CONTACTS_PER_ORG)
    built = insert_chain(env.app, chain_id, owner, shape)
    caller = Caller(env.app.test_client(), owner.token, chain_id)
    caller.call("POST", "/grants", {"app": "notices", "scope": {"type": "all"}}, 201)
    d1 = built.orgs_by_tier["D1"]
    now = utcnow()
    with env.engine.begin() as conn:
        # Signed up (mail goes only to people with a password), each with a settings row.
        conn.execute(
            update(User).where(User.org_id.in_(d1)).values(password_hash="bench-not-a-hash")
        )
        users = list(
            conn.scalars(select(User.id).where(User.org_id.in_(d1)).order_by(User.id)).all()
        )
        conn.execute(
            insert(NotificationSetting),
            [
                {"user_id": u, "email": "immediate", "events": None, "updated_at": now}
                for u in users
            ],
        )
        endpoint_ids = list(
            conn.execute(
                insert(WebhookEndpoint).returning(WebhookEndpoint.id, sort_by_parameter_order=True),
                [
                    {
                        "chain_id": chain_id,
                        "org_id": org_id,
                        "url": f"{receiver.url}/hooks/{org_id}",
                        "kind": "standard",
                        "language": "en",
                        "events": ["*"],
                        "description": None,
                        "secret": new_secret(),
                        "enabled": True,
                        "created_by": owner.user_id,
                        "created_at": now,
                        "updated_at": now,
                        "deleted_at": None,
                    }
                    for org_id in d1[: scaled(ENDPOINTS)]
                ],
            ).scalars()
        )
    report.line("d1_orgs", len(d1), "D1 orgs (the audience)")
    report.line("people", len(users), "signed-up contacts")
    report.line("endpoints", len(endpoint_ids), "webhook endpoints")
    report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
    return World(caller, built, users, endpoint_ids)


def _notifications(env: BenchApp, on: bool) -> None:
    """Everyone's email `immediate` and every endpoint enabled, or email `off` and none."""
    with env.engine.begin() as conn:
        conn.execute(update(NotificationSetting).values(email="immediate" if on else "off"))
        conn.execute(update(WebhookEndpoint).values(enabled=on))


def _deliveries(env: BenchApp) -> int:
    with env.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Delivery)) or 0


def _broadcast(env: BenchApp, report: Report, world: World) -> None:
    report.section("POST /notices to all of D1: notifications on vs off")
    counter = iter(range(1_000_000))
    tier = {"tiers": ["D1"]}
    made: dict[str, int] = {}

    def send(name: str) -> None:
        before = _deliveries(env)
        world.owner.call("POST", "/notices", _notice_body(next(counter), tier), 201)
        made[name] = _deliveries(env) - before

    setups = {"on": lambda: _notifications(env, True), "off": lambda: _notifications(env, False)}
    queries: dict[str, int] = {}
    for name, setup in setups.items():
        setup()
        send(name)  # warms imports and compiled statements
        with count_queries(env.engine) as counted:
            world.owner.call("POST", "/notices", _notice_body(next(counter), tier), 201)
        queries[name] = counted.count
    medians = timed_together(
        {"on": lambda: send("on"), "off": lambda: send("off")},
        repeat=BROADCAST_REPEAT,
        setups=setups,
    )
    expected = len(world.users) + len(world.endpoints)
    report.expect("on_deliveries", made["on"], expected, "deliveries queued per notice, on")
    report.expect("off_deliveries", made["off"], 0, "deliveries queued per notice, off")
    report.seconds("notice_on_seconds", medians["on"], "POST, notifications on, median")
    report.seconds("notice_off_seconds", medians["off"], "POST, notifications off, median")
    report.ratio(
        "notice_on_over_off",
        medians["on"],
        medians["off"],
        "ratio on / off (target <= 2x)",
        digits=2,
    )
    report.line("notice_on_queries", queries["on"], "statements, POST with notifications on")
    report.line("notice_off_queries", queries["off"], "statements, POST with notifications off")


# --- delivery workers -------------------------------------------------------------------------


def _worker_command() -> list[str]:
    script = Path(sys.executable).with_name("supplychain")
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-c", "from supplychain.cli import main; main()", "worker"]


@contextmanager
def running_workers(
    env: BenchApp, count: int, smtp_url: str, nice: int | None = 0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes on the bench database, idle and polling when this yields; at
    normal priority (nice 0: what a worker can do), or `nice`, None for the default."""
    log_dir = tempfile.mkdtemp(prefix="supplychain-bench-worker-")
    environ = {
        **os.environ,
        "DATABASE_URL": env.url,
        "SUPPLYCHAIN_REPORTS_DIR": os.path.join(log_dir, "reports"),
        "SECRET_KEY": "bench-secret",
        "SUPPLYCHAIN_SMTP_URL": smtp_url,
        "SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE": "1",
        "SUPPLYCHAIN_BASE_URL": "http://localhost:8000",
    }
    if nice is not None:
        environ["SUPPLYCHAIN_WORKER_NICE"] = str(nice)
    processes: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for i in range(count):
            log_path = os.path.join(log_dir, f"worker{i}.log")
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    _worker_command(), env=environ, stdout=log, stderr=subprocess.STDOUT
                )
            processes.append((process, log_path))
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        for process, log_path in processes:
            while "started" not in _tail(log_path):
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited {process.returncode}:\n{_tail(log_path)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker not started:\n{_tail(log_path)}")
                time.sleep(0.1)
        yield [process for process, _ in processes]
    finally:
        for process, _ in processes:
            _stop(process)
        shutil.rmtree(log_dir, ignore_errors=True)


def _queue(env: BenchApp, world: World, event_id: int, emails: int, webhooks: int) -> int:
    """Queue due deliveries of one event: `emails` to distinct people, `webhooks` to endpoints
    (round robin), interleaved so that batches mix the channels."""
    now = utcnow()
    base = {
        "event_id": event_id,
        "chain_id": world.built.chain_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    mail = [
        base | {"channel": "email", "user_id": world.users[i % len(world.users)]}
        for i in range(emails)
    ]
    hooks = [
        base | {"channel": "webhook", "endpoint_id": world.endpoints[i % len(world.endpoints)]}
        for i in range(webhooks)
    ]
    rows: list[dict[str, Any]] = []
    for i in range(max(emails, webhooks)):
        rows += [r[i] for r in (mail, hooks) if i < len(r)]
    for row in rows:
        row.setdefault("user_id", None)
        row.setdefault("endpoint_id", None)
    with env.engine.begin() as conn:
        conn.execute(insert(Delivery), rows)
    return len(rows)


def _cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU seconds of the worker processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in processes:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass
class Drain:
    total: int
    seconds: float
    succeeded: int
    error: str | None = None
    cpu: float = 0.0
    local_cpu: float = 0.0  # this process: the SMTP server, the receiver, the polling
    mails: int = 0
    requests: int = 0
    machine_busy: float = 0.0  # CPU seconds the whole machine was busy (all processes)
    database_cpu: float = 0.0  # the PostgreSQL cluster's (SQLite's is in the workers')

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


@dataclass
class Rig:
    env: BenchApp
    world: World
    event_id: int
    receiver: Receiver
    collector: Any
    processes: list[subprocess.Popen[bytes]]

    def drain(self, emails: int, webhooks: int) -> Drain:
        """A drain, with the workers' CPU time and what the servers got during it."""
        local = time.process_time()
        database = _database_cpu(self.env.url) or 0.0
        cpu, mails, requests = (
            _cpu_seconds(self.processes),
            len(self.collector.messages),
            len(self.receiver.receipts),
        )
        run = _drain(self.env, self.world, self.event_id, emails, webhooks)
        run.cpu = _cpu_seconds(self.processes) - cpu
        run.local_cpu = time.process_time() - local
        run.database_cpu = (_database_cpu(self.env.url) or 0.0) - database
        run.mails = len(self.collector.messages) - mails
        run.requests = len(self.receiver.receipts) - requests
        return run


def _drain(env: BenchApp, world: World, event_id: int, emails: int, webhooks: int) -> Drain:
    """Queue, then time from the first claim until nothing is pending (the workers run)."""
    with env.engine.begin() as conn:
        conn.execute(delete(Delivery))
    total = _queue(env, world, event_id, emails, webhooks)
    leased = func.count(Delivery.lease_until)
    started = None
    busy = 0.0
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        with env.engine.connect() as conn:
            pending, claimed = conn.execute(
                select(func.count(), leased).where(Delivery.status == "pending")
            ).one()
        now = time.perf_counter()
        if started is None and (claimed or pending < total):
            started = now
            busy = _machine_busy()[0]
        if pending == 0:
            break
        time.sleep(POLL)
    else:
        raise RuntimeError(f"{pending} of {total} deliveries still pending")
    with env.engine.connect() as conn:
        succeeded = conn.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
        )
        error = conn.scalar(
            select(Delivery.last_error).where(Delivery.status != "succeeded").limit(1)
        )
    run = Drain(total, now - (started or now), succeeded or 0, error)
    run.machine_busy = _machine_busy()[0] - busy
    return run


def _combined(drains: list[Drain]) -> Drain:
    """Several drains as one: their totals, times, CPU and counts added up."""
    return Drain(
        total=sum(d.total for d in drains),
        seconds=sum(d.seconds for d in drains),
        succeeded=sum(d.succeeded for d in drains),
        error=next((d.error for d in drains if d.error), None),
        cpu=sum(d.cpu for d in drains),
        local_cpu=sum(d.local_cpu for d in drains),
        mails=sum(d.mails for d in drains),
        requests=sum(d.requests for d in drains),
        machine_busy=sum(d.machine_busy for d in drains),
        database_cpu=sum(d.database_cpu for d in drains),
    )


def _workers(env: BenchApp, report: Report, world: World, receiver: Receiver, smtp) -> None:
    collector, smtp_url = smtp
    n = scaled(PER_CHANNEL)
    _notifications(env, True)
    with env.engine.begin() as conn:  # the broadcasts' deliveries: not what is measured here
        conn.execute(delete(Delivery))
    with env.engine.connect() as conn:
        event_id = conn.scalar(select(func.max(Event.id)))
    report.section(
        f"`supplychain worker` processes (nice 0): {n} emails, {n} webhooks (local servers)"
    )
    report.line("worker_batch", env.app.config["WORKER_BATCH"], "worker batch (claimed at once)")
    report.line("webhook_concurrency", env.app.config["WEBHOOK_CONCURRENCY"], "webhook concurrency")
    with running_workers(env, 1, smtp_url) as processes:
        rig = Rig(env, world, event_id, receiver, collector, processes)
        mails = rig.drain(n, 0)
        hooks = rig.drain(0, n)
    # One worker and two on the same mixed queue, in turns: load changes hit both alike.
    mixed: dict[int, list[Drain]] = {1: [], 2: []}
    for _ in range(WORKER_ROUNDS):
        for count, drains in mixed.items():
            with running_workers(env, count, smtp_url) as processes:
                drains.append(Rig(env, world, event_id, receiver, collector, processes).drain(n, n))
    one, two = (_combined(mixed[1]), _combined(mixed[2]))
    runs = {"emails": mails, "webhooks": hooks, "mixed_one": one, "mixed_two": two}
    succeeded = sum(run.succeeded for run in runs.values())
    report.expect("delivered", succeeded, sum(run.total for run in runs.values()), "succeeded")
    report.line(
        "emails_per_second", mails.rate, "one worker, emails/s (target >= 200)", f"{mails.rate:.0f}"
    )
    report.line(
        "webhooks_per_second",
        hooks.rate,
        "one worker, webhooks/s (target >= 200)",
        f"{hooks.rate:.0f}",
    )
    report.line(
        "mixed_one_per_second", one.rate, "one worker, mixed deliveries/s", f"{one.rate:.0f}"
    )
    report.line(
        "mixed_two_per_second", two.rate, "two workers, mixed deliveries/s", f"{two.rate:.0f}"
    )
    report.ratio(
        "two_over_one_workers", two.rate, one.rate, "ratio two / one worker (target >= 1.7x)", 2
    )
    for name, run in runs.items():
        if run.error:
            report.warnings.append(f"{name}: a delivery failed: {run.error}")
    for name, run in runs.items():
        report.seconds(
            f"{name}_worker_cpu", run.cpu / run.total, f"worker CPU per delivery, {name}"
        )
        report.seconds(
            f"{name}_servers_cpu", run.local_cpu / run.total, f"servers' CPU per delivery, {name}"
        )
    _ceiling(report, one, two)
    report.line(
        "smtp_messages",
        [run.mails for run in runs.values()],
        "SMTP messages got (emails, -, mixed 1, mixed 2)",
        ", ".join(str(run.mails) for run in runs.values()),
    )
    report.line(
        "webhook_requests",
        [run.requests for run in runs.values()],
        "webhook requests got (-, webhooks, mixed 1, 2)",
        ", ".join(str(run.requests) for run in runs.values()),
    )


def _ceiling(report: Report, one: Drain, two: Drain) -> None:
    """What the machine's cores allow. The CPU one delivery costs on its whole path (workers,
    servers, and the PostgreSQL cluster; SQLite's work is in the workers') gives the rate at
    which the cores would all be busy with the machine to ourselves; the machine's busy cores
    meanwhile (other jobs included) say how much of that was there to take. A second worker
    adds at most what the first leaves of the cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    path_cpu = (one.cpu + one.local_cpu + one.database_cpu) / one.total
    report.seconds(
        "mixed_path_cpu", path_cpu, "CPU per delivery, workers + servers + database, one"
    )
    for name, run in (("one", one), ("two", two)):
        busy = run.machine_busy / run.seconds if run.seconds else 0.0
        ours = (run.cpu + run.local_cpu + run.database_cpu) / run.seconds if run.seconds else 0.0
        report.line(
            f"busy_cores_{name}",
            {"machine": busy, "ours": ours},
            f"cores busy of {cores}, all / ours, {name} worker(s)",
            f"{busy:.2f} / {ours:.2f}",
        )
    ceiling = cores / path_cpu if path_cpu else 0.0
    report.line(
        "mixed_ceiling_per_second",
        ceiling,
        f"deliveries/s at which our path fills {cores} cores",
        f"{ceiling:.0f}",
    )
    report.ratio(
        "two_over_one_ceiling", ceiling, one.rate, "that / one worker: most two could show", 2
    )
    others = max(0.0, (one.machine_busy - one.cpu - one.local_cpu - one.database_cpu) / one.seconds)
    left = max(0.0, cores - others)
    report.ratio(
        "two_over_one_left",
        min(ceiling, left / path_cpu) if path_cpu else 0.0,
        one.rate,
        f"same with the {others:.2f} cores others used meanwhile",
        2,
    )


def _succeeded(env: BenchApp) -> int:
    with env.engine.connect() as conn:
        return (
            conn.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
            )
            or 0
        )


def _inbox_while_draining(env: BenchApp, report: Report, world: World, smtp_url: str) -> None:
    """The inbox under CLIENTS clients (`supplychain serve`), with BACKLOG deliveries draining
    through one worker process beside it, and with none; in turns."""
    backlog = scaled(BACKLOG)
    report.section(f"inbox, {CLIENTS} clients: while {backlog} deliveries drain vs idle")
    dealer = world.built.orgs_by_tier["D1"][0]
    auth = {"Authorization": f"Bearer {org_token(env.app, dealer)}"}
    path = f"/api/v1/chains/{world.built.chain_id}/notices?page_size=50"
    with env.engine.connect() as conn:
        event_id = conn.scalar(select(func.max(Event.id)))
    loads: dict[str, list[Load]] = {"idle": [], "draining": []}
    drained: list[float] = []
    # CPU seconds per second of each party, by round kind: where the inbox's CPU went.
    cpu: dict[str, dict[str, float]] = {"idle": {}, "draining": {}}

    def measured(kind: str, workers: list[subprocess.Popen[bytes]]) -> Load:
        before = (
            _cpu_seconds(workers),
            _database_cpu(env.url),
            time.process_time(),
            _machine_busy()[0],
        )
        load = drive(server, path, auth, ROUND_SECONDS)
        after = (
            _cpu_seconds(workers),
            _database_cpu(env.url),
            time.process_time(),
            _machine_busy()[0],
        )
        parts = {
            "web": load.server_cpu,
            "worker": after[0] - before[0],
            "database": (after[1] or 0.0) - (before[1] or 0.0),
            "bench": after[2] - before[2],
            "machine": after[3] - before[3],
        }
        for name, value in parts.items():
            cpu[kind][name] = cpu[kind].get(name, 0.0) + value / load.seconds / ROUNDS
        loads[kind].append(load)
        return load

    # The worker as deployed: at its default nice value, yielding to the web and the database.
    with (
        running_server(env.url) as server,
        running_workers(env, 1, smtp_url, nice=None) as workers,
    ):
        drive(server, path, auth, WARMUP_SECONDS)
        for _ in range(ROUNDS):
            with env.engine.begin() as conn:
                conn.execute(delete(Delivery))
            measured("idle", workers)
            _queue(env, world, event_id, backlog // 2, backlog - backlog // 2)
            time.sleep(1.5)  # the worker polls once a second when idle
            before = _succeeded(env)
            load = measured("draining", workers)
            drained.append((_succeeded(env) - before) / load.seconds)
        with env.engine.begin() as conn:
            conn.execute(delete(Delivery))
    rates = {
        name: sum(x.ok for x in runs) / sum(x.seconds for x in runs) for name, runs in loads.items()
    }
    errors = sum(x.errors for runs in loads.values() for x in runs)
    report.line(
        "inbox_idle_rps", rates["idle"], "inbox req/s, no deliveries", f"{rates['idle']:.0f}"
    )
    report.line(
        "inbox_draining_rps",
        rates["draining"],
        "inbox req/s, deliveries draining",
        f"{rates['draining']:.0f}",
    )
    report.ratio(
        "inbox_draining_over_idle",
        rates["draining"],
        rates["idle"],
        "ratio draining / idle (target >= 0.8x)",
        2,
    )
    rate = sum(drained) / len(drained)
    report.line("drain_rate_under_load", rate, "deliveries/s drained meanwhile", f"{rate:.0f}")
    has_database = _database_cpu(env.url) is not None
    for kind, parts in cpu.items():
        shown = ", ".join(
            f"{name} {value:.2f}"
            for name, value in parts.items()
            if name != "database" or has_database
        )
        report.line(f"inbox_cpu_{kind}", parts, f"cores used, {kind}", shown)
    report.expect("inbox_errors", errors, 0, "non-200 or failed requests")


def run(report: Report) -> None:
    """Notice cost with notifications on vs off, worker delivery rates, the inbox meanwhile."""
    with (
        running_receiver() as receiver,
        smtp_server(CountingHandler()) as smtp,
        bench_app() as env,
    ):
        world = _build(env, report, receiver)
        _broadcast(env, report, world)
        _workers(env, report, world, receiver, smtp)
        _inbox_while_draining(env, report, world, smtp[1])
