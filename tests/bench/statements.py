"""Issue 14: the owner's statement board for a D1 tier of 1 000 orgs with 100 000 order lines.

Two chains with a D1 tier of 1 000 dealers (the reconciliation bench's data: 10 000 and 100 000
lines in last month) get statement answers: a third of the dealers confirmed the version they
saw, a tenth confirmed a version that is no longer current (`changed`), a tenth disputed a line.

Queries: the board (GET /reconciliation/statements?period=&tier=D1) must send the same number of
statements for 100 000 lines as for 10 000, whatever the tier size (report.expect).
Time: the board for 100 000 lines (median of REPEAT) against the floor, the bare streaming query
of the same lines' figures (`ledger.figure_lines`, no digest, no HTTP); the statement JSON of the
busiest dealer too. Status counts are checked against the answers inserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from supplychain.models import Chain, Dispute, DisputeLine, Statement, User
from supplychain.models.base import utcnow
from supplychain.services.chains import chain_graph
from supplychain.services.reconciliation.ledger import figure_lines, order_lines, statement_scope
from supplychain.services.reconciliation.versions import (
    BUYER,
    F_BUYER,
    F_LINE_NO,
    F_NUMBER,
    F_ORDER_ID,
    F_SELLER,
    versions_of,
)
from tests.bench.common import (
    BenchApp,
    Report,
    bench_app,
    bootstrap_owner,
    count_queries,
    scaled,
    timed,
)
from tests.bench.directory import Caller
from tests.bench.reconciliation import DEALERS, TIER, TIMEZONE, bench_period, build_chain

SMALL = 10_000
BIG = 100_000
REPEAT = 5


def _answer(env: BenchApp, chain_id: int, period_label: str) -> dict[str, int]:
    """Insert the dealers' answers; returns how many of each status the board must show."""
    with Session(env.engine) as session:
        chain = session.get(Chain, chain_id)
        assert chain is not None
        period = bench_period(ZoneInfo(chain.timezone))
        dealers = sorted(chain_graph(session, chain).orgs_in_tier(TIER))
        first_line: dict[int, tuple[int, str, int]] = {}
        rows = []
        for row in figure_lines(session, chain, period, None):
            rows.append(tuple(row))
            for party in (row[F_BUYER], row[F_SELLER]):
                first_line.setdefault(party, (row[F_ORDER_ID], row[F_NUMBER], row[F_LINE_NO]))
        in_tier = [d for d in dealers if d in first_line]
        holder = statement_scope(session, chain).holder
        versions = versions_of(iter(rows), chain_id, period_label, in_tier, holder)
        users = dict(session.execute(select(User.org_id, User.id)).all())
        now = utcnow()
        statements, expected = [], {"open": 0, "confirmed": 0, "changed": 0, "disputed": 0}
        disputed = []
        for i, org in enumerate(in_tier):
            kind = i % 30
            if kind < 10:
                state, version, status = "confirmed", versions[org], "confirmed"
            elif kind < 13:
                state, version, status = "confirmed", "0" * 64, "changed"
            elif kind < 16:
                state, version, status = "disputed", None, "disputed"
                disputed.append(org)
            else:
                expected["open"] += 1
                continue
            expected[status] += 1
            statements.append(
                {"chain_id": chain_id, "org_id": org, "period": period_label, "state": state,
                 "ready_at": now - timedelta(days=1), "confirmed_version": version,
                 "confirmed_at": now if version else None,
                 "confirmed_by": users[org] if version else None, "updated_at": now}
            )  # fmt: skip
        session.execute(insert(Statement), statements)
        ids = dict(
            session.execute(
                select(Statement.org_id, Statement.id).where(Statement.chain_id == chain_id)
            ).all()
        )
        for org in disputed:
            order_id, number, line_no = first_line[org]
            dispute = Dispute(
                statement_id=ids[org], chain_id=chain_id, org_id=org, period=period_label,
                version=versions[org], status="open", note="Bench", opened_by=users[org],
                opened_at=now,
                lines=[DisputeLine(order_id=order_id, order_number=number, line_no=line_no,
                                   field="qty", note="Short")],
            )  # fmt: skip
            session.add(dispute)
        session.commit()
        expected["open"] += len(dealers) - len(in_tier)
        return expected


def _board(caller: Caller, period: str, page_size: int = 500) -> Callable[[], Any]:
    return lambda: caller.get(
        f"/reconciliation/statements?period={period}&tier={TIER}&page_size={page_size}"
    )


def run(report: Report) -> None:
    """Build both chains and their answers; count the board's queries; time it."""
    small, big = scaled(SMALL), scaled(BIG)
    with bench_app() as env:
        period = bench_period(ZoneInfo(TIMEZONE))
        start = time.perf_counter()
        owner = bootstrap_owner(env.app)
        chains = {
            small: build_chain(env, owner, "Bench statements small", small, seed=21),
            big: build_chain(env, owner, "Bench statements big", big, seed=22),
        }
        expected = {n: _answer(env, chains[n], period.label) for n in chains}
        report.line("period", period.label, "period (month, Asia/Shanghai)")
        report.line("d1_orgs", scaled(DEALERS), "D1 orgs per chain")
        report.line("lines", [small, big], "lines in the D1 tier", f"{small} and {big} (2 chains)")
        report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
        client = env.app.test_client()
        callers = {n: Caller(client, owner.token, chains[n]) for n in chains}

        report.section("queries of GET /reconciliation/statements (board, tier D1)")
        queries = {}
        for n in (small, big):
            board = _board(callers[n], period.label)
            board()  # warms the tier cache and compiled statements
            with count_queries(env.engine) as counter:
                body = board()
            queries[n] = counter.count
            report.expect(f"counts_{n}", body["counts"], expected[n], f"status counts, {n} lines")
        report.line(f"queries_{small}", queries[small], f"statements, {small} lines")
        report.expect(f"queries_{big}", queries[big], queries[small], f"statements, {big} lines")

        report.section(f"time, {big} lines (median of {REPEAT})")
        board = _board(callers[big], period.label)
        board_s = timed(board, repeat=REPEAT)
        with Session(env.engine) as session:
            chain = session.get(Chain, chains[big])
            assert chain is not None

            def bare() -> None:
                for _ in figure_lines(session, chain, period, None):
                    pass

            bare_s = timed(bare, repeat=REPEAT)
        first_page = timed(_board(callers[big], period.label, page_size=50), repeat=REPEAT)
        report.seconds("board_seconds", board_s, "board, 500 per page")
        report.seconds("board_first_page_seconds", first_page, "board, 50 per page")
        report.seconds("bare_query_seconds", bare_s, "floor: the lines' query alone")
        report.ratio("board_over_bare", board_s, bare_s, "board / floor")

        report.section("one dealer's statement as JSON (the busiest dealer, read by the owner)")
        with Session(env.engine) as session:
            chain = session.get(Chain, chains[big])
            assert chain is not None
            counts: dict[int, int] = {}
            for row in order_lines(session, chain, period, None):
                counts[row[BUYER]] = counts.get(row[BUYER], 0) + 1
            busiest = max(counts, key=lambda o: counts[o])
        reader = callers[big]
        path = f"/reconciliation/statements/{period.label}?org_id={busiest}"

        def view() -> Any:
            response = reader.client.get(
                reader.base + path, headers=reader.headers | {"Accept": "application/json"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"statement -> {response.status_code}")
            return response

        view()
        report.line("busiest_lines", counts[busiest], "its lines")
        report.seconds("statement_json_seconds", timed(view, repeat=REPEAT), "GET as JSON")
