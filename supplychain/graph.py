"""Chain graph: tiers, cycle checks, impact analysis, SVG drawing and a per-version cache."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from xml.sax.saxutils import escape

import networkx as nx

CORE = "core"
UNLINKED = "unlinked"
MAX_TIER_DEPTH = 1000

_TIER_RE = re.compile(r"([UD])([1-9][0-9]*)")
_SOURCE = "virtual-source"  # never an org id: org ids are ints


@dataclass(frozen=True, eq=False)
class ChainGraph:
    """One chain's supply graph (edges supplier -> customer) with every member's tier."""

    core_id: int
    graph: nx.DiGraph
    tiers: dict[int, str]
    _by_tier: dict[str, frozenset[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_tier: defaultdict[str, set[int]] = defaultdict(set)
        for org_id, tier in self.tiers.items():
            by_tier[tier].add(org_id)
        object.__setattr__(self, "_by_tier", {t: frozenset(ids) for t, ids in by_tier.items()})

    def tier_of(self, org_id: int) -> str:
        """Return the org's tier label, "unlinked" for orgs outside the chain."""
        return self.tiers.get(org_id, UNLINKED)

    def orgs_in_tier(self, tier: str) -> frozenset[int]:
        """Return the member orgs of one tier (empty for unknown labels)."""
        return self._by_tier.get(tier, frozenset())

    @cached_property
    def _sort_keys(self) -> dict[int, tuple]:
        """Map org_id -> (tier order, org_id) for sorting org lists."""
        tier_keys = {tier: tier_sort_key(tier) for tier in self._by_tier}
        return {org_id: (tier_keys[tier], org_id) for org_id, tier in self.tiers.items()}

    @cached_property
    def _dominator_children(self) -> dict[object, list[int]]:
        """Dominator tree (parent -> children) under a source feeding every supplier-less org."""
        flow = self.graph.copy()
        flow.add_edges_from((_SOURCE, n) for n, deg in self.graph.in_degree() if deg == 0)
        children: defaultdict[object, list[int]] = defaultdict(list)
        for node, parent in nx.immediate_dominators(flow, _SOURCE).items():
            if node != _SOURCE:
                children[parent].append(node)
        return dict(children)


def build_chain_graph(
    core_id: int, org_ids: Iterable[int], links: Iterable[tuple[int, int]]
) -> ChainGraph:
    """Build the chain graph and tiers; links touching non-members are ignored."""
    graph = nx.DiGraph()
    graph.add_node(core_id)
    graph.add_nodes_from(org_ids)
    graph.add_edges_from((s, c) for s, c in links if s in graph and c in graph)
    tiers = dict.fromkeys(graph, UNLINKED)
    for org_id, dist in nx.single_source_shortest_path_length(
        graph.reverse(copy=False), core_id
    ).items():
        tiers[org_id] = f"U{dist}"
    for org_id, dist in nx.single_source_shortest_path_length(graph, core_id).items():
        tiers[org_id] = f"D{dist}"
    tiers[core_id] = CORE
    return ChainGraph(core_id=core_id, graph=nx.freeze(graph), tiers=tiers)


def creates_cycle(chain: ChainGraph, supplier_id: int, customer_id: int) -> bool:
    """Return True if adding the link supplier -> customer would close a cycle."""
    if supplier_id == customer_id:
        return True
    graph = chain.graph
    return (
        supplier_id in graph
        and customer_id in graph
        and nx.has_path(graph, customer_id, supplier_id)
    )


def impact(chain: ChainGraph, org_id: int) -> tuple[list[int], list[int]]:
    """Return (affected, cut_off) org ids if org_id stops, each sorted by tier then id."""
    if org_id not in chain.graph:
        return [], []
    children = chain._dominator_children
    dominated: list[int] = []
    stack = list(children.get(org_id, ()))
    while stack:
        node = stack.pop()
        dominated.append(node)
        stack.extend(children.get(node, ()))
    key = chain._sort_keys.__getitem__
    return sorted(nx.descendants(chain.graph, org_id), key=key), sorted(dominated, key=key)


def valid_tier(label: str) -> bool:
    """Return True for "core", "unlinked" and U<n>/D<n> with 1 <= n <= 1000."""
    if label in (CORE, UNLINKED):
        return True
    match = _TIER_RE.fullmatch(label)
    return match is not None and len(match[2]) <= 4 and int(match[2]) <= MAX_TIER_DEPTH


def tier_sort_key(tier: str) -> tuple:
    """Sort key ordering U<max>..U1, core, D1..D<max>, unlinked (any depth); ValueError if malformed."""
    if tier == CORE:
        return (1, 0)
    if tier == UNLINKED:
        return (3, 0)
    match = _TIER_RE.fullmatch(tier)
    if match is None:
        raise ValueError(f"invalid tier label: {tier!r}")
    depth = int(match[2])
    return (0, -depth) if match[1] == "U" else (2, depth)


# --- SVG drawing ---------------------------------------------------------------------------

_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ATTR_ENTITIES = {'"': "&quot;", "'": "&apos;"}
_MARGIN, _HEADER = 20, 40
_COL_W, _NODE_W, _NODE_H, _ROW_H = 240, 190, 36, 48
_LABEL_MAX = 26
_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>'
_STYLE = (
    "text{font:12px sans-serif;fill:#222}.hdr{font-weight:bold;font-size:14px}"
    ".node rect{fill:#eef4fb;stroke:#4a78a8}.core rect{fill:#fde9c8;stroke:#b7791f}"
    ".edge{fill:none;stroke:#8a8a8a;stroke-width:1.2}"
)
_DEFS = (
    f"<style>{_STYLE}</style>"
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
    ' markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a8a8a"/></marker></defs>'
)


def _clean(value: object) -> str:
    """Return value as text with control characters and lone surrogates removed."""
    return _CONTROL_RE.sub("", str(value))


def _esc(value: object) -> str:
    """Escape value for XML text and double-quoted attributes."""
    return escape(_clean(value), _ATTR_ENTITIES)


def _short(text: str) -> str:
    """Truncate a label to fit a node box."""
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "\u2026"


def render_svg(nodes: list[dict], links: list[tuple[int, int]]) -> str:
    """Render the chain as a standalone SVG document, one column per tier."""
    columns: defaultdict[str, list[dict]] = defaultdict(list)
    for node in nodes:
        columns[node["tier"]].append(node)
    tiers = sorted(columns, key=tier_sort_key)
    pos: dict[object, tuple[int, int]] = {}  # org_id -> (x, y) of the box's top-left corner
    out: list[str] = []
    for col, tier in enumerate(tiers):
        x = _MARGIN + col * _COL_W
        out.append(f'<text class="hdr" x="{x}" y="{_MARGIN + 14}">{_esc(tier)}</text>')
        members = sorted(
            columns[tier],
            key=lambda n: (str(n.get("group") or ""), str(n["name"]), str(n["org_id"])),
        )
        for row, node in enumerate(members):
            y = _MARGIN + _HEADER + row * _ROW_H
            pos[node["org_id"]] = (x, y)
            oid, name = _esc(node["org_id"]), _clean(node["name"])
            kind, group = _esc(node.get("kind", "")), _esc(node.get("group") or "-")
            title = f"{_esc(name)}\nkind: {kind}\ngroup: {group}"
            cls = "node core" if tier == CORE else "node"
            out.append(
                f'<g class="{cls}" id="org-{oid}" data-org-id="{oid}"><title>{title}</title>'
                f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="6" ry="6"/>'
                f'<text x="{x + 10}" y="{y + 22}">{_esc(_short(name))}</text></g>'
            )
    edges: list[str] = []
    for supplier, customer in links:
        if supplier not in pos or customer not in pos:
            continue
        (sx, sy), (cx, cy) = pos[supplier], pos[customer]
        y1, y2 = sy + _NODE_H // 2, cy + _NODE_H // 2
        if cx > sx:  # usual direction: right side of the supplier to left side of the customer
            x1, x2, b1, b2 = sx + _NODE_W, cx, 1, -1
        elif cx < sx:  # a supplier drawn right of its customer (an unlinked supplier)
            x1, x2, b1, b2 = sx, cx + _NODE_W, -1, 1
        else:  # same column: loop out to the right and come back
            x1, x2, b1, b2 = sx + _NODE_W, cx + _NODE_W, 1, 1
        bend = max(40, abs(x2 - x1) // 2)
        d = f"M{x1},{y1} C{x1 + b1 * bend},{y1} {x2 + b2 * bend},{y2} {x2},{y2}"
        edges.append(f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>')
    rows = max((len(c) for c in columns.values()), default=0)
    width = max(2 * _MARGIN + len(tiers) * _COL_W, 200)
    height = 2 * _MARGIN + _HEADER + rows * _ROW_H
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img">'
    )
    body = ['<g class="edges">', *edges, "</g>", '<g class="nodes">', *out, "</g>"]
    return "\n".join([_XML_DECL, svg, _DEFS, *body, "</svg>", ""])


# --- cache ---------------------------------------------------------------------------------


class GraphCache:
    """Thread-safe LRU cache of ChainGraph by chain_id, each valid for one graph_version."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self.builds = 0
        self._entries: OrderedDict[int, tuple[int, ChainGraph]] = OrderedDict()
        self._lock = threading.Lock()  # guards _entries and _loading; never held during load()
        self._loading: dict[int, threading.Lock] = {}

    def _lookup(self, chain_id: int, version: int) -> ChainGraph | None:
        with self._lock:
            entry = self._entries.get(chain_id)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(chain_id)
                return entry[1]
            return None

    def get(self, chain_id: int, version: int, load: Callable[[], ChainGraph]) -> ChainGraph:
        """Return the cached graph for (chain_id, version), calling load() on a miss.

        Concurrent misses on one chain build once (a per-chain lock); a slow build of one chain
        never blocks look-ups of another.
        """
        cached = self._lookup(chain_id, version)
        if cached is not None:
            return cached
        with self._lock:
            chain_lock = self._loading.setdefault(chain_id, threading.Lock())
        with chain_lock:
            cached = self._lookup(chain_id, version)
            if cached is not None:
                return cached
            chain = load()
            with self._lock:
                self.builds += 1
                current = self._entries.get(chain_id)
                # Never replace a newer version another thread stored meanwhile.
                if current is None or current[0] <= version:
                    self._entries[chain_id] = (version, chain)
                    self._entries.move_to_end(chain_id)
                while len(self._entries) > self.maxsize:
                    evicted, _ = self._entries.popitem(last=False)
                    self._loading.pop(evicted, None)
            return chain

    def clear(self) -> None:
        """Drop every cached graph."""
        with self._lock:
            self._entries.clear()
