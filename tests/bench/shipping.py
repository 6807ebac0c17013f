"""Issue 23: ship notices.

1. Issuing one notice of 500 lines over 20 orders (POST /ship-notices) against the same
   shipments made order by order (20 POST /orders/{id}/shipments of 25 lines; that endpoint now
   writes a one-order notice too, so the floor is today's code path, not the one before notices).
   Both through the HTTP API in-process, fresh accepted orders for every try (untimed), in
   turns. Statements are counted for the big notice and for a one-order notice of 25 lines:
   the count must not grow with lines or orders.
2. Documents of that notice with 200 packages: labels.pdf (200 pages of 100 x 150 mm) and the
   500-line delivery note. Seconds and the Python heap's peak (tracemalloc: WeasyPrint's own
   work, not what pango and harfbuzz allocate in C), against the floor: WeasyPrint rendering the
   same HTML with every barcode already drawn (the documents' templates rendered once, untimed).

Measured on SQLite, scale 1, on a shared 2-core machine at load average 13 (noisy figures):
one notice of 500 lines over 20 orders 0.70 s against 2.49 s for the 20 shipments (0.28x),
21 statements for it as for one order of 25 lines; labels for 200 packages 77.5 s against a
floor of 78.9 s (0.98x, heap peak 164 MB against 160 MB), the 500-line note 11.2 s against
10.9 s (1.02x, 130 MB). Drawing the barcodes costs next to nothing: the time is WeasyPrint's
layout of 200 pages (flex boxes made it 2-3x slower still; the templates use tables).

3. Labels of a notice of 2 000 packages (MAX_PACKAGES, a line each): 20, 200 and 2 000 of them
   as labels.pdf makes them (`?from=1&to=N`), and all 2 000 as one WeasyPrint document (the code
   before, with today's barcodes). CPU seconds of this process (time.process_time: the machine
   is shared), pages per CPU second, and the RSS peak (VmHWM, reset before each case: pango's
   and harfbuzz's C allocations too, which tracemalloc misses) and its growth over the case.

Labels, before and after (CPU seconds; RSS = the process's peak; SQLite-free script rendering
the same labels; the code before = one WeasyPrint document, a python-barcode SVG of one <rect>
per bar):
- before, load 1.1: 40 labels 1.43 s; 2 000 labels 79.8 s, RSS 1 687 MB (0.04 s a page: linear
  in CPU, but every page's boxes stay alive until write_pdf, ~0.7 MB a page). At load 5: 20 in
  0.91 s, 200 in 9.03 s; 200 with every text at its maximum length 13.8 s.
- cProfile of 40 labels before: layout 33%, drawing the 40-node SVG barcodes 20%, the CSS
  cascade 15%, painting the rest 12%, font subsetting at write_pdf 2% (harfbuzz, each font
  embedded once); with maximum-length texts pango's line breaking leads.
- after (bars one <path>; 50 labels per WeasyPrint document, painted into one PDF as they
  come, one FontConfiguration), load 1.1: 20 labels 0.71 s, 200 in 5.4 s, 2 000 in 60.5 s
  (33 pages/s), RSS 332 MB; 200 with maximum-length texts 10.0 s (so ~100 s for 2 000). At
  load 5: 200 in 7.28 s (0.81x before), maximum-length 11.24 s (0.81x). The PDF is byte for byte
  the one-document PDF (120 labels). Chunks of 10 to 200 labels cost the same CPU (within
  noise); WeasyPrint's `Document.copy(pages)` alone bounds nothing (each Page keeps its boxes).
- this benchmark, scale 1, load 1.9 to 1.6: 20 labels in 0.53 s (38 pages/s), 200 in 5.42 s
  (37/s), 2 000 in 68.0 s (29/s), RSS growth 70 MB; one document of 2 000 in 71.9 s, RSS growth
  985 MB (0.95x the CPU, 0.07x the memory). 2 000 were slower per page than 200: the garbage
  collector's full collections scanned the growing PDF again and again (13 s of 60 with it off).
- then collecting once per chunk and freezing what survives (gc.freeze, undone at the end),
  load 2.6: 200 labels in 5.35 s, 2 000 in 54.8 s (36 pages/s, linear), RSS 299 MB.
So 2 000 ordinary labels take ~55-70 s of CPU and ~90-100 s at maximum lengths: within
gunicorn's 120 s on an idle core, not on a busy machine; the notice page offers such a notice's
labels in parts of 500 (`?from=&to=`).
"""

from __future__ import annotations

import gc
import itertools
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weasyprint import HTML

from supplychain.documents import pdf
from supplychain.extensions import db
from supplychain.services import shipping
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

DEALERS = 50
ORDERS = 20
LINES_PER_ORDER = 25
PACKAGES = 200
BIG_PACKAGES = 2000  # MAX_PACKAGES: one label per package, one line per package
REPEAT = 5


class Desk:
    """The owner (seller) with one D1 dealer (buyer): orders issued, accepted, shipped."""

    def __init__(self, owner: Caller, dealer: Caller, dealer_org_id: int) -> None:
        self.owner = owner
        self.dealer = dealer
        self.dealer_org_id = dealer_org_id
        self.numbers = itertools.count(1)

    def accepted_orders(self, count: int, lines: int) -> list[dict[str, Any]]:
        orders = []
        for _ in range(count):
            body = {
                "counterparty_id": str(self.dealer_org_id),
                "issuer_role": "seller",
                "number": f"SO-SHIP-{next(self.numbers):06d}",
                "lines": [
                    {
                        "line_no": i + 1,
                        "sku": f"PART-{i:05d}",
                        "description": f"刹车片 batch {i}",
                        "qty": "40",
                        "unit": "pcs",
                        "unit_price": "12.50",
                    }
                    for i in range(lines)
                ],
            }
            order = self.owner.call("POST", "/orders", body, 201)
            ack = {"version": 1, "decision": "accept"}
            orders.append(self.dealer.call("POST", f"/orders/{order['id']}/ack", ack))
        return orders

    def notice_body(self, orders: list[dict[str, Any]], packages: int = 0) -> dict[str, Any]:
        lines = [
            {"order_id": order["id"], "line_no": line["line_no"], "qty": "10"}
            for order in orders
            for line in order["lines"]
        ]
        if packages:
            for i, line in enumerate(lines):
                line["package"] = str(i % packages + 1)
        return {
            "buyer_id": str(self.dealer_org_id),
            "carrier": {"name": "顺丰速运", "code": "SF"},
            "packages": [{"ref": str(n + 1)} for n in range(packages)],
            "lines": lines,
        }

    def issue(self, orders: list[dict[str, Any]], packages: int = 0) -> dict[str, Any]:
        return self.owner.call("POST", "/ship-notices", self.notice_body(orders, packages), 201)

    def ship_each(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            body = {"lines": [{"line_no": line["line_no"], "qty": "10"} for line in order["lines"]]}
            self.owner.call("POST", f"/orders/{order['id']}/shipments", body, 201)


def _build(env: BenchApp, report: Report) -> Desk:
    start = time.perf_counter()
    owner = bootstrap_owner(env.app)
    chain_id = create_bench_chain(env.app, owner)
    built = insert_chain(
        env.app, chain_id, owner, ChainShape(tiers={"D1": DEALERS}, contacts_per_org=1)
    )
    client = env.app.test_client()
    caller = Caller(client, owner.token, chain_id)
    caller.call("POST", "/grants", {"app": "orders", "scope": {"type": "all"}}, 201)
    client.open(
        "/api/v1/me/org",
        method="PATCH",
        json={"gs1_company_prefix": "0614141"},
        headers=caller.headers,
    )
    dealer = built.orgs_by_tier["D1"][0]
    report.seconds("setup_seconds", time.perf_counter() - start, "setup (bulk insert)")
    return Desk(caller, Caller(client, org_token(env.app, dealer), chain_id), dealer)


def _issuing(env: BenchApp, report: Report, desk: Desk) -> None:
    orders_n, per = scaled(ORDERS), LINES_PER_ORDER
    lines = orders_n * per
    report.section(f"issuing {lines} lines over {orders_n} orders")
    desk.issue(desk.accepted_orders(orders_n, per))  # warm
    desk.ship_each(desk.accepted_orders(orders_n, per))
    many = desk.accepted_orders(orders_n, per)
    with count_queries(env.engine) as big:
        desk.issue(many)
    one = desk.accepted_orders(1, per)
    with count_queries(env.engine) as small:
        desk.issue(one)
    pending: dict[str, Callable[[], object]] = {}

    def prepare(name: str) -> Callable[[], object]:
        def setup() -> None:
            orders = desk.accepted_orders(orders_n, per)
            if name == "notice":
                pending[name] = lambda: desk.issue(orders)
            else:
                pending[name] = lambda: desk.ship_each(orders)

        return setup

    medians = timed_together(
        {"notice": lambda: pending.pop("notice")(), "each": lambda: pending.pop("each")()},
        repeat=REPEAT,
        setups={"notice": prepare("notice"), "each": prepare("each")},
    )
    report.seconds("issue_notice_seconds", medians["notice"], "one notice, median")
    report.seconds("ship_each_seconds", medians["each"], f"{orders_n} shipments, median")
    report.ratio(
        "issue_over_each", medians["notice"], medians["each"], "ratio notice / order by order", 2
    )
    report.line("issue_queries_one_order", small.count, f"statements, 1 order of {per} lines")
    report.expect(
        "issue_queries", big.count, small.count, f"statements, {orders_n} orders, {lines} lines"
    )


def _measure(fn: Callable[[], bytes]) -> tuple[float, int, int]:
    """Seconds, Python heap peak (bytes) and output size of fn()."""
    tracemalloc.start()
    start = time.perf_counter()
    data = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, len(data)


def _documents(env: BenchApp, report: Report, desk: Desk) -> None:
    packages = scaled(PACKAGES)
    orders = desk.accepted_orders(scaled(ORDERS), LINES_PER_ORDER)
    notice = desk.issue(orders, packages)
    with env.app.app_context():
        view = shipping.notice_view(
            db.session, db.session.get(shipping.ShipNotice, int(notice["id"]))
        )
        db.session.expunge_all()
        db.session.remove()
    lines = len(view.lines)
    zone = "Asia/Shanghai"
    cases = {
        "labels": (
            lambda: pdf.labels_pdf(view, zone),
            lambda: pdf.ENV.get_template("labels.html").render(
                fonts=pdf.FONTS, **pdf.label_context(view, zone)
            ),
            f"labels.pdf, {packages} packages",
        ),
        "note": (
            lambda: pdf.delivery_note_pdf(view, "zh", zone),
            lambda: pdf.ENV.get_template("delivery_note.html").render(
                fonts=pdf.FONTS, **pdf.delivery_note_context(view, "zh", zone)
            ),
            f"delivery-note.pdf, {lines} lines",
        ),
    }
    for key, (render, html_of, title) in cases.items():
        report.section(title)
        html = html_of()  # barcodes drawn, template rendered: what the floor starts from
        render()  # warm fonts and caches
        floor_html = lambda html=html: HTML(string=html, base_url=str(pdf.TEMPLATES)).write_pdf()  # noqa: E731
        medians = timed_together({"ours": render, "floor": floor_html}, repeat=3)
        _, peak, size = _measure(render)
        _, floor_peak, _ = _measure(floor_html)
        report.seconds(f"{key}_seconds", medians["ours"], "seconds, median")
        report.seconds(f"{key}_floor_seconds", medians["floor"], "floor (WeasyPrint, drawn)")
        report.ratio(
            f"{key}_over_floor", medians["ours"], medians["floor"], "ratio to the floor", 2
        )
        report.line(f"{key}_peak_mb", round(peak / 2**20, 1), "Python heap peak, MB")
        report.line(f"{key}_floor_peak_mb", round(floor_peak / 2**20, 1), "floor heap peak, MB")
        report.line(f"{key}_bytes", size, "PDF size, bytes")


def _proc(name: str) -> str:
    return Path("/proc", name).read_text(encoding="ascii")


def _rss_peak() -> int:
    """The process's resident set peak since the last `_reset_rss_peak` (bytes): what pango,
    harfbuzz and cairo allocate in C too, which tracemalloc does not see."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", _proc("self/status")).group(1)) * 1024


def _rss() -> int:
    return int(re.search(r"VmRSS:\s+(\d+) kB", _proc("self/status")).group(1)) * 1024


def _reset_rss_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # Linux: the peak (VmHWM) starts again from the current RSS


def _cpu(fn: Callable[[], bytes]) -> tuple[float, int, int, int]:
    """CPU seconds of this process (the machine is shared: wall time says little), RSS before,
    RSS peak (bytes) and output size of fn()."""
    gc.collect()
    _reset_rss_peak()
    before = _rss()
    start = time.process_time()
    data = fn()
    return time.process_time() - start, before, _rss_peak(), len(data)


def _big_labels(env: BenchApp, report: Report, desk: Desk) -> None:
    """Labels of a notice of 2 000 packages (a line each): 20, 200 and 2 000 of them, laid out
    in chunks (the labels.pdf code) and, for all 2 000, as one WeasyPrint document (the code
    before: every page's boxes alive until the PDF is written)."""
    packages = scaled(BIG_PACKAGES)
    orders = desk.accepted_orders(max(1, packages // LINES_PER_ORDER), LINES_PER_ORDER)
    body = desk.notice_body(orders, packages)
    notice = desk.owner.call("POST", "/ship-notices", body, 201)
    with env.app.app_context():
        view = shipping.notice_view(
            db.session, db.session.get(shipping.ShipNotice, int(notice["id"]))
        )
        db.session.expunge_all()
        db.session.remove()
    zone = "Asia/Shanghai"
    report.section(f"labels of a notice of {len(view.packages)} packages, CPU seconds")
    report.line("loadavg_before", _proc("loadavg").split()[0], "load average (1 min)")
    pdf.labels_pdf(view, zone, view.packages[:2])  # warm fonts and caches
    for count in sorted({scaled(20), scaled(200), len(view.packages)}):
        chosen = view.packages[:count]
        cpu, before, peak, size = _cpu(lambda chosen=chosen: pdf.labels_pdf(view, zone, chosen))
        report.seconds(f"labels_{count}_cpu_seconds", cpu, f"{count} labels, CPU seconds")
        report.line(
            f"labels_{count}_pages_per_second", round(count / cpu, 1), "pages per CPU second"
        )
        report.line(f"labels_{count}_rss_peak_mb", round(peak / 2**20), "RSS peak, MB")
        report.line(
            f"labels_{count}_rss_growth_mb", round((peak - before) / 2**20), "RSS growth, MB"
        )
        report.line(f"labels_{count}_bytes", size, "PDF size, bytes")
    count = len(view.packages)
    report.section(f"{count} labels as one WeasyPrint document (the code before)")
    html = pdf.ENV.get_template("labels.html").render(
        fonts=pdf.FONTS, **pdf.label_context(view, zone)
    )
    # Parsing the HTML is timed, as in labels_pdf; drawing the barcodes (0.1 s) is not.
    cpu_one, before, peak, size = _cpu(
        lambda: HTML(string=html, base_url=str(pdf.TEMPLATES)).write_pdf()
    )
    report.seconds(f"one_document_{count}_cpu_seconds", cpu_one, f"{count} labels, CPU seconds")
    report.line(f"one_document_{count}_rss_peak_mb", round(peak / 2**20), "RSS peak, MB")
    report.line(
        f"one_document_{count}_rss_growth_mb", round((peak - before) / 2**20), "RSS growth, MB"
    )
    cpu_ours = report.results[f"labels_{count}_cpu_seconds"]
    report.ratio("chunked_over_one_document", cpu_ours, cpu_one, "CPU ratio chunked / one", 2)
    report.line("loadavg_after", _proc("loadavg").split()[0], "load average (1 min)")


def run(report: Report) -> None:
    """Issue a notice over many orders against order by order; render its documents."""
    with bench_app() as env:
        desk = _build(env, report)
        _issuing(env, report, desk)
        _documents(env, report, desk)
        _big_labels(env, report, desk)
