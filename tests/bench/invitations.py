"""Issue 22: what invitations cost an import, and how fast a notice reaches people not yet active.

1. POST /imports of 2 000 contacts with their invitation mail queued against the same import with
   `?send_invites=false`, in turns, each on a fresh chain: target <= 1.3x.
2. A notice to 2 000 freshly imported orgs (one invited, not yet activated person each, their
   invitations held back): the deliveries it queues (target: 2 000), and one `supplychain
   worker` process draining them against a local aiosmtpd server that counts what it accepts:
   emails/s (target >= 200/s). The short pre-activation message is what each of them gets.
Figures on a shared machine are noisy; nothing is asserted.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import openpyxl
from sqlalchemy import func, select

from supplychain.excel.importer import XLSX_MIMETYPE
from supplychain.models import Member
from supplychain.models.events import Delivery, Event
from supplychain.services.invitations import INVITATION_EVENT
from tests.bench.common import (
    BenchApp,
    Report,
    bench_app,
    bootstrap_owner,
    create_bench_chain,
    scaled,
)
from tests.bench.imports import HEADER
from tests.bench.notifications import CountingHandler, running_workers
from tests.mailserver import smtp_server

CONTACTS = 2_000
ROUNDS = 3
TARGET_IMPORT_RATIO = 1.3
TARGET_EMAILS_PER_SECOND = 200
DRAIN_TIMEOUT = 600.0
POLL = 0.02


def _sheet(rows: int, tag: str) -> bytes:
    """`rows` companies of one contact each (so a notice to them reaches `rows` people)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for i in range(rows):
        sheet.append(
            [
                f"Fresh dealer {i:05d}",
                "dealer",
                f"F-{i:05d}",
                f"Fresh/{tag}",
                f"Person {i:05d}",
                f"p{i:05d}.{tag}@fresh.bench.example",
                None,
                None,
                "admin",
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class Client:
    """The owner admin through Flask's test client."""

    def __init__(self, env: BenchApp, token: str) -> None:
        self.client = env.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, chain_id: int, data: bytes, send: bool) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/chains/{chain_id}/imports" + ("" if send else "?send_invites=false"),
            data={"file": (io.BytesIO(data), "fresh.xlsx", XLSX_MIMETYPE)},
            headers=self.headers,
            content_type="multipart/form-data",
        )
        if response.status_code != 201:
            raise RuntimeError(f"import -> {response.status_code}: {response.get_data(True)[:500]}")
        return response.get_json()

    def notice(self, chain_id: int, group: str) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/chains/{chain_id}/notices",
            json={
                "kind": "supply",
                "title": "Allocation for new dealers",
                "body": "Details for activated accounts only.",
                "items": [{"sku": "MX-100", "qty": "10"}],
                "audience": {"groups": [group]},
                "requires_ack": True,
            },
            headers=self.headers,
        )
        if response.status_code != 201:
            raise RuntimeError(f"notice -> {response.status_code}: {response.get_data(True)[:500]}")
        return response.get_json()


def _invitation_mails(env: BenchApp) -> int:
    with env.engine.connect() as conn:
        return conn.scalar(
            select(func.count())
            .select_from(Delivery)
            .join(Event, Event.id == Delivery.event_id)
            .where(Event.type == INVITATION_EVENT)
        )


def _imports(env: BenchApp, report: Report, client: Client, owner: Any, rows: int) -> None:
    samples: dict[bool, list[float]] = {True: [], False: []}
    earlier = _invitation_mails(env)
    for n in range(ROUNDS):
        for send in (True, False) if n % 2 == 0 else (False, True):
            data = _sheet(rows, f"r{n}{'m' if send else 'q'}")
            chain_id = create_bench_chain(env.app, owner, f"Invite bench {n} {send}")
            start = time.perf_counter()
            client.upload(chain_id, data, send)
            samples[send].append(time.perf_counter() - start)
    mailed, held = statistics.median(samples[True]), statistics.median(samples[False])
    report.section(f"import of {rows} contacts, medians of {ROUNDS} rounds in turns")
    queued = _invitation_mails(env) - earlier
    report.expect("invitation_mails", queued, rows * ROUNDS, "invitations queued")
    report.seconds("import_with_invites_seconds", mailed, "POST /imports, invitations mailed")
    report.seconds("import_without_invites_seconds", held, "POST /imports?send_invites=false")
    ratio = report.ratio("invites_over_none", mailed, held, "ratio with / without")
    report.line("target_import_ratio", TARGET_IMPORT_RATIO, "target", f"<= {TARGET_IMPORT_RATIO}x")
    if ratio > TARGET_IMPORT_RATIO:
        report.warnings.append(f"import with invitations {ratio:.2f}x, target <= 1.3x")


def _notice_drain(
    env: BenchApp, report: Report, client: Client, owner: Any, rows: int, smtp: Any
) -> None:
    handler, url = smtp
    chain_id = create_bench_chain(env.app, owner, "Invite bench notice")
    client.upload(chain_id, _sheet(rows, "notice"), send=False)
    with env.engine.connect() as conn:
        members = conn.scalar(
            select(func.count()).select_from(Member).where(Member.chain_id == chain_id)
        )
    report.section(f"a notice to {rows} freshly imported orgs, one worker draining it")
    report.line("members", members, "members of the chain (with the owner)")
    before = len(handler.messages)
    with running_workers(env, 1, url) as _workers:
        # Timed from the notice's POST (the worker is up and idle) until nothing is pending.
        start = time.perf_counter()
        notice = client.notice(chain_id, "Fresh")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            with env.engine.connect() as conn:
                pending = conn.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.chain_id == chain_id, Delivery.status == "pending")
                )
            if pending == 0:
                break
            time.sleep(POLL)
        seconds = time.perf_counter() - start
    with env.engine.connect() as conn:
        queued = conn.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.chain_id == chain_id)
        )
    report.expect("notice_recipients", notice["recipients"], rows, "notice recipients")
    report.expect("pending_people_reached", queued, rows, "email deliveries queued")
    sent = len(handler.messages) - before
    report.expect("emails_accepted", sent, rows, "messages the SMTP server accepted")
    report.seconds("drain_seconds", seconds, "notice POST until nothing is pending")
    rate = sent / seconds if seconds else 0.0
    report.line("emails_per_second", round(rate, 1), "emails/s, one worker", f"{rate:.0f}/s")
    report.line("target_rate", TARGET_EMAILS_PER_SECOND, "target", ">= 200/s")
    if rate < TARGET_EMAILS_PER_SECOND:
        report.warnings.append(f"pre-activation mail {rate:.0f}/s, target >= 200/s")


def run(report: Report) -> None:
    """Invitations' cost to an import; a notice's mail to people not yet activated, drained."""
    rows = scaled(CONTACTS)
    with smtp_server(CountingHandler()) as smtp, bench_app() as env:
        owner = bootstrap_owner(env.app)
        client = Client(env, owner.token)
        # Warm imports and compiled statements with a small sheet on its own chain.
        client.upload(create_bench_chain(env.app, owner, "Warm-up"), _sheet(10, "warm"), True)
        _imports(env, report, client, owner, rows)
        _notice_drain(env, report, client, owner, rows, smtp)
