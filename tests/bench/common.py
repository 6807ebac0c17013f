"""What every benchmark shares: a fresh migrated database and app, fast bulk data, timing,
query counting and the report that prints aligned `name: value` lines."""

from __future__ import annotations

import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from flask import Flask
from sqlalchemy import (
    Engine,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from supplychain.app import create_app
from supplychain.auth import Actor
from supplychain.config import ROOT, TestConfig, normalise_database_url
from supplychain.extensions import db
from supplychain.migrate import upgrade_database
from supplychain.models import Base, Chain, Contact, Group, Link, Member, Org, User
from supplychain.models.base import utcnow
from supplychain.services.accounts import bootstrap_admin, issue_token
from supplychain.services.chains import GRAPHS, create_chain

RESULTS_FILE = ROOT / "bench-results" / "latest.json"
PASSWORD = "bench password"
LABEL_WIDTH = 46

# --- database and app -------------------------------------------------------------------------


def database_url(tmp_dir: str) -> str:
    """$BENCH_DATABASE_URL (normalised) or a new SQLite file in tmp_dir."""
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp_dir}/bench.sqlite3"
    return normalise_database_url(url)


def scaled(n: int) -> int:
    """n times $BENCH_SCALE (default 1), at least 1."""
    return max(1, round(n * float(os.environ.get("BENCH_SCALE") or 1)))


@dataclass
class BenchApp:
    """The app under test and its engine."""

    app: Flask
    url: str
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _empty_tables(engine: Engine) -> None:
    """Empty every table of the schema that exists (models may be ahead of the migrations)."""
    existing = set(inspect(engine).get_table_names())
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
    if not tables:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@contextmanager
def bench_app() -> Iterator[BenchApp]:
    """A migrated, empty database and the app on it (TestConfig: no scheduler); removed after."""
    tmp_dir = tempfile.mkdtemp(prefix="supplychain-bench-")
    try:
        url = database_url(tmp_dir)
        upgrade_database(url)
        app = create_app(TestConfig(url, os.path.join(tmp_dir, "reports")))
        with app.app_context():
            engine = db.engine
        if os.environ.get("BENCH_DATABASE_URL"):
            _empty_tables(engine)
        GRAPHS.clear()
        try:
            yield BenchApp(app=app, url=url, engine=engine)
        finally:
            GRAPHS.clear()
            engine.dispose()
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def machine_facts() -> dict[str, Any]:
    """Python, CPUs, platform, library versions and the database the benchmarks will use."""
    url = make_url(database_url("<tmp>"))
    facts: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "database": url.get_backend_name(),
        "driver": url.get_driver_name(),
        "sqlalchemy": version("sqlalchemy"),
        "networkx": version("networkx"),
        "flask": version("flask"),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "scale": float(os.environ.get("BENCH_SCALE") or 1),
    }
    if url.get_backend_name() == "sqlite":
        facts["database_version"] = sqlite3.sqlite_version
    else:
        facts["database_url"] = url.render_as_string(hide_password=True)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                info = conn.dialect.server_version_info or ()
                facts["database_version"] = ".".join(str(part) for part in info)
        finally:
            engine.dispose()
    return facts


# --- timing and query counting ----------------------------------------------------------------


def timed(
    fn: Callable[[], object], repeat: int = 5, setup: Callable[[], object] | None = None
) -> float:
    """Median wall-clock seconds of fn() over `repeat` calls; setup() runs before each, untimed."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed_together(
    cases: dict[str, Callable[[], object]],
    repeat: int = 5,
    setups: dict[str, Callable[[], object]] | None = None,
) -> dict[str, float]:
    """Median seconds of each case, run in turns (a, b, a, b...) so that a change in machine load
    (other processes) hits every case alike and their ratios stay meaningful."""
    setups = setups or {}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            samples[name].append(timed(fn, repeat=1, setup=setups.get(name)))
    return {name: statistics.median(values) for name, values in samples.items()}


class QueryCounter:
    """Counts the SQL statements sent on an engine while active (BEGIN included)."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count += 1
        self.statements.append(statement)


@contextmanager
def count_queries(engine: Engine) -> Iterator[QueryCounter]:
    """Count statements on `engine` inside the with-block."""
    counter = QueryCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


# --- the report -------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    """Seconds in a unit a person reads at a glance."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


@dataclass
class Report:
    """One benchmark's results: printed as aligned lines as they come, kept for the JSON file."""

    name: str
    results: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def line(
        self, key: str, value: Any, label: str | None = None, shown: str | None = None
    ) -> None:
        """Record results[key] = value and print `label: shown`."""
        self.results[key] = value
        label = (label or key.replace("_", " ")) + ":"
        print(f"  {label:<{LABEL_WIDTH}} {value if shown is None else shown}", flush=True)

    def seconds(self, key: str, value: float, label: str | None = None) -> None:
        """A duration in seconds."""
        self.line(key, value, label, fmt_seconds(value))

    def ratio(
        self, key: str, numerator: float, denominator: float, label: str, digits: int = 1
    ) -> float:
        """numerator / denominator, shown as `12.3x` (`digits` decimals)."""
        value = numerator / denominator if denominator else math.inf
        self.line(key, value, label, f"{value:.{digits}f}x")
        return value

    def expect(self, key: str, value: Any, expected: Any, label: str) -> None:
        """A count that should equal `expected` (not a timing): shown with OK or a warning."""
        ok = value == expected
        self.line(key, value, label, f"{value} (expected {expected}: {'OK' if ok else 'NO'})")
        if not ok:
            self.warnings.append(f"{label} {value}, expected {expected}")

    def section(self, title: str) -> None:
        """A sub-heading."""
        print(f"  -- {title}", flush=True)


# --- bulk chain data --------------------------------------------------------------------------


@dataclass
class Owner:
    """The core org's first admin, signed in."""

    token: str
    user_id: int
    org_id: int


def bootstrap_owner(app: Flask, email: str = "owner@bench.example") -> Owner:
    """An org with its first admin and a bearer token, as `supplychain bootstrap` makes it."""
    with app.app_context():
        issued = bootstrap_admin(
            db.session, "Bench Motors", "manufacturer", email, "Bench Owner", PASSWORD
        )
        db.session.commit()
        return Owner(issued.secret, issued.user.id, issued.user.org_id)


def org_token(app: Flask, org_id: int) -> str:
    """A bearer token for the first user of `org_id` (insert_chain makes it the org's admin)."""
    with app.app_context():
        user = db.session.scalar(
            select(User).where(User.org_id == org_id).order_by(User.id).limit(1)
        )
        assert user is not None, f"org {org_id} has no user"
        issued = issue_token(db.session, user, "bench")
        db.session.commit()
        return issued.secret


@dataclass
class ChainShape:
    """How many member orgs per tier (besides the core) and how the chain is wired."""

    tiers: dict[str, int]  # e.g. {"U1": 300, "D1": 800, "D2": 4800}; consecutive tiers only
    diamond_rate: float = 0.1  # share of orgs with a second supplier (or customer) one tier closer
    contacts_per_org: int = 5
    seed: int = 2


@dataclass
class BuiltChain:
    """What was inserted: ids by planned tier and row counts."""

    chain_id: int
    owner_org_id: int
    orgs_by_tier: dict[str, list[int]]
    links: int
    diamonds: int
    contacts: int
    groups: int

    @property
    def members(self) -> int:
        return 1 + sum(len(ids) for ids in self.orgs_by_tier.values())


UPSTREAM_GROUPS = (
    "Steel",
    "Electronics",
    "Plastics",
    "Rubber",
    "Glass",
    "Textiles",
    "Paint",
    "Chips",
)
REGIONS = {
    "North China": ("Beijing", "Tianjin", "Hebei", "Shanxi", "Inner Mongolia"),
    "East China": ("Shanghai", "Jiangsu", "Zhejiang", "Anhui", "Shandong"),
    "South China": ("Guangdong", "Guangxi", "Hainan", "Fujian", "Hong Kong"),
    "Central China": ("Henan", "Hubei", "Hunan", "Jiangxi", "Chongqing"),
    "West China": ("Sichuan", "Yunnan", "Shaanxi", "Gansu", "Xinjiang"),
    "Northeast": ("Liaoning", "Jilin", "Heilongjiang", "Dalian", "Harbin"),
}
NAME_WORDS = (
    "Golden",
    "Star",
    "Orient",
    "Grand",
    "Union",
    "Harmony",
    "Eagle",
    "Pacific",
    "Jade",
    "Summit",
)


def create_bench_chain(app: Flask, owner: Owner, name: str = "Bench chain") -> int:
    """A chain owned by the owner's org, made by the directory service (core member + contact)."""
    with app.app_context():
        user = db.session.get(User, owner.user_id)
        assert user is not None
        chain = create_chain(db.session, Actor(user=user, token_id=0), name, "CNY", "Asia/Shanghai")
        db.session.commit()
        return chain.id


def _tier_depth(tier: str) -> int:
    return int(tier[1:])


def _insert_groups(conn: Any, chain_id: int, now: Any) -> tuple[int, dict[str, list[int]]]:
    """The group tree; returns its size and the leaf group ids for suppliers ("U") and dealers ("D")."""
    ids: dict[str, int] = {}

    def add_level(paths: list[str]) -> None:
        rows = [
            {
                "chain_id": chain_id,
                "parent_id": ids.get(path.rsplit("/", 1)[0]) if "/" in path else None,
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "number": len(ids) + n + 2,  # the chain's root is 1
                "created_at": now,
            }
            for n, path in enumerate(paths)
        ]
        result = conn.execute(insert(Group).returning(Group.id, sort_by_parameter_order=True), rows)
        ids.update(zip(paths, result.scalars(), strict=True))

    add_level(["Suppliers", "Dealers"])
    add_level([f"Suppliers/{g}" for g in UPSTREAM_GROUPS] + [f"Dealers/{r}" for r in REGIONS])
    add_level([f"Dealers/{r}/{p}" for r, provinces in REGIONS.items() for p in provinces])
    return len(ids), {
        "U": [ids[f"Suppliers/{g}"] for g in UPSTREAM_GROUPS],
        "D": [ids[f"Dealers/{r}/{p}"] for r, provinces in REGIONS.items() for p in provinces],
    }


def _pick_parents(
    rng: random.Random, parents: list[int], weights: list[float], diamond: bool
) -> list[int]:
    first = rng.choices(parents, weights)[0]
    if not diamond or len(parents) < 2:
        return [first]
    second = first
    while second == first:
        second = rng.choices(parents, weights)[0]
    return [first, second]


def insert_chain(app: Flask, chain_id: int, owner: Owner, shape: ChainShape) -> BuiltChain:
    """Bulk-insert orgs, members, groups, links, users and contacts with Core executemany.

    Links only join consecutive tiers (core-U1-U2..., core-D1-D2...), so every org's computed tier
    is its planned one. Fan-out is skewed (Pareto weights: a few big distributors, many small
    ones) and `diamond_rate` of the orgs get a second supplier or customer one tier closer.
    """
    rng = random.Random(shape.seed)
    now = utcnow()
    with app.app_context():
        engine = db.engine
    orgs_by_tier: dict[str, list[int]] = {}
    links: list[dict[str, Any]] = []
    diamonds = 0
    with engine.begin() as conn:
        groups, leaf_groups = _insert_groups(conn, chain_id, now)
        # Closest tiers first, so each tier can be wired to the one before it.
        for tier in sorted(shape.tiers, key=lambda t: (_tier_depth(t), t)):
            count = shape.tiers[tier]
            side, depth = tier[0], _tier_depth(tier)
            kind = "supplier" if side == "U" else "dealer"
            prefix = "SUP" if side == "U" else "DLR"
            org_rows = [
                {
                    "name": f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_WORDS)} {kind.title()} {tier}-{i:05d}",
                    "kind": kind,
                    "created_at": now,
                }
                for i in range(count)
            ]
            org_ids = list(
                conn.execute(
                    insert(Org).returning(Org.id, sort_by_parameter_order=True), org_rows
                ).scalars()
            )
            orgs_by_tier[tier] = org_ids
            conn.execute(
                insert(Member),
                [
                    {
                        "chain_id": chain_id,
                        "org_id": org_id,
                        "custom_id": f"{prefix}-{tier}-{i:05d}",
                        "group_id": rng.choice(leaf_groups[side]),
                        "joined_at": now,
                        "removed_at": None,
                    }
                    for i, org_id in enumerate(org_ids)
                ],
            )
            parents = [owner.org_id] if depth == 1 else orgs_by_tier[f"{side}{depth - 1}"]
            weights = [rng.paretovariate(1.2) for _ in parents]
            for org_id in org_ids:
                diamond = rng.random() < shape.diamond_rate
                picked = _pick_parents(rng, parents, weights, diamond)
                diamonds += len(picked) - 1
                for parent in picked:
                    supplier, customer = (org_id, parent) if side == "U" else (parent, org_id)
                    links.append(
                        {
                            "chain_id": chain_id,
                            "supplier_id": supplier,
                            "customer_id": customer,
                            "created_at": now,
                        }
                    )
        conn.execute(insert(Link), links)
        all_orgs = [org_id for ids in orgs_by_tier.values() for org_id in ids]
        conn.execute(
            insert(User),
            [
                {
                    "org_id": org_id,
                    "email": f"c{n}.org{org_id}@partners.bench.example",
                    "name": f"Contact {n} of org {org_id}",
                    "mobile": f"+86 138 {org_id % 10000:04d} {n:04d}",
                    "title": "Sales" if n else "Manager",
                    "role": "staff" if n else "admin",
                    "password_hash": None,
                    "invite_code_hash": None,
                    "activated_at": None,
                    "created_at": now,
                }
                for org_id in all_orgs
                for n in range(shape.contacts_per_org)
            ],
        )
        conn.execute(
            insert(Contact).from_select(
                ["chain_id", "org_id", "user_id", "created_at"],
                select(
                    literal(chain_id), User.org_id, User.id, literal(now, Contact.created_at.type)
                )
                .where(User.org_id.in_(select(Member.org_id).where(Member.chain_id == chain_id)))
                .where(User.id != owner.user_id)
                .order_by(User.id),
            )
        )
        contacts = conn.scalar(
            select(func.count()).select_from(Contact).where(Contact.chain_id == chain_id)
        )
        # As any membership change does: cached tiers of the old version are stale now.
        conn.execute(
            update(Chain).where(Chain.id == chain_id).values(graph_version=Chain.graph_version + 1)
        )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return BuiltChain(
        chain_id=chain_id,
        owner_org_id=owner.org_id,
        orgs_by_tier=orgs_by_tier,
        links=len(links),
        diamonds=diamonds,
        contacts=contacts,
        groups=groups,
    )
