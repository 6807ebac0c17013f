"""Issue 4: an order of 500 lines, issued, acknowledged line by line and shipped in one go.

Each step goes through the HTTP API (Flask's test client) and must send the same number of
statements for 500 lines as for 5 (bulk insert and bulk update, no statement per line). The
5-line order is the floor for the time of each step: the ratio shows what 100x the lines cost.
The owner issues sales orders to a D1 dealer, the dealer acknowledges them (accepted, changed
quantity/price/date, backordered and rejected lines in turn) and the owner ships.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.bench.common import (
    BenchApp,
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

DEALERS = 1_000
BIG = 500
SMALL = 5
REPEAT = 7
CHANGES = ("qty", "price", "date", "qty+date")  # -> IQ, IP, DR, IC


class Orders:
    """The owner (seller, issuer) and one D1 dealer (buyer, acknowledger) of a bench chain."""

    def __init__(self, owner: Caller, dealer: Caller, dealer_org_id: int) -> None:
        self.owner = owner
        self.dealer = dealer
        self.dealer_org_id = dealer_org_id
        self.numbers = itertools.count(1)
        self.start = date.today() + timedelta(days=14)

    def lines(self, n: int) -> list[dict[str, Any]]:
        return [
            {
                "line_no": i + 1,
                "sku": f"PART-{i:05d}",
                "description": f"Brake pad set, batch {i}",
                "qty": str(10 + i % 90),
                "unit": "pcs",
                "unit_price": f"{12 + i % 40}.50",
                "requested_date": (self.start + timedelta(days=i % 30)).isoformat(),
            }
            for i in range(n)
        ]

    def issue(self, n: int) -> dict[str, Any]:
        body = {
            "counterparty_id": str(self.dealer_org_id),
            "issuer_role": "seller",
            "number": f"SO-BENCH-{next(self.numbers):06d}",
            "lines": self.lines(n),
        }
        return self.owner.call("POST", "/orders", body, 201)

    def answers(self, order: dict[str, Any], rejected: bool = True) -> list[dict[str, Any]]:
        """Line answers in turn: accepted, changed (qty, price, date or several), backordered,
        rejected (or, without rejections, accepted again)."""
        out = []
        for i, line in enumerate(order["lines"]):
            kind = i % 4
            answer: dict[str, Any] = {"line_no": line["line_no"]}
            requested = date.fromisoformat(line["requested_date"])
            if kind == 0 or (kind == 3 and not rejected):
                answer["status"] = "accepted"
            elif kind == 1:
                change = CHANGES[(i // 4) % len(CHANGES)]
                answer["status"] = "changed"
                answer["reason"] = f"Change of {change}"
                if "qty" in change:
                    answer["qty"] = str(Decimal(line["qty"]) - 1)
                if change == "price":
                    answer["unit_price"] = str(Decimal(line["unit_price"]) + 1)
                if "date" in change:
                    answer["promised_date"] = (requested + timedelta(days=7)).isoformat()
            elif kind == 2:
                answer["status"] = "backordered"
                answer["promised_date"] = (requested + timedelta(days=30)).isoformat()
                answer["reason"] = "Out of stock until next month"
            else:
                answer["status"] = "rejected"
                answer["reason"] = "Discontinued"
            out.append(answer)
        return out

    def acknowledge(self, order: dict[str, Any], rejected: bool = True) -> dict[str, Any]:
        body = {
            "version": order["version"],
            "decision": "lines",
            "lines": self.answers(order, rejected),
        }
        return self.dealer.call("POST", f"/orders/{order['id']}/ack", body)

    def ship(self, order: dict[str, Any]) -> dict[str, Any]:
        moves = [
            {"line_no": line["line_no"], "qty": line["confirmed_qty"]}
            for line in order["lines"]
            if line["ack_status"] != "rejected"
        ]
        body = {"lines": moves, "ref": f"DN-{order['number']}"}
        return self.owner.call("POST", f"/orders/{order['id']}/shipments", body, 201)


def _build(env: BenchApp, report: Report) -> Orders:
    start = time.perf_counter()
    owner = bootstrap_owner(env.app)
    chain_id = create_bench_chain(env.app, owner)
    shape = ChainShape(tiers={"D1": scaled(DEALERS)}, contacts_per_org=1)
    built = insert_chain(env.app, chain_id, owner, shape)
    client = env.app.test_client()
    owner_caller = Caller(client, owner.token, chain_id)
    owner_caller.call("POST", "/grants", {"app": "orders", "scope": {"type": "all"}}, 201)
    dealer = built.orgs_by_tier["D1"][0]
    report.line("d1_orgs", len(built.orgs_by_tier["D1"]), "D1 orgs (orders granted to all)")
    report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
    return Orders(owner_caller, Caller(client, org_token(env.app, dealer), chain_id), dealer)


def _step(
    env: BenchApp,
    report: Report,
    key: str,
    title: str,
    make: Callable[[int], Callable[[], object]],
) -> None:
    """Time `make(n)()` for BIG and SMALL lines in turns and count its statements for each.

    make(n) prepares what the step needs (untimed) and returns the timed call."""
    report.section(title)
    pending: dict[int, Callable[[], object]] = {}

    def setup(n: int) -> Callable[[], object]:
        return lambda: pending.__setitem__(n, make(n))

    def call(n: int) -> Callable[[], object]:
        return lambda: pending.pop(n)()

    statements = {}
    for n in (SMALL, BIG):  # once untimed: warms imports and compiled statements
        make(n)()
    for n in (SMALL, BIG):
        prepared = make(n)
        with count_queries(env.engine) as counter:
            prepared()
        statements[n] = counter.count
    medians = timed_together(
        {str(BIG): call(BIG), str(SMALL): call(SMALL)},
        repeat=REPEAT,
        setups={str(BIG): setup(BIG), str(SMALL): setup(SMALL)},
    )
    big, small = medians[str(BIG)], medians[str(SMALL)]
    report.seconds(f"{key}_seconds_{BIG}", big, f"{BIG} lines, median")
    report.seconds(f"{key}_seconds_{SMALL}", small, f"{SMALL} lines, median")
    report.ratio(f"{key}_{BIG}_over_{SMALL}", big, small, f"ratio {BIG} / {SMALL} lines")
    report.seconds(f"{key}_per_line", (big - small) / (BIG - SMALL), "cost per extra line")
    report.line(f"{key}_queries_{SMALL}", statements[SMALL], f"statements, {SMALL} lines")
    report.expect(
        f"{key}_queries_{BIG}", statements[BIG], statements[SMALL], f"statements, {BIG} lines"
    )


def run(report: Report) -> None:
    """Issue, acknowledge line by line and ship orders of 500 and of 5 lines."""
    with bench_app() as env:
        orders = _build(env, report)

        def create(n: int) -> Callable[[], object]:
            return lambda: orders.issue(n)

        def acknowledge(n: int) -> Callable[[], object]:
            order = orders.issue(n)
            return lambda: _check_ack(orders.acknowledge(order), n)

        def ship(n: int) -> Callable[[], object]:
            order = orders.acknowledge(orders.issue(n), rejected=False)
            return lambda: _check_shipped(orders.ship(order), n)

        _step(env, report, "create", "POST /orders (issue)", create)
        _step(env, report, "ack", "POST /orders/{id}/ack (line by line, mixed)", acknowledge)
        _step(env, report, "ship", "POST /orders/{id}/shipments (every line)", ship)


def _check_ack(order: dict[str, Any], n: int) -> None:
    codes = {line["ack_code"] for line in order["lines"]}
    expected = {"IA", "IQ", "IB", "IR"} | ({"IP", "DR", "IC"} if n > 16 else set())
    if order["status"] != "partially_accepted" or not expected <= codes:
        raise RuntimeError(f"unexpected acknowledgment: {order['status']}, codes {sorted(codes)}")


def _check_shipped(order: dict[str, Any], n: int) -> None:
    shipped = sum(1 for line in order["lines"] if Decimal(line["shipped_qty"]) > 0)
    if shipped != n:
        raise RuntimeError(f"{shipped} of {n} lines shipped")
