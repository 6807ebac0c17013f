"""Issue 2: member lists on a 20 000-org chain; tiers from the cached graph, never an N+1.

A tier-filtered page must cost a dict look-up for the tiers, not a graph rebuild: compare the
request with the graph cache cleared before each call (uncached) and with a warm cache, and
count graph builds during the cached calls (must be 0). List endpoints must send the same number
of statements for 50 rows as for 500. Last, writes that need no tier: how many full graph loads
they send, against a write that touches no graph (POST /groups) as the floor.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from supplychain.graph import build_chain_graph, tier_sort_key
from supplychain.models import Link, Member
from supplychain.services.chains import GRAPHS
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
    scaled,
    timed,
    timed_together,
)

# 20 000 member orgs: the core, ~2 000 upstream, the rest downstream.
SHAPE = {"U1": 300, "U2": 1_700, "D1": 800, "D2": 4_800, "D3": 12_399}
UNCACHED_REPEAT = 9
CACHED_REPEAT = 31
PAGE_REPEAT = 9
WRITE_REPEAT = 5
# The statement chain_graph() sends to load a chain's links (one per graph build).
GRAPH_LOAD_SQL = "SELECT links.supplier_id, links.customer_id FROM links "


class Caller:
    """The owner admin calling the API in-process through Flask's test client."""

    def __init__(self, client: FlaskClient, token: str, chain_id: int) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base = f"/api/v1/chains/{chain_id}"

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Send one request under the chain; anything but `status` stops the benchmark."""
        response = self.client.open(
            self.base + path, method=method, json=body, headers=self.headers
        )
        if response.status_code != status:
            raise RuntimeError(
                f"{method} {path} -> {response.status_code}: {response.get_data(True)}"
            )
        return response.get_json()

    def get(self, path: str) -> Any:
        return self.call("GET", path)


def _queries(env: BenchApp, fn: Callable[[], object]) -> int:
    """Statements sent while fn() runs."""
    with count_queries(env.engine) as counter:
        fn()
    return counter.count


def _build_data(env: BenchApp, report: Report) -> tuple[Caller, BuiltChain]:
    start = time.perf_counter()
    owner = bootstrap_owner(env.app)
    chain_id = create_bench_chain(env.app, owner)
    shape = ChainShape(tiers={tier: scaled(n) for tier, n in SHAPE.items()})
    built = insert_chain(env.app, chain_id, owner, shape)
    report.line("members", built.members, "member orgs")
    tiers = sorted(built.orgs_by_tier, key=tier_sort_key)
    by_tier = {tier: len(built.orgs_by_tier[tier]) for tier in tiers}
    report.line(
        "members_by_tier",
        by_tier,
        "members by tier",
        ", ".join(f"{tier} {n}" for tier, n in by_tier.items()),
    )
    report.line("links", built.links, "links (diamonds)", f"{built.links} ({built.diamonds})")
    report.line("contacts", built.contacts)
    report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
    return Caller(env.app.test_client(), owner.token, chain_id), built


def _tier_page(env: BenchApp, report: Report, caller: Caller, built: BuiltChain) -> None:
    report.section("GET /members?tier=D1&page_size=50")
    path = "/members?tier=D1&page_size=50"
    first = caller.get(path)  # warms imports, compiled statements and the cache
    wrong = [m["org_id"] for m in first["items"] if m["tier"] != "D1"]
    report.expect("tier_total", first["total"], len(built.orgs_by_tier["D1"]), "total D1 members")
    report.expect("tier_wrong_items", len(wrong), 0, "items of another tier")

    with env.engine.connect() as conn:
        org_ids = list(
            conn.scalars(
                select(Member.org_id).where(
                    Member.chain_id == built.chain_id, Member.removed_at.is_(None)
                )
            )
        )
        links = [
            (s, c)
            for s, c in conn.execute(
                select(Link.supplier_id, Link.customer_id).where(Link.chain_id == built.chain_id)
            )
        ]

    GRAPHS.clear()
    uncached_queries = _queries(env, lambda: caller.get(path))
    cached_queries = _queries(env, lambda: caller.get(path))
    # In turns, so that other processes' load hits each case alike. Each uncached call leaves
    # the graph cached, so the cached call after it is a hit.
    medians = timed_together(
        {
            "uncached": lambda: caller.get(path),
            "cached": lambda: caller.get(path),
            "floor": lambda: caller.get("/members?page_size=50"),
            "overhead": lambda: caller.get(""),
            "build": lambda: build_chain_graph(built.owner_org_id, org_ids, links),
        },
        repeat=UNCACHED_REPEAT,
        setups={"uncached": GRAPHS.clear},
    )
    uncached, cached, plain = medians["uncached"], medians["cached"], medians["floor"]
    build_only = medians["build"]

    caller.get(path)  # the cache holds the current version now
    builds_before = GRAPHS.builds
    timed(lambda: caller.get(path), repeat=CACHED_REPEAT)
    builds = GRAPHS.builds - builds_before

    report.seconds("tier_uncached_seconds", uncached, "uncached (graph rebuilt), median")
    report.seconds("tier_cached_seconds", cached, "cached, median")
    report.seconds("members_page_seconds", plain, "floor: same page without tier, median")
    report.seconds("request_overhead_seconds", medians["overhead"], "GET /chains/{id} (auth only)")
    report.seconds("graph_build_seconds", build_only, "graph build alone (in memory), median")
    report.ratio("tier_uncached_over_cached", uncached, cached, "ratio uncached / cached")
    report.ratio("tier_cached_over_floor", cached, plain, "ratio cached / floor")
    report.ratio(
        "tier_rebuild_share",
        build_only,
        uncached - cached,
        "ratio graph build / (uncached - cached)",
    )
    report.expect(
        "graph_builds_during_cached", builds, 0, f"graph builds in {CACHED_REPEAT} cached calls"
    )
    report.line("tier_queries_uncached", uncached_queries, "statements per request, uncached")
    report.line("tier_queries_cached", cached_queries, "statements per request, cached")


def _page_size_queries(env: BenchApp, report: Report, caller: Caller, path: str, key: str) -> None:
    report.section(f"GET {path} page_size 50 vs 500")
    sep = "&" if "?" in path else "?"
    small_path, large_path = f"{path}{sep}page_size=50", f"{path}{sep}page_size=500"
    caller.get(small_path)
    caller.get(large_path)
    small = _queries(env, lambda: caller.get(small_path))
    large = _queries(env, lambda: caller.get(large_path))
    medians = timed_together(
        {"50": lambda: caller.get(small_path), "500": lambda: caller.get(large_path)},
        repeat=PAGE_REPEAT,
    )
    small_s, large_s = medians["50"], medians["500"]
    report.line(f"{key}_queries_50", small, "statements, page_size=50")
    report.expect(f"{key}_queries_500", large, small, "statements, page_size=500")
    report.seconds(f"{key}_seconds_50", small_s, "page_size=50, median")
    report.seconds(f"{key}_seconds_500", large_s, "page_size=500, median")
    report.ratio(f"{key}_500_over_50", large_s, small_s, "ratio 500 / 50 rows (10x the rows)")


def _writes(env: BenchApp, report: Report, caller: Caller, built: BuiltChain) -> None:
    """Writes that need no tier: do they load the whole graph anyway? (Runs last: it mutates.)"""
    report.section("writes: full graph loads per request")
    counter = itertools.count()
    renamed = iter(built.orgs_by_tier["D3"])

    def add_member() -> None:
        n = next(counter)
        body = {
            "org": {"name": f"Bench New Dealer {n}", "kind": "dealer"},
            "custom_id": f"NEW-{n:05d}",
            "group": "Dealers/North China/Beijing",
            "contacts": [{"name": f"New contact {n}", "email": f"new{n}@new.bench.example"}],
        }
        caller.call("POST", "/members", body, status=201)

    def rename_member() -> None:
        org_id = next(renamed)
        caller.call("PATCH", f"/members/{org_id}", {"custom_id": f"REN-{org_id}"})

    def add_group() -> None:
        caller.call("POST", "/groups", {"path": f"Bench/Group {next(counter)}"}, status=201)

    cases = {"post_member": add_member, "patch_custom_id": rename_member, "post_group": add_group}
    loads = {}
    for name, fn in cases.items():
        with count_queries(env.engine) as queries:
            fn()
        loads[name] = sum(
            " ".join(st.split()).startswith(GRAPH_LOAD_SQL) for st in queries.statements
        )
    medians = timed_together(cases, repeat=WRITE_REPEAT)
    report.line("post_member_graph_loads", loads["post_member"], "graph loads, POST /members")
    report.line(
        "patch_custom_id_graph_loads",
        loads["patch_custom_id"],
        "graph loads, PATCH /members/{id} custom_id",
    )
    report.line("post_group_graph_loads", loads["post_group"], "graph loads, POST /groups")
    report.seconds("post_member_seconds", medians["post_member"], "POST /members, median")
    report.seconds("patch_custom_id_seconds", medians["patch_custom_id"], "PATCH custom_id, median")
    report.seconds("post_group_seconds", medians["post_group"], "floor: POST /groups, median")
    report.ratio(
        "post_member_over_floor",
        medians["post_member"],
        medians["post_group"],
        "ratio POST /members / floor",
    )
    report.ratio(
        "patch_custom_id_over_floor",
        medians["patch_custom_id"],
        medians["post_group"],
        "ratio PATCH custom_id / floor",
    )


def run(report: Report) -> None:
    """Build the chain, then measure tier pages (uncached vs cached) and list query counts."""
    with bench_app() as env:
        caller, built = _build_data(env, report)
        _tier_page(env, report, caller, built)
        _page_size_queries(env, report, caller, "/members", "members")
        _page_size_queries(env, report, caller, "/members?tier=D2", "members_tier")
        _page_size_queries(env, report, caller, "/contacts", "contacts")
        _writes(env, report, caller, built)
