"""Reconciliation and import pages: plain form posts and downloads (no JavaScript), then one run in
Chromium: procurement runs and downloads a tier workbook, a dealer downloads its statement."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from supplychain.excel.importer import MAX_UPLOAD_BYTES, XLSX_MIMETYPE
from supplychain.periods import monthly_period
from tests.conftest import World
from tests.ui.conftest import SCREENSHOTS, screenshot, sign_in

TZ = ZoneInfo("Asia/Shanghai")  # a new chain's timezone


def this_month() -> str:
    return monthly_period(datetime.now(TZ).date()).label


def last_month() -> str:
    return monthly_period(datetime.now(TZ).date().replace(day=1) - timedelta(days=1)).label


@dataclass
class Recon:
    """The world with orders shared with all, reconciliation with tier D1, and three orders of
    this month: owner -> D1a, D1b -> owner, D2 -> D1a."""

    world: World

    @property
    def cid(self) -> str:
        return self.world.chain_id

    def page(self, suffix: str = "") -> str:
        return f"/chains/{self.cid}{suffix}"


def _order(w: World, token: str, counterparty: str, role: str, number: str) -> None:
    body = {
        "counterparty_id": counterparty,
        "issuer_role": role,
        "number": number,
        "lines": [{"line_no": 1, "sku": "BRK-100", "qty": "10", "unit_price": "25.00"}],
    }
    response = w.api.post(w.path("/orders"), body, token=token)
    assert response.status_code == 201, response.text


@pytest.fixture
def recon(world: World) -> Recon:
    w = world
    for app_key, scope in (
        ("orders", {"type": "all"}),
        ("reconciliation", {"type": "tier", "value": "D1"}),
    ):
        response = w.api.post(
            w.path("/grants"), {"app": app_key, "scope": scope}, token=w.owner.token
        )
        assert response.status_code == 201, response.text
    p = w.parties
    _order(w, w.owner.token, p["D1a"].org_id, "seller", "SO-A-1")
    _order(w, p["D1b"].token, w.owner.org_id, "buyer", "PO-B-1")
    _order(w, p["D2"].token, p["D1a"].org_id, "buyer", "PO-SUB-1")
    return Recon(w)


def _book(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def _order_numbers(content: bytes) -> set[str]:
    sheet = _book(content)["Lines"]
    rows = list(sheet.iter_rows(values_only=True))
    at = rows[0].index("Order no.")
    return {row[at] for row in rows[1:] if row[at]}


def _is_xlsx(response: Any) -> None:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == XLSX_MIMETYPE
    assert response.headers["Content-Disposition"].startswith("attachment;")


def _field(html: str, name: str) -> str:
    """The <label> holding the form field `name`: its input and the errors shown beside it."""
    for label in re.findall(r"<label[^>]*>.*?</label>", html, re.S):
        if f'name="{name}"' in label:
            return label
    raise AssertionError(f"no field {name}")


def _run_id(url: str) -> str:
    found = re.search(r"/reconciliation/runs/(\d+)$", url)
    assert found, url
    return found.group(1)


# --- tier workbooks -------------------------------------------------------------------------------


@pytest.mark.committed  # runs commit in sessions of their own
def test_run_now_makes_a_workbook_to_download(recon: Recon, web):
    w = recon.world
    staff = web()
    staff.login(w.owner_staff.email)
    page = staff.get(recon.page("/reconciliation"))
    assert page.status_code == 200 and "Run now" in page.text
    # The period defaults to last month; the tier is one of the chain's reconcilable tiers.
    assert f'value="{last_month()}"' in _field(page.text, "period")
    tiers = re.findall(r'<option value="([^"]+)"', _field(page.text, "tier"))
    assert tiers == ["U1", "D1", "D2"]
    # Procurement staff see no schedule (owner admins only).
    assert 'id="schedule"' not in page.text

    made = staff.post(recon.page("/reconciliation/runs"), {"tier": "D1", "period": this_month()})
    assert made.status_code == 200 and "Workbook produced: 2 lines." in made.text
    run_id = _run_id(made.url)
    assert "succeeded" in made.text
    download = re.search(r'href="([^"]+/runs/\d+/file)"', made.text).group(1)
    file = staff.get(download)
    _is_xlsx(file)
    assert f"D1 - {this_month()} - r1.xlsx" in file.headers["Content-Disposition"]
    assert _order_numbers(file.content) == {"SO-A-1", "PO-B-1"}
    # The same bytes as the API serves.
    api_file = w.api.get(w.path(f"/reconciliation/runs/{run_id}/file"), token=w.owner_staff.token)
    assert api_file.content == file.content

    # Again: the existing run is shown; with "new revision" a second one is made.
    again = staff.post(recon.page("/reconciliation/runs"), {"tier": "D1", "period": this_month()})
    assert _run_id(again.url) == run_id and "exists already (revision 1)" in again.text
    forced = staff.post(
        recon.page("/reconciliation/runs"),
        {"tier": "D1", "period": this_month(), "force": "1"},
    )
    assert _run_id(forced.url) != run_id and "Workbook produced" in forced.text
    listed = staff.get(recon.page(f"/reconciliation?tier=D1&period={this_month()}"))
    assert listed.text.count("/file") == 2
    assert "No workbooks here yet." in staff.get(recon.page("/reconciliation?tier=D2")).text


@pytest.mark.committed  # runs commit in sessions of their own
def test_bad_tier_or_period_shows_the_error_beside_the_field(recon: Recon, web):
    staff = web()
    staff.login(recon.world.owner_staff.email)
    runs = recon.page("/reconciliation/runs")
    cases = [
        ({"tier": "core", "period": this_month()}, "tier", "Use U1, U2... or D1, D2..."),
        ({"tier": "D9", "period": this_month()}, "tier", "No org is in tier D9 of this chain."),
        ({"tier": "D1", "period": "2026-13"}, "period", "Use YYYY-MM or YYYY-Www (ISO week)."),
        ({"tier": "D1", "period": "2999-01"}, "period", "This period has not started yet."),
        ({"tier": "D1"}, "period", "Missing data for required field."),
    ]
    for form, field, message in cases:
        bad = staff.post(runs, form)
        assert bad.status_code == 422, (form, bad.status_code)
        label = _field(bad.text, field)
        assert 'class="field-error"' in label and message in label, (form, label)
        # The typed values stay in the form.
        if "period" in form:
            assert f'value="{form["period"]}"' in _field(bad.text, "period")
    api = recon.world.api.get(
        recon.world.path("/reconciliation/runs"), token=recon.world.owner.token
    )
    assert api.json()["total"] == 0


@pytest.mark.committed  # runs commit in sessions of their own
def test_partners_get_their_own_statement_and_never_a_tier_workbook(recon: Recon, web):
    w = recon.world
    p = w.parties
    run = w.api.post(
        w.path("/reconciliation/runs"),
        {"tier": "D1", "period": this_month()},
        token=w.owner.token,
    ).json()
    dealer = web()
    home = dealer.login(p["D1a"].email)
    # The home page offers last month's statement; the chain bar links to "My statements".
    assert "Statement for last month" in home.text and last_month() in home.text
    assert recon.page("/statements") in dealer.get(recon.page("")).text

    for path in (
        "/reconciliation",
        f"/reconciliation/runs/{run['id']}",
        f"/reconciliation/runs/{run['id']}/file",
    ):
        refused = dealer.get(recon.page(path))
        assert refused.status_code == 403 and "<html" in refused.text, path
        assert "spreadsheetml" not in refused.headers["Content-Type"]
    assert dealer.post(recon.page("/reconciliation/runs"), {"tier": "D1"}).status_code == 403

    page = dealer.get(recon.page("/statements"))
    assert page.status_code == 200 and "My statements" in page.text
    assert f'<option value="{last_month()}" selected>' in page.text
    own = dealer.get(recon.page(f"/statements/download?period={this_month()}"))
    _is_xlsx(own)
    assert "statement - DLR-001" in own.headers["Content-Disposition"]
    # Its order with the owner (one tier nearer the core) only: its sub-dealer's order is in
    # the sub-dealer's statement; never another dealer's.
    assert _order_numbers(own.content) == {"SO-A-1"}
    # Another org's statement: refused, whatever the URL says.
    other = dealer.get(
        recon.page(f"/statements/download?period={this_month()}&org_id={p['D1b'].org_id}")
    )
    assert other.status_code == 403 and "spreadsheetml" not in other.headers["Content-Type"]
    # A bad period comes back as the page with the error next to the picker.
    bad = dealer.get(recon.page("/statements/download?period=2026-13"))
    assert bad.status_code == 422
    assert "Use YYYY-MM or YYYY-Www (ISO week)." in _field(bad.text, "period")
    future = dealer.get(recon.page("/statements/download?period=2999-W01"))
    assert future.status_code == 422 and "This period has not started yet." in future.text

    # D2 is not in tier D1: no grant, no statements, no tile.
    sub = web()
    sub_home = sub.login(p["D2"].email)
    assert "Statement for last month" not in sub_home.text
    for path in ("/statements", f"/statements/download?period={this_month()}"):
        refused = sub.get(recon.page(path))
        assert refused.status_code == 403 and "<html" in refused.text

    # The owner takes any member's statement from its member page.
    owner = web()
    owner.login(w.owner.email)
    member = owner.get(recon.page(f"/members/{p['D1b'].org_id}"))
    link = f"/statements?org_id={p['D1b'].org_id}"
    assert link in member.text
    picker = owner.get(recon.page(link))
    assert "Statements of Shanghai Auto Trade" in picker.text
    theirs = owner.get(
        recon.page(f"/statements/download?period={this_month()}&org_id={p['D1b'].org_id}")
    )
    _is_xlsx(theirs)
    assert _order_numbers(theirs.content) == {"PO-B-1"}
    outsider = owner.get(recon.page(f"/statements/download?period={this_month()}&org_id=999999"))
    assert outsider.status_code == 404


def test_schedule_edit_shows_field_errors_and_saves(recon: Recon, web):
    w = recon.world
    admin = web()
    admin.login(w.owner.email)
    page = admin.get(recon.page("/reconciliation"))
    assert 'id="schedule"' in page.text and "No schedule is set" in page.text
    schedule = recon.page("/reconciliation/schedule")
    bad = admin.post(
        schedule, [("frequency", "monthly"), ("day", "40"), ("hour", "6"), ("enabled", "1")]
    )
    assert bad.status_code == 422
    assert "Monthly: day of month 1-31." in _field(bad.text, "day")
    assert 'value="40"' in _field(bad.text, "day")
    weekly = admin.post(schedule, {"frequency": "weekly", "day": "8", "hour": "24"})
    assert weekly.status_code == 422
    assert "Weekly: ISO weekday 1 (Monday) to 7 (Sunday)." in _field(weekly.text, "day")
    assert "0 to 23." in _field(weekly.text, "hour")
    typed = admin.post(schedule, {"frequency": "monthly", "day": "first", "hour": "6"})
    assert typed.status_code == 422 and "Not a valid integer." in _field(typed.text, "day")
    assert w.api.get(w.path("/reconciliation/schedule"), token=w.owner.token).status_code == 404

    good = admin.post(
        schedule,
        [
            ("frequency", "weekly"),
            ("day", "1"),
            ("hour", "7"),
            ("tiers", "D1"),
            ("tiers", "D2"),
            ("enabled", "1"),
        ],
    )
    assert good.status_code == 200 and "Schedule saved." in good.text
    saved = w.api.get(w.path("/reconciliation/schedule"), token=w.owner.token).json()
    assert (saved["frequency"], saved["day"], saved["hour"]) == ("weekly", 1, 7)
    assert saved["tiers"] == ["D1", "D2"] and saved["enabled"] is True
    assert re.search(r'value="D2" checked', good.text)
    # Unticked "enabled" and no tiers: disabled, every tier.
    admin.post(schedule, {"frequency": "monthly", "day": "31", "hour": "0"})
    saved = w.api.get(w.path("/reconciliation/schedule"), token=w.owner.token).json()
    assert saved["enabled"] is False and saved["tiers"] is None and saved["day"] == 31

    staff = web()
    staff.login(w.owner_staff.email)
    assert staff.post(schedule, {"frequency": "monthly", "day": "1", "hour": "1"}).status_code == (
        403
    )


# --- the import -----------------------------------------------------------------------------------

HEADER = ["company name", "kind", "custom id", "group path", "contact name", "email"]
GOOD = [
    ["Guangzhou Auto Mall", "dealer", "DLR-201", "Dealers/South China", "Chen Jing", "chen@gz.ex"],
    ["Ningbo Bearings", "supplier", "SUP-201", "Suppliers/Steel", "Li Lei", "li@nb.example"],
]


def _sheet(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Partners")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(browser, path: str, data: bytes, dry_run: bool, name: str = "partners.xlsx"):
    fields = {"dry_run": "1"} if dry_run else {}
    return browser.post(path, fields, files={"file": (name, data, XLSX_MIMETYPE)})


def _custom_ids(w: World) -> set[str]:
    found = w.api.get(w.path("/members?page_size=500"), token=w.owner.token).json()
    return {m["custom_id"] for m in found["items"]}


def test_import_dry_run_then_real_import_then_row_errors(recon: Recon, web):
    w = recon.world
    admin = web()
    admin.login(w.owner.email)
    members = admin.get(recon.page("/members"))
    assert recon.page("/import") in members.text
    page = admin.get(recon.page("/import"))
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert re.search(r'name="dry_run" value="1" checked', page.text)
    template = admin.get(recon.page("/import/template"))
    _is_xlsx(template)
    header = next(_book(template.content).worksheets[0].iter_rows(values_only=True))
    assert header[:3] == ("company name", "kind", "custom id")

    before = _custom_ids(w)
    imports = recon.page("/import")
    dry = _upload(admin, imports, _sheet(GOOD), dry_run=True)
    assert dry.status_code == 200 and "Dry run: nothing was saved" in dry.text
    tiles = {
        label: int(n)
        for n, label in re.findall(
            r'<span class="n">(\d+)</span><span class="t">([^<]+)</span>', dry.text
        )
    }
    assert tiles["Rows read"] == 2 and tiles["New companies"] == 2 and tiles["New contacts"] == 2
    assert "Invitation code" not in dry.text and _custom_ids(w) == before

    real = _upload(admin, imports, _sheet(GOOD), dry_run=False)
    assert real.status_code == 200 and "<h2>Imported</h2>" in real.text
    codes = re.findall(r"<td[^>]*><code>([A-Z0-9-]{10,})</code></td>", real.text)
    assert len(codes) == 2 and "chen@gz.ex" in real.text and "shown only this once" in real.text
    assert _custom_ids(w) == before | {"DLR-201", "SUP-201"}
    # The codes were shown once: they are not in the next page's flashes or anywhere else.
    assert codes[0] not in admin.get(recon.page("/import")).text
    activated = w.api.post(
        "/auth/activate", {"invite_code": codes[0], "password": "correct horse battery"}
    )
    assert activated.status_code == 200

    bad_rows = [
        ["Foshan Parts", "robot", "SUP-301", None, "Wu Di", "not-an-email"],
        ["", "dealer", "DLR-301", None, None, None],
    ]
    bad = _upload(admin, imports, _sheet(bad_rows), dry_run=False)
    assert bad.status_code == 422 and "Nothing was imported" in bad.text
    table = re.search(r'<section class="card" id="row-errors">.*?</section>', bad.text, re.S)
    assert table, bad.text[:2000]
    cells = [
        tuple(
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        )
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)
    ]
    by_cell = {(row[0], row[1]): row[3] for row in cells if row}
    assert "is not one of" in by_cell[("2", "kind")]
    assert by_cell[("2", "email")] == "Not a valid email address."
    assert by_cell[("3", "company name")] == "Required."
    assert "SUP-301" not in _custom_ids(w)

    not_xlsx = _upload(admin, imports, b"name,kind\nx,dealer\n", dry_run=True, name="p.csv")
    assert not_xlsx.status_code == 400
    assert "Not an Excel workbook" in _field(not_xlsx.text, "file")
    missing = admin.post(imports, {"dry_run": "1"})
    assert missing.status_code == 422
    assert "Choose the filled-in template" in _field(missing.text, "file")

    # Too big: beside the field up to the upload limit, a 413 page beyond it; never a 500.
    just_over = _upload(admin, imports, b"x" * (MAX_UPLOAD_BYTES + 10), dry_run=True)
    assert just_over.status_code == 413
    assert "The file is larger than" in _field(just_over.text, "file")
    huge = _upload(admin, imports, b"x" * (MAX_UPLOAD_BYTES + 1024 * 1024), dry_run=True)
    assert huge.status_code == 413 and "<html" in huge.text

    # Only the owner's admins import.
    staff = web()
    staff.login(w.owner_staff.email)
    assert staff.get(imports).status_code == 403
    assert _upload(staff, imports, _sheet(GOOD), dry_run=True).status_code == 403
    assert staff.get(recon.page("/import/template")).status_code == 403
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    assert dealer.get(imports).status_code == 403


# --- in a real browser ----------------------------------------------------------------------------


def test_procurement_downloads_a_tier_workbook_and_a_dealer_its_statement(
    recon: Recon, browse, tmp_path: Path
):
    w = recon.world
    page = browse()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, w.owner_staff.email)
    page.goto(recon.page(""))
    page.click(".chainnav a:has-text('Reconciliation')")
    page.wait_for_url("**/reconciliation")
    page.select_option("select[name=tier]", "D1")
    page.fill("input[name=period]", "2026-13")
    page.click("#run-now button[type=submit]")
    page.locator("#run-now .field-error", has_text="Use YYYY-MM").wait_for()
    screenshot(page, "desktop-reconciliation-error")
    page.fill("input[name=period]", this_month())
    page.click("#run-now button[type=submit]")
    page.locator(".flash.ok", has_text="Workbook produced").wait_for()
    screenshot(page, "desktop-reconciliation-run")
    with page.expect_download() as info:
        page.click("text=Download workbook")
    download = info.value
    assert download.suggested_filename.endswith(f"D1 - {this_month()} - r1.xlsx")
    saved = tmp_path / "tier.xlsx"
    download.save_as(saved)
    assert _order_numbers(saved.read_bytes()) == {"SO-A-1", "PO-B-1"}
    page.goto(recon.page("/reconciliation"))
    assert "D1" in page.inner_text("#runs")
    screenshot(page, "desktop-reconciliation")

    # A dealer on a phone: from its home page to its statement.
    phone = browse(viewport={"width": 390, "height": 844})
    sign_in(phone, w.parties["D1a"].email)
    screenshot(phone, "phone-home-statement")
    phone.click("a.tile.statement")
    # The tile opens last month's statement page; "My statements" lists every period.
    phone.wait_for_url(f"**/statements/{last_month()}")
    phone.click(".crumbs a")
    phone.wait_for_url("**/statements")
    phone.select_option("select[name=period]", this_month())
    screenshot(phone, "phone-statements")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    with phone.expect_download() as info:
        phone.click("#statement button[type=submit]")
    statement = info.value
    assert "statement - DLR-001" in statement.suggested_filename
    mine = tmp_path / "statement.xlsx"
    statement.save_as(mine)
    assert _order_numbers(mine.read_bytes()) == {"SO-A-1"}  # with the owner only (its scope)
    assert (SCREENSHOTS / "phone-statements.png").exists()

    # The owner's admin: the schedule with an error, the import with row errors, then a result.
    admin = browse()
    admin.set_viewport_size({"width": 1280, "height": 900})
    sign_in(admin, w.owner.email)
    admin.goto(recon.page("/reconciliation"))
    admin.fill("#schedule input[name=day]", "40")
    admin.click("#schedule button[type=submit]")
    admin.locator("#schedule .field-error", has_text="Monthly: day of month 1-31.").wait_for()
    admin.locator("#schedule").screenshot(path=str(SCREENSHOTS / "desktop-schedule-error.png"))
    admin.goto(recon.page("/members"))
    admin.click("text=Import from Excel")
    bad = _sheet([["Foshan Parts", "robot", "SUP-301", None, "Wu Di", "not-an-email"]])
    admin.set_input_files(
        "input[name=file]", files=[{"name": "p.xlsx", "mimeType": XLSX_MIMETYPE, "buffer": bad}]
    )
    admin.click("#upload button[type=submit]")
    admin.locator("#row-errors td", has_text="Not a valid email address.").wait_for()
    screenshot(admin, "desktop-import-errors")
    admin.set_input_files(
        "input[name=file]",
        files=[{"name": "p.xlsx", "mimeType": XLSX_MIMETYPE, "buffer": _sheet(GOOD)}],
    )
    admin.uncheck("input[name=dry_run]")
    admin.click("#upload button[type=submit]")
    admin.locator("#invites code").first.wait_for()
    screenshot(admin, "desktop-import-result")
    phone_admin = browse(viewport={"width": 390, "height": 844})
    sign_in(phone_admin, w.owner.email)
    phone_admin.goto(recon.page("/reconciliation"))
    screenshot(phone_admin, "phone-reconciliation")
    assert phone_admin.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_slow_workbook_is_made_in_the_background_and_its_page_refreshes(
    recon: Recon, live_web, monkeypatch
):
    """A large tier takes a minute: "Run now" answers after a few seconds with the run's page,
    which reloads itself (a meta refresh, no JavaScript) until the workbook can be downloaded."""
    import threading

    from supplychain.services.reconciliation import background, tier_workbook
    from supplychain.ui.views import reconciliation as pages

    release = threading.Event()
    real = tier_workbook.write_reconciliation_workbook

    def slow(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(tier_workbook, "write_reconciliation_workbook", slow)
    monkeypatch.setattr(pages, "RUN_PATIENCE_SECONDS", 0.2)
    staff = live_web()
    staff.login(recon.world.owner_staff.email)
    try:
        made = staff.post(
            recon.page("/reconciliation/runs"), {"tier": "D1", "period": this_month()}
        )
        assert made.status_code == 200
        assert "The workbook is being produced" in made.text
        assert "Being produced. This page refreshes by itself" in made.text
        assert re.search(r'<meta http-equiv="refresh" content="\d+">', made.text)
        assert "Download workbook" not in made.text
    finally:
        release.set()
    assert background.drain_background(30)
    run_page = urlsplit(made.url).path
    for _ in range(200):
        page = staff.get(run_page)
        if "Download workbook" in page.text:
            break
        time.sleep(0.05)
    assert "Download workbook" in page.text and "succeeded" in page.text
    assert 'http-equiv="refresh"' not in page.text
    _is_xlsx(staff.get(re.search(r'href="([^"]+/runs/\d+/file)"', page.text).group(1)))
