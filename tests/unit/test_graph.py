import random
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import networkx as nx
import pytest

from supplychain.graph import (
    GraphCache,
    build_chain_graph,
    creates_cycle,
    impact,
    render_svg,
    tier_sort_key,
    valid_tier,
)

SVG = "{http://www.w3.org/2000/svg}"
CORE = 1
# 10 -> 11 -> core, 12 -> 11 and 12 -> core (shortest wins), core -> 20 -> 21,
# core -> 22 -> 23 -> 21 (longer path to 21), 33 -> 20 (supplies a dealer, not the core),
# 31 -> 32 (linked only to each other), 30 isolated, 99 is not a member.
ORGS = [CORE, 10, 11, 12, 20, 21, 22, 23, 30, 31, 32, 33]
LINKS = [
    (10, 11),
    (11, CORE),
    (12, 11),
    (12, CORE),
    (CORE, 20),
    (20, 21),
    (CORE, 22),
    (22, 23),
    (23, 21),
    (33, 20),
    (31, 32),
    (99, CORE),
    (20, 99),
]


@pytest.fixture
def chain():
    return build_chain_graph(CORE, ORGS, LINKS)


def test_tiers(chain):
    assert chain.tiers == {
        CORE: "core",
        10: "U2",
        11: "U1",
        12: "U1",
        20: "D1",
        22: "D1",
        21: "D2",
        23: "D2",
        30: "unlinked",
        31: "unlinked",
        32: "unlinked",
        33: "unlinked",
    }
    assert chain.tier_of(99) == "unlinked"
    assert 99 not in chain.graph
    assert set(chain.graph) == set(ORGS)


def test_orgs_in_tier(chain):
    assert chain.orgs_in_tier("core") == {CORE}
    assert chain.orgs_in_tier("U1") == {11, 12}
    assert chain.orgs_in_tier("D2") == {21, 23}
    assert chain.orgs_in_tier("unlinked") == {30, 31, 32, 33}
    assert chain.orgs_in_tier("D9") == frozenset()


def test_core_without_links_and_frozen_graph():
    chain = build_chain_graph(5, [], [])
    assert chain.tiers == {5: "core"}
    with pytest.raises(nx.NetworkXError):
        chain.graph.add_edge(5, 6)


def test_creates_cycle():
    chain = build_chain_graph(1, range(1, 7), [(1, 2), (2, 3), (3, 4), (4, 5)])
    assert creates_cycle(chain, 3, 3)  # self loop
    assert creates_cycle(chain, 2, 1)  # 2-cycle
    assert creates_cycle(chain, 5, 1)  # long cycle
    assert not creates_cycle(chain, 1, 5)  # shortcut, still a DAG
    assert not creates_cycle(chain, 6, 1)  # unlinked supplier
    assert not creates_cycle(chain, 5, 42)  # non-member


def test_impact_diamond_is_affected_not_cut_off():
    # core -> 2 -> 4, core -> 3 -> 4, 4 -> 5
    chain = build_chain_graph(1, range(1, 6), [(1, 2), (1, 3), (2, 4), (3, 4), (4, 5)])
    assert impact(chain, 2) == ([4, 5], [])
    assert impact(chain, 4) == ([5], [5])
    assert impact(chain, 5) == ([], [])
    assert impact(chain, 42) == ([], [])


def test_impact_single_sourced_is_cut_off():
    # core -> 2 -> 3 -> 4, and 5 (no supplier) also feeds 4
    chain = build_chain_graph(1, range(1, 6), [(1, 2), (2, 3), (3, 4), (5, 4)])
    assert impact(chain, 2) == ([3, 4], [3])


def test_impact_of_core_and_ordering():
    # 10 -> 11 -> core -> 2 -> 4 <- 3 <- core, 4 -> 5, and 6 (unlinked) also feeds 4
    links = [(10, 11), (11, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (6, 4)]
    chain = build_chain_graph(1, [1, 2, 3, 4, 5, 6, 10, 11], links)
    assert impact(chain, 1) == ([2, 3, 4, 5], [2, 3])
    assert impact(chain, 10) == ([11, 1, 2, 3, 4, 5], [11, 1, 2, 3])  # tier order, not id order


def test_impact_cut_off_matches_brute_force():
    rnd = random.Random(7)
    n = 60
    links = [(i, j) for i in range(n) for j in range(i + 1, n) if rnd.random() < 0.05]
    chain = build_chain_graph(0, range(n), links)
    g = chain.graph
    for org in g:
        affected, cut_off = impact(chain, org)
        rest = g.subgraph(set(g) - {org})
        fed = {v for s in rest if g.in_degree(s) == 0 for v in nx.descendants(rest, s) | {s}}
        assert set(affected) == nx.descendants(g, org)
        assert set(cut_off) == set(affected) - fed


def test_tier_sort_key_and_valid_tier():
    labels = ["D2", "unlinked", "U1", "core", "D10", "U3", "D1", "U12"]
    assert sorted(labels, key=tier_sort_key) == [
        "U12",
        "U3",
        "U1",
        "core",
        "D1",
        "D2",
        "D10",
        "unlinked",
    ]
    for ok in ["core", "unlinked", "U1", "D1", "D1000", "U999"]:
        assert valid_tier(ok), ok
    for bad in ["", "U0", "D01", "d1", "Core", "U", "D-1", "D1\n", "U\u0661", "X1"]:
        assert not valid_tier(bad), bad
        with pytest.raises(ValueError):
            tier_sort_key(bad)
    assert not valid_tier("U1001") and not valid_tier("D" + "9" * 5000)
    assert tier_sort_key("D1001") > tier_sort_key("D1000")  # computed tiers may run deeper


def test_deep_chain():
    n = 3000
    chain = build_chain_graph(0, range(n), [(i, i + 1) for i in range(n - 1)])
    assert chain.tier_of(n - 1) == f"D{n - 1}"
    affected, cut_off = impact(chain, 1)
    assert affected == cut_off == list(range(2, n))


def _node(org_id, tier, name="Org", kind="dealer", group="Dealers/North"):
    return {"org_id": org_id, "name": name, "kind": kind, "tier": tier, "group": group}


def test_render_svg_escapes_and_lays_out_by_tier():
    evil = '<script>alert(1)</script>&"\x00\x1b'
    nodes = [
        _node(3, "D1", name=evil, group='G<&>"'),
        _node(1, "core", name="Maker"),
        _node(4, "unlinked"),
        _node(2, "U1", kind="supplier\x07"),
    ]
    links = [(2, 1), (1, 3), (4, 3), (3, 3), (7, 1)]
    svg = render_svg(nodes, links)
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    assert "<script" not in svg and "\x00" not in svg and "\x07" not in svg
    assert not list(root.iter(f"{SVG}script"))
    headers = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "hdr"]
    assert headers == ["U1", "core", "D1", "unlinked"]
    groups = {g.get("data-org-id"): g for g in root.iter(f"{SVG}g") if g.get("data-org-id")}
    assert set(groups) == {"1", "2", "3", "4"}
    title = groups["3"].find(f"{SVG}title").text
    assert title.startswith('<script>alert(1)</script>&"') and 'G<&>"' in title
    assert len(list(root.iter(f"{SVG}path"))) == 1 + 4  # arrow marker + edges between known nodes
    assert render_svg(list(reversed(nodes)), links) == svg


def test_render_svg_empty_and_large():
    ET.fromstring(render_svg([], []).encode())
    tiers = ["U2", "U1", "core", "D1", "D2", "unlinked"]
    nodes = [_node(i, tiers[i % len(tiers)], name=f"Org {i}") for i in range(2000)]
    links = [(i, i + 1) for i in range(1999)]
    root = ET.fromstring(render_svg(nodes, links).encode())
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("data-org-id")) == 2000


def test_graph_cache_rebuilds_on_version_change_and_evicts():
    cache = GraphCache(maxsize=2)

    def loader(core):
        return lambda: build_chain_graph(core, [core], [])

    a = cache.get(1, 1, loader(1))
    assert cache.get(1, 1, loader(1)) is a
    assert cache.builds == 1
    b = cache.get(1, 2, loader(1))
    assert b is not a and cache.builds == 2
    cache.get(2, 1, loader(2))
    cache.get(1, 2, loader(1))  # touch chain 1: chain 2 is now least recently used
    cache.get(3, 1, loader(3))  # evicts chain 2
    assert cache.builds == 4
    assert cache.get(1, 2, loader(1)) is b
    cache.get(2, 1, loader(2))
    assert cache.builds == 5
    cache.clear()
    cache.get(1, 2, loader(1))
    assert cache.builds == 6


def test_graph_cache_concurrent_misses_load_once():
    cache = GraphCache()
    barrier = threading.Barrier(8)

    def get(_):
        barrier.wait()
        return cache.get(1, 1, lambda: build_chain_graph(1, range(1, 100), []))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(get, range(8)))
    assert cache.builds == 1 and all(r is results[0] for r in results)


def test_build_20000_nodes():
    core, upstream = 0, 5000
    down = [((k - 1) // 4, k) for k in range(1, 15001)]  # 4-ary tree below the core
    up = [(100_000 + k, 100_000 + (k - 1) // 3 if k else core) for k in range(upstream)]
    extra = [(k, k + 1) for k in range(1, 15000, 7)]  # some multi-sourced dealers
    orgs = [core, *range(1, 15001), *range(100_000, 100_000 + upstream)]
    chain = build_chain_graph(core, orgs, down + up + extra)
    assert len(chain.graph) == 20001
    assert not chain.orgs_in_tier("unlinked")
    assert sum(len(chain.orgs_in_tier(t)) for t in set(chain.tiers.values())) == 20001
    assert chain.tier_of(100_000) == "U1" and chain.tier_of(1) == "D1"
    affected, cut_off = impact(chain, core)
    assert len(affected) == 15000 and cut_off == affected
    affected, cut_off = impact(chain, 1)
    assert set(cut_off) <= set(affected) and 1 not in affected
    assert not creates_cycle(chain, 100_000 + upstream - 1, 15000)
    assert creates_cycle(chain, 15000, 100_000 + upstream - 1)
