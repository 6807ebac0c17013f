"""Issue 5: the D1 tier workbook of a month with 100 000 order lines, and its memory.

Two chains with a D1 tier of 1 000 dealers get orders bulk-inserted (Core executemany) dated
inside one month in the chain's timezone (plus a few just outside it, which the run must leave
out), with a realistic mix of acknowledgments (accepted, changed, backordered, rejected, pending,
cancelled), shipped and received quantities, so that the tier has exactly 10 000 and 100 000
lines.

Each run is made in a fresh process (`python -m tests.bench.reconciliation run URL REPORTS_DIR
CHAIN_ID PERIOD`, app and engine as `supplychain reconcile` makes them), which gives its time and
its memory at once: a separate in-process run would add a minute for nothing.

Time: the full run (`execute_run`: streaming query, workbook, fsync, atomic rename, sha256) for
100 000 lines against the floor, a bare openpyxl write-only loop writing as many rows of
len(LINE_COLUMNS) plain values (strings, Decimals, dates; built by a generator, no database) to a
file; target <= 0.8x (issue 26; 2x before it). The run for 10 000 lines is timed the same way.
The run also writes every flagged line a second time (Discrepancies), so the ratio per row
written is shown too. The run is timed once, the floor before and after it (their mean is the
floor: other processes' load may change). CPU times are shown as well: they move far less than
wall-clock times with other processes' load (PostgreSQL's own CPU is not in them). The split
(query alone, + LineRecords, sha256) tells the database's share from the workbook's.

Issue 26, the writer alone: `write_reconciliation_workbook` fed LineRecords from a generator (no
database; ~15 % of them flagged, so written again in Discrepancies) for 10 000 and 100 000 lines,
against the same bare loop of as many rows; target <= 0.8x. Wall-clock and CPU times, the floor
and the writer in turns (3 rounds for 10 000 lines, 1 for 100 000).

Memory: the runs for 10 000 and for 100 000 lines: how far the peak RSS (the kernel's high-water
mark, reset just before the run) rose above the RSS before it, and ru_maxrss growth; target: the
same within 20 %. With BENCH_TRACEMALLOC=1 both runs are made again under tracemalloc for the
peak of Python allocations (runs about 5x slower, so not by default).
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from supplychain.config import ROOT
from supplychain.excel.workbook import (
    LINE_COLUMNS,
    LineRecord,
    OrgRecord,
    WorkbookMeta,
    write_reconciliation_workbook,
)
from supplychain.models import Chain, Order, OrderLine, User
from supplychain.periods import Period, previous_period
from supplychain.services.chains import chain_graph
from supplychain.services.order_acks import BAK02, _order_status
from supplychain.services.order_figures import figures_update
from supplychain.services.reconciliation.ledger import line_records, order_lines, org_directory
from supplychain.services.reconciliation.runs import _file_digest, execute_run
from tests.bench.common import (
    BenchApp,
    ChainShape,
    Owner,
    Report,
    bench_app,
    bootstrap_owner,
    create_bench_chain,
    fmt_seconds,
    insert_chain,
    scaled,
)

DEALERS = 1_000
SMALL = 10_000
BIG = 100_000
SPLIT_REPEAT = 5
TIER = "D1"
TIMEZONE = "Asia/Shanghai"
BATCH = 10_000  # rows per executemany
MAX_LINES = 19  # lines per order: 1..19, 10 on average
OUTSIDE_ORDERS = 40  # orders just before and just after the month (must not be in the workbook)
MEMORY_TARGET = 0.20
SKUS = 2_000
UNITS = ("pcs", "pcs", "pcs", "set", "kg", "l", "m")
PARTS = (
    "Brake pad set",
    "Oil filter",
    "Wiper blade",
    "Spark plug",
    "Timing belt",
    "Headlamp unit",
    "Coolant",
    "Cabin air filter",
    "Shock absorber",
    "Battery 12V",
)
# User text that must come out escaped (no formula), next to ordinary text.
ODD_TEXT = ("-40°C rated", "=SUM(A1:A9)", "+86 spare", "@risk item", "\tindented")
REASONS = {
    "changed": (
        "Price list 2026 applies",
        "Pack size is 12",
        "-5% volume discount",
        "New lead time",
    ),
    "backordered": ("Out of stock until next month", "Supplier delay", "+2 weeks at the port"),
    "rejected": ("Discontinued", "Not in our range", "=obsolete"),
}
# Per line, for acknowledged orders.
LINE_ANSWERS = (("accepted", 85), ("changed", 8), ("backordered", 4), ("rejected", 3))
# Per order: still waiting for the acknowledgment, cancelled, rejected outright, or answered.
ORDER_KINDS = (("issued", 5), ("cancelled", 4), ("rejected", 2), ("answered", 89))
CHANGE_KINDS = ("IQ", "IP", "DR", "IC")


# --- data ---------------------------------------------------------------------------------------


def bench_period(tz: ZoneInfo) -> Period:
    """Last month in the chain's timezone: always in the past, as a run requires."""
    return previous_period("monthly", datetime.now(UTC).astimezone(tz))


class OrderMaker:
    """Orders between the owner and D1 dealers, with their lines, as rows for executemany."""

    def __init__(
        self,
        chain_id: int,
        owner: Owner,
        dealers: list[int],
        dealer_users: dict[int, int],
        period: Period,
        tz: ZoneInfo,
        seed: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.chain_id = chain_id
        self.owner = owner
        self.dealers = dealers
        self.dealer_users = dealer_users
        self.weights = [self.rng.paretovariate(1.2) for _ in dealers]
        self.start, self.end = period.bounds(tz)
        self.seconds = int((self.end - self.start).total_seconds())
        self.catalogue = [self._part(i) for i in range(SKUS)]
        self.numbers = 0

    def _part(self, i: int) -> tuple[str, str, str, Decimal]:
        rng = self.rng
        odd = rng.random() < 0.02
        description = rng.choice(ODD_TEXT) if odd else f"{rng.choice(PARTS)}, type {i % 97}"
        price = Decimal(rng.randint(2, 900)) + Decimal(rng.choice((0, 50, 99))) / 100
        return f"P-{i:05d}", description, rng.choice(UNITS), price

    def order(self, n_lines: int, created_at: datetime) -> tuple[dict[str, Any], list[dict]]:
        """One order row and its line rows (without order_id)."""
        rng = self.rng
        self.numbers += 1
        dealer = rng.choices(self.dealers, self.weights)[0]
        # Mostly sales orders the owner issues; some purchase orders a dealer issues to it.
        by_dealer = rng.random() < 0.2
        kind = rng.choices([k for k, _ in ORDER_KINDS], [w for _, w in ORDER_KINDS])[0]
        ack_due = created_at + timedelta(days=3) if rng.random() < 0.8 else None
        if kind == "answered":
            statuses = rng.choices(
                [s for s, _ in LINE_ANSWERS], [w for _, w in LINE_ANSWERS], k=n_lines
            )
        elif kind == "rejected":
            statuses = ["rejected"] * n_lines
        else:
            statuses = ["pending"] * n_lines
        acknowledged = kind in ("answered", "rejected")
        status = _order_status(statuses) if acknowledged else kind
        late = rng.random() < 0.08  # acknowledged after ack_due
        acked_at = (
            created_at + timedelta(hours=rng.randint(80, 200) if late else rng.randint(1, 70))
            if acknowledged
            else None
        )
        order = {
            "chain_id": self.chain_id,
            "number": f"{'PO' if by_dealer else 'SO'}-{self.numbers:07d}",
            "buyer_id": dealer,
            "seller_id": self.owner.org_id,
            "issuer_id": dealer if by_dealer else self.owner.org_id,
            "issuer_role": "buyer" if by_dealer else "seller",
            "currency": "CNY" if rng.random() < 0.95 else "USD",
            "status": status,
            "ack_code": BAK02.get(status) if acknowledged else None,
            "version": 2 if acknowledged else 1,
            "ack_due": ack_due,
            "acked_at": acked_at,
            "cancel_reason": "Customer withdrew" if kind == "cancelled" else None,
            "created_by": self.dealer_users[dealer] if by_dealer else self.owner.user_id,
            "created_at": created_at,
            "updated_at": acked_at or created_at,
        }
        day = created_at.date()
        lines = [self.line(no, status, day) for no, status in enumerate(statuses, 1)]
        return order, lines

    def line(self, line_no: int, status: str, day: date) -> dict[str, Any]:
        rng = self.rng
        sku, description, unit, price = rng.choice(self.catalogue)
        qty = Decimal(rng.randint(1, 500))
        if unit in ("kg", "l", "m") and rng.random() < 0.5:
            qty += Decimal(rng.randint(1, 9)) / 10
        requested = day + timedelta(days=rng.randint(7, 45))
        code = reason = None
        confirmed_qty = confirmed_price = promised = None
        if status == "accepted":
            code, confirmed_qty, confirmed_price, promised = "IA", qty, price, requested
        elif status == "changed":
            code = rng.choice(CHANGE_KINDS)
            qty_changed = code in ("IQ", "IC")
            confirmed_qty = qty - min(qty - 1, Decimal(rng.randint(1, 20))) if qty_changed else qty
            if confirmed_qty == qty and qty_changed:
                confirmed_qty = qty + 1
            confirmed_price = price + 1 if code == "IP" else price
            promised = requested + timedelta(days=7) if code in ("DR", "IC") else requested
            reason = rng.choice(REASONS["changed"])
        elif status == "backordered":
            code, confirmed_qty, confirmed_price = "IB", qty, price
            promised = requested + timedelta(days=30)
            reason = rng.choice(REASONS["backordered"])
        elif status == "rejected":
            code, confirmed_qty, confirmed_price = "IR", Decimal(0), price
            reason = rng.choice(REASONS["rejected"])
        shipped = received = Decimal(0)
        if status in ("accepted", "changed") and confirmed_qty:
            roll = rng.random()
            if roll < 0.88:
                shipped = confirmed_qty
            elif roll < 0.92:
                shipped = (confirmed_qty / 2).quantize(Decimal(1)) or confirmed_qty
            roll = rng.random()
            if roll < 0.92:
                received = shipped
            elif roll < 0.96:
                received = max(Decimal(0), shipped - 1)
        return {
            "line_no": line_no,
            "sku": sku,
            "description": description,
            "qty": qty,
            "unit": unit,
            "unit_price": price,
            "requested_date": requested,
            "ack_status": status,
            "ack_code": code,
            "confirmed_qty": confirmed_qty,
            "confirmed_price": confirmed_price,
            "promised_date": promised,
            "ack_reason": reason,
            "shipped_qty": shipped,
            "received_qty": received,
        }

    def inside(self) -> datetime:
        """A time inside the period; now and then its very first second (local midnight)."""
        if self.rng.random() < 0.001:
            return self.start
        return self.start + timedelta(seconds=self.rng.randrange(self.seconds))

    def outside(self, index: int) -> datetime:
        """Just before the period or exactly at its end (both excluded)."""
        return self.start - timedelta(seconds=1 + index) if index % 2 else self.end

    def orders(self, total_lines: int) -> Iterator[tuple[dict[str, Any], list[dict]]]:
        """Orders inside the period with exactly `total_lines` lines, then a few outside it."""
        left = total_lines
        while left:
            n = min(left, self.rng.randint(1, MAX_LINES))
            left -= n
            yield self.order(n, self.inside())
        for index in range(OUTSIDE_ORDERS):
            yield self.order(self.rng.randint(1, MAX_LINES), self.outside(index))


def insert_orders(engine: Engine, maker: OrderMaker, total_lines: int) -> tuple[int, int]:
    """Bulk-insert the orders and lines in batches, then the figures each order keeps of its
    lines (the statement the services run, over the chain's orders); returns (orders, lines)
    inserted."""
    orders = lines = 0
    pending: list[tuple[dict[str, Any], list[dict]]] = []

    def flush(conn: Any) -> None:
        nonlocal orders, lines
        ids = conn.execute(
            insert(Order).returning(Order.id, sort_by_parameter_order=True),
            [order for order, _ in pending],
        ).scalars()
        rows = []
        for order_id, (_, order_lines) in zip(ids, pending, strict=True):
            for line in order_lines:
                line["order_id"] = order_id
            rows.extend(order_lines)
        for i in range(0, len(rows), BATCH):
            conn.execute(insert(OrderLine), rows[i : i + BATCH])
        orders += len(pending)
        lines += len(rows)
        pending.clear()

    with engine.begin() as conn:
        batch_lines = 0
        for order, order_lines in maker.orders(total_lines):
            pending.append((order, order_lines))
            batch_lines += len(order_lines)
            if batch_lines >= BATCH:
                flush(conn)
                batch_lines = 0
        if pending:
            flush(conn)
        conn.execute(figures_update(Order.chain_id == maker.chain_id))
    return orders, lines


def build_chain(env: BenchApp, owner: Owner, name: str, n_lines: int, seed: int) -> int:
    """A chain with a D1 tier of DEALERS dealers and exactly n_lines lines in the period."""
    chain_id = create_bench_chain(env.app, owner, name)
    shape = ChainShape(tiers={TIER: scaled(DEALERS)}, contacts_per_org=1, seed=seed)
    built = insert_chain(env.app, chain_id, owner, shape)
    dealers = built.orgs_by_tier[TIER]
    with env.engine.connect() as conn:
        dealer_users = dict(
            conn.execute(
                select(User.org_id, User.id).where(User.org_id.in_(dealers), User.role == "admin")
            ).all()
        )
        timezone = conn.scalar(select(Chain.timezone).where(Chain.id == chain_id))
    tz = ZoneInfo(timezone)
    maker = OrderMaker(chain_id, owner, dealers, dealer_users, bench_period(tz), tz, seed)
    insert_orders(env.engine, maker, n_lines)
    return chain_id


# --- the floor: a bare openpyxl write-only loop ------------------------------------------------


def plain_rows(n: int, seed: int = 5) -> Iterator[list[Any]]:
    """n rows of len(LINE_COLUMNS) plain values of the column kinds (no database)."""
    rng = random.Random(seed)
    day = date(2026, 10, 1)
    at = datetime(2026, 10, 1, 9, 30)
    names = [f"Golden Star Dealer D1-{i:05d}" for i in range(DEALERS)]
    qty, price = Decimal("120"), Decimal("35.50")
    for i in range(n):
        dealer = i % DEALERS
        row: list[Any] = []
        for header, _, kind in LINE_COLUMNS:
            if kind == "date":
                row.append(day + timedelta(days=i % 28))
            elif kind == "datetime":
                row.append(at + timedelta(hours=i % 500))
            elif kind == "int":
                row.append(1 + i % MAX_LINES)
            elif kind == "qty":
                row.append(qty + i % 50)
            elif kind == "money":
                row.append(price + i % 40)
            elif header == "Order no.":
                row.append(f"SO-{i // 10:07d}")
            elif header == "Org name":
                row.append(names[dealer])
            else:
                row.append(f"{header} {rng.randrange(100)}")
        yield row


def bare_write(path: str, n: int) -> None:
    """The floor: n rows appended to one write-only sheet and saved."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Lines")
    ws.append([header for header, _, _ in LINE_COLUMNS])
    for row in plain_rows(n):
        ws.append(row)
    wb.save(path)


# --- the writer alone: records from a generator, no database ----------------------------------

WRITER_TARGET = 0.8
WRITER_ROUNDS = {SMALL: 3, BIG: 1}
_UTC_NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def plain_records(n: int, seed: int = 7) -> Iterator[LineRecord]:
    """n lines of DEALERS orgs with both sides' figures; about 15 % differ somewhere (flagged)."""
    rng = random.Random(seed)
    at = datetime(2026, 10, 1, 1, 30, tzinfo=UTC)
    for i in range(n):
        qty = Decimal(rng.randint(1, 500))
        price = Decimal(rng.randint(2, 900)) + Decimal(rng.choice((0, 50, 99))) / 100
        roll = rng.random()
        confirmed = qty - 1 if roll < 0.05 else qty
        shipped = confirmed if roll < 0.9 else confirmed - 1
        acked = at + timedelta(hours=i % 70)
        yield LineRecord(
            org_id=i % DEALERS, role="buyer" if i % 5 else "seller",
            counterparty_code="OWN-001", counterparty_name="Golden Star Motors",
            order_number=f"SO-{i // 10:07d}", order_date=date(2026, 10, 1 + i % 28),
            order_status="acknowledged" if roll < 0.95 else "issued", bak02="AD",
            currency="CNY", line_no=1 + i % 10, sku=f"P-{i % SKUS:05d}",
            description=ODD_TEXT[i % 5] if i % 50 == 0 else f"{PARTS[i % 10]}, type {i % 97}",
            unit=UNITS[i % len(UNITS)], ordered_qty=qty, unit_price=price,
            requested_date=date(2026, 11, 1 + i % 28),
            ack_status="accepted" if roll < 0.95 else "pending",
            ack01="IA" if roll < 0.95 else None, confirmed_qty=confirmed if roll < 0.95 else None,
            confirmed_price=price if roll < 0.95 else None,
            promised_date=date(2026, 11, 2 + i % 27) if roll < 0.95 else None,
            shipped_qty=shipped if roll < 0.95 else Decimal(0),
            received_qty=shipped if roll < 0.95 else Decimal(0),
            ack_due=at + timedelta(days=3), acked_at=acked if roll < 0.95 else None,
            reason="Pack size is 12" if roll < 0.05 else None,
        )  # fmt: skip


def writer_alone(path: str, n: int) -> int:
    """The tier workbook of n generated lines written to `path`; returns the flagged lines."""
    orgs = [
        OrgRecord(i, f"D1-{i:05d}", f"Golden Star Dealer D1-{i:05d}", "Dealers/North", TIER)
        for i in range(DEALERS)
    ]
    meta = WorkbookMeta(
        title="Reconciliation of tier D1", chain="Bench", tier=TIER, period="2026-10",
        first_day=date(2026, 10, 1), last_day=date(2026, 10, 31), timezone=TIMEZONE,
        generated_at=_UTC_NOW, revision=1, scope="bench",
    )  # fmt: skip
    stats = write_reconciliation_workbook(
        path, meta, orgs, plain_records(n), ZoneInfo(TIMEZONE), _UTC_NOW
    )
    return stats.discrepancies


def _writer_report(report: Report, sizes: list[int]) -> None:
    """The writer alone against the bare loop, for each size: wall-clock and CPU."""
    scratch = tempfile.mkdtemp(prefix="supplychain-bench-writer-")
    try:
        for n in sizes:
            rounds = WRITER_ROUNDS.get(n, 1)
            bare: list[tuple[float, float]] = []
            ours: list[tuple[float, float]] = []
            flagged = 0
            for _ in range(rounds):
                bare.append(_wall_and_cpu(lambda n=n: bare_write(f"{scratch}/bare.xlsx", n)))
                start, cpu = time.perf_counter(), time.process_time()
                flagged = writer_alone(f"{scratch}/ours.xlsx", n)
                ours.append((time.perf_counter() - start, time.process_time() - cpu))
            bare.append(_wall_and_cpu(lambda n=n: bare_write(f"{scratch}/bare.xlsx", n)))
            report.section(f"the writer alone, {n} lines (no database; wall / CPU)")
            report.line(f"writer_flagged_{n}", flagged, "lines flagged (written twice)")
            size = os.path.getsize(f"{scratch}/ours.xlsx")
            report.line(f"writer_bytes_{n}", size, "workbook size", _mib(size))
            bare_s = statistics.mean(w for w, _ in bare)
            bare_cpu = statistics.mean(c for _, c in bare)
            ours_s = statistics.median(w for w, _ in ours)
            ours_cpu = statistics.median(c for _, c in ours)
            _both(report, f"writer_seconds_{n}", "write_reconciliation_workbook", ours_s, ours_cpu)
            _both(report, f"writer_bare_seconds_{n}", "floor: bare openpyxl", bare_s, bare_cpu)
            ratio = report.ratio(f"writer_over_bare_{n}", ours_s, bare_s, "ratio writer / bare", 2)
            cpu_ratio = report.ratio(
                f"writer_over_bare_cpu_{n}",
                ours_cpu,
                bare_cpu,
                f"ratio of CPU times (target <= {WRITER_TARGET}x)",
                2,
            )
            if min(ratio, cpu_ratio) > WRITER_TARGET:
                report.warnings.append(
                    f"writer / bare at {n} lines {cpu_ratio:.2f}x CPU, target <= {WRITER_TARGET}x"
                )
        report.section("peak memory of the writer alone, a fresh process each")
        fresh = {n: writer_in_fresh_process(n, f"{scratch}/fresh.xlsx") for n in sizes}
        for n, out in fresh.items():
            shown = f"{_mib(out['rss_growth'])} ({fmt_seconds(out['cpu_seconds'])} CPU)"
            report.line(
                f"writer_rss_growth_{n}", out["rss_growth"], f"peak RSS - before, {n}", shown
            )
        small, big = (fresh[n]["rss_growth"] for n in sizes)
        if small and big is not None:
            value = report.ratio("writer_rss_growth_ratio", big, small, "ratio", 2)
            if abs(value - 1) > MEMORY_TARGET:
                report.warnings.append(f"writer alone: peak RSS {value:.2f}x from {sizes[0]} lines")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- the split ----------------------------------------------------------------------------------


def _reading(engine: Engine) -> Session:
    return Session(engine.execution_options(sqlite_begin="DEFERRED"))


def query_only(engine: Engine, chain_id: int, period: Period) -> int:
    """Just iterate the streamed (order, line) rows."""
    with _reading(engine) as session:
        chain = session.get(Chain, chain_id)
        assert chain is not None
        return sum(1 for _ in order_lines(session, chain, period, None))


def query_records(engine: Engine, chain_id: int, period: Period) -> int:
    """The rows turned into LineRecords, as the run does before writing them."""
    with _reading(engine) as session:
        chain = session.get(Chain, chain_id)
        assert chain is not None
        tier_orgs = chain_graph(session, chain).orgs_in_tier(TIER)
        directory = org_directory(session, chain_id)

        def side_of(buyer: int, seller: int) -> tuple[int, str, int] | None:
            if buyer in tier_orgs:
                return buyer, "buyer", seller
            if seller in tier_orgs:
                return seller, "seller", buyer
            return None

        rows = order_lines(session, chain, period, None)
        return sum(1 for _ in line_records(rows, directory, ZoneInfo(chain.timezone), side_of))


# --- one run in a fresh process: time and memory ------------------------------------------------

TRACE_ENV = "BENCH_TRACEMALLOC"  # =1: also measure tracemalloc peaks (about 5x slower runs)


def _status_bytes(field: str) -> int | None:
    """VmRSS / VmHWM of this process from /proc (Linux), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0): `echo 5 > /proc/self/clear_refs`."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports kilobytes, macOS bytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure(work: Callable[[], object], traced: bool) -> dict[str, Any]:
    """Seconds (wall and CPU) of work(), how far the peak RSS rose above the RSS before it, the
    ru_maxrss growth and, when `traced`, the tracemalloc peak of Python allocations.

    The peak RSS is the kernel's high-water mark reset just before (VmHWM); ru_maxrss cannot be
    reset, so it shows growth only above the process's earlier peak (start-up included)."""
    rss_before = _status_bytes("VmRSS")
    maxrss_before = _maxrss_bytes()
    hwm = _reset_peak_rss()
    if traced:
        tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    work()
    out: dict[str, Any] = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rss_before": rss_before,
    }
    if traced:
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    peak = _status_bytes("VmHWM") if hwm else None
    out["rss_growth"] = peak - rss_before if peak is not None and rss_before is not None else None
    out["maxrss_growth"] = _maxrss_bytes() - maxrss_before
    return out


def run_main(argv: list[str]) -> int:
    """`python -m tests.bench.reconciliation run URL REPORTS_DIR CHAIN_ID PERIOD [traced]`: one
    forced run of the D1 workbook in this fresh process, as `supplychain reconcile` makes it;
    prints its time and memory as JSON."""
    from supplychain.app import create_app
    from supplychain.config import TestConfig
    from supplychain.extensions import db

    url, reports_dir, chain_id, period, *mode = argv
    app = create_app(TestConfig(url, reports_dir))
    with app.app_context():
        engine = db.engine
    with engine.connect():
        pass  # the pool's first connection is set up before, not during, the run
    result: dict[str, Any] = {}

    def work() -> None:
        made, _ = execute_run(engine, reports_dir, int(chain_id), TIER, period, force=True)
        result.update(
            status=made.status, rows=made.rows, error=made.error, path=made.path, size=made.size
        )

    out = measure(work, traced=mode == ["traced"])
    out.update(result)
    print(json.dumps(out))
    return 0


def writer_main(argv: list[str]) -> int:
    """`python -m tests.bench.reconciliation writer N PATH`: the writer alone for N generated
    lines in this fresh process; prints its time and memory as JSON."""
    n, path = int(argv[0]), argv[1]
    writer_alone(path, 10)  # imports and formats warm, as in a running app
    out = measure(lambda: writer_alone(path, n), traced=False)
    print(json.dumps(out))
    return 0


def writer_in_fresh_process(n: int, path: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.bench.reconciliation", "writer", str(n), path]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"writer in a fresh process failed: {completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def in_fresh_process(
    url: str, reports_dir: str, chain_id: int, period: str, traced: bool = False
) -> dict[str, Any]:
    """run_main in a new interpreter; raises unless the run succeeded."""
    command = [sys.executable, "-m", "tests.bench.reconciliation", "run"]
    command += [url, reports_dir, str(chain_id), period] + (["traced"] if traced else [])
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"run in a fresh process failed: {completed.stderr[-3000:]}")
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    if out["status"] != "succeeded":
        raise RuntimeError(f"run failed: {out}")
    return out


def _mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


# --- the benchmark ------------------------------------------------------------------------------


def _wall_and_cpu(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of work() (CPU time barely moves with other processes' load)."""
    start, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - start, time.process_time() - cpu


def _split(
    engine: Engine, chain_id: int, period: Period, run_file: Path
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of the run's parts, timed in turns."""
    cases: dict[str, Callable[[], object]] = {
        "query": lambda: query_only(engine, chain_id, period),
        "records": lambda: query_records(engine, chain_id, period),
        "sha256": lambda: _file_digest(run_file),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(SPLIT_REPEAT):
        for name, work in cases.items():
            samples[name].append(_wall_and_cpu(work))
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in samples.items()
    }


def _flagged_lines(path: Path) -> int:
    """'Lines with discrepancies' from the Notes sheet (read-only: the other sheets stay unread)."""
    wb = load_workbook(path, read_only=True)
    try:
        for label, value, *_ in wb["Notes"].iter_rows(values_only=True, max_col=2):
            if label == "Lines with discrepancies":
                return int(value)
    finally:
        wb.close()
    raise RuntimeError(f"no discrepancy count in the Notes of {path}")


def _both(report: Report, key: str, label: str, wall: float, cpu: float) -> None:
    """A wall-clock and a CPU duration on one line: `wall / cpu`."""
    report.line(key, [wall, cpu], label, f"{fmt_seconds(wall)} / {fmt_seconds(cpu)}")


def run(report: Report) -> None:
    """Build both chains; time the big run (in a fresh process, which also gives its memory)
    against the bare loop; split its time; compare the memory of both runs."""
    small, big = scaled(SMALL), scaled(BIG)
    with bench_app() as env:
        reports_dir = env.app.config["REPORTS_DIR"]
        period = bench_period(ZoneInfo(TIMEZONE))
        start = time.perf_counter()
        owner = bootstrap_owner(env.app)
        chains = {
            small: build_chain(env, owner, "Bench reconciliation small", small, seed=11),
            big: build_chain(env, owner, "Bench reconciliation big", big, seed=12),
        }
        report.line("period", period.label, "period (month, Asia/Shanghai)")
        report.line("d1_orgs", scaled(DEALERS), "D1 orgs per chain")
        report.line("lines", [small, big], "lines in the D1 tier", f"{small} and {big} (2 chains)")
        report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")

        report.section(f"time, {big} lines (the run once, the floor before and after it)")
        scratch = tempfile.mkdtemp(prefix="supplychain-bench-xlsx-")
        bare_path = os.path.join(scratch, "bare.xlsx")
        try:
            bare = [_wall_and_cpu(lambda: bare_write(bare_path, big))]
            bare_size = os.path.getsize(bare_path)
            results = {big: in_fresh_process(env.url, reports_dir, chains[big], period.label)}
            bare.append(_wall_and_cpu(lambda: bare_write(bare_path, big)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results[small] = in_fresh_process(env.url, reports_dir, chains[small], period.label)
        run_file = Path(reports_dir) / results[big]["path"]
        _timing(report, results[big], bare, bare_size, big, run_file)
        report.section(f"time, {small} lines (the run once, the floor before and after it)")
        scratch = tempfile.mkdtemp(prefix="supplychain-bench-xlsx-")
        try:
            small_bare = [_wall_and_cpu(lambda: bare_write(f"{scratch}/bare.xlsx", small))]
            again = in_fresh_process(env.url, reports_dir, chains[small], period.label)
            small_bare.append(_wall_and_cpu(lambda: bare_write(f"{scratch}/bare.xlsx", small)))
            small_size = os.path.getsize(f"{scratch}/bare.xlsx")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        small_file = Path(reports_dir) / again["path"]
        _timing(report, again, small_bare, small_size, small, small_file, f"_{small}")
        small_file.unlink()
        report.section(f"split of the run (parts alone, median of {SPLIT_REPEAT}; wall / CPU)")
        _split_report(report, _split(env.engine, chains[big], period, run_file), results[big], bare)
        for out in results.values():
            (Path(reports_dir) / out["path"]).unlink()

        _writer_report(report, [small, big])

        report.section("peak memory of the run, a fresh process each")
        _memory(report, results)
        if os.environ.get(TRACE_ENV) == "1":
            traced = {
                n: in_fresh_process(env.url, reports_dir, chains[n], period.label, traced=True)
                for n in (small, big)
            }
            _memory(report, traced, ("traced_peak", "tracemalloc peak"))
        else:
            report.line("traced_peak", None, "tracemalloc peak", f"skipped (set {TRACE_ENV}=1)")


def _timing(
    report: Report,
    done: dict[str, Any],
    bare: list[tuple[float, float]],
    bare_size: int,
    lines: int,
    run_file: Path,
    suffix: str = "",
) -> None:
    """The run against the floor: wall-clock, CPU and per row written (keys + `suffix`)."""
    report.expect(
        "rows" + suffix, done["rows"], lines, f"workbook line rows ({lines} in the month)"
    )
    flagged = _flagged_lines(run_file)
    report.line(
        "flagged_lines" + suffix,
        flagged,
        "lines with discrepancies",
        f"{flagged} ({flagged / lines:.0%}; written again in Discrepancies)",
    )
    sizes = f"{_mib(done['size'])} ({_mib(bare_size)})"
    report.line("file_bytes" + suffix, done["size"], "workbook size (bare file)", sizes)
    run_s, run_cpu = done["seconds"], done["cpu_seconds"]
    bare_s = statistics.mean(wall for wall, _ in bare)
    bare_cpu = statistics.mean(cpu for _, cpu in bare)
    _both(
        report,
        "run_seconds" + suffix,
        "execute_run, full (fresh process), wall / CPU",
        run_s,
        run_cpu,
    )
    _both(
        report,
        "bare_seconds" + suffix,
        f"floor: bare, {len(LINE_COLUMNS)} cols, wall / CPU",
        bare_s,
        bare_cpu,
    )
    walls = [wall for wall, _ in bare]
    shown = " / ".join(fmt_seconds(wall) for wall in walls)
    report.line("bare_samples" + suffix, walls, "floor: bare write-only, before / after", shown)
    ratio = report.ratio(
        "run_over_bare" + suffix, run_s, bare_s, f"ratio run / bare (target <= {WRITER_TARGET}x)", 2
    )
    report.ratio(
        "run_over_bare_cpu" + suffix, run_cpu, bare_cpu, "ratio of CPU times (this process)", 2
    )
    written = lines + flagged
    report.ratio(
        "run_over_bare_per_row" + suffix,
        run_s,
        bare_s * written / lines,
        f"ratio per row written ({written} rows)",
        2,
    )
    cpu_ratio = run_cpu / bare_cpu if bare_cpu else math.inf
    if min(ratio, cpu_ratio) > WRITER_TARGET:
        report.warnings.append(
            f"run took {ratio:.2f}x ({cpu_ratio:.2f}x CPU) the bare openpyxl loop "
            f"(target {WRITER_TARGET}x)"
        )


def _split_report(
    report: Report,
    split: dict[str, tuple[float, float]],
    done: dict[str, Any],
    bare: list[tuple[float, float]],
) -> None:
    (query_s, query_cpu), (records_s, records_cpu) = split["query"], split["records"]
    sha_s, sha_cpu = split["sha256"]
    rest = done["seconds"] - records_s - sha_s
    rest_cpu = done["cpu_seconds"] - records_cpu - sha_cpu
    bare_s = statistics.mean(wall for wall, _ in bare)
    bare_cpu = statistics.mean(cpu for _, cpu in bare)
    _both(report, "query_seconds", "query: iterate the streamed rows", query_s, query_cpu)
    _both(
        report,
        "records_seconds",
        "+ LineRecords from the rows",
        records_s - query_s,
        records_cpu - query_cpu,
    )
    _both(report, "sha256_seconds", "sha256 of the file", sha_s, sha_cpu)
    _both(report, "rest_seconds", "rest: workbook, fsync, claim, audit", rest, rest_cpu)
    shown = f"{rest / bare_s:.2f}x / {rest_cpu / bare_cpu:.2f}x"
    report.line("rest_over_bare", [rest / bare_s, rest_cpu / bare_cpu], "rest / bare", shown)


def _memory(report: Report, results: dict[int, dict[str, Any]], *fields: tuple[str, str]) -> None:
    """Both runs' memory side by side and the ratio big / small (target: within 20 %)."""
    (small, a), (big, b) = sorted(results.items())
    if not fields:
        report.expect(f"rows_{small}", a["rows"], small, f"workbook line rows ({small})")
        before = a["rss_before"]
        report.line("rss_before", before, "RSS before the run (app loaded)", _mib(before))
        fields = (("rss_growth", "peak RSS - RSS before"), ("maxrss_growth", "ru_maxrss growth"))
    for field, what in fields:
        report.line(f"{field}_{small}", a[field], f"{what}, {small} lines", _mib(a[field]))
        report.line(f"{field}_{big}", b[field], f"{what}, {big} lines", _mib(b[field]))
        if a[field] and b[field] is not None:
            value = report.ratio(f"{field}_ratio", b[field], a[field], f"{what}, ratio", 2)
            if field != "maxrss_growth" and abs(value - 1) > MEMORY_TARGET:
                report.warnings.append(
                    f"{what} {value:.2f}x from {small} to {big} lines (target within 20 %)"
                )
    if "traced_peak" in a:
        report.seconds(f"traced_seconds_{big}", b["seconds"], f"run under tracemalloc, {big}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        sys.exit(run_main(sys.argv[2:]))
    if sys.argv[1:2] == ["writer"]:
        sys.exit(writer_main(sys.argv[2:]))
    print(
        "usage: python -m tests.bench.reconciliation run URL REPORTS_DIR CHAIN_ID PERIOD [traced]"
    )
    sys.exit(2)
