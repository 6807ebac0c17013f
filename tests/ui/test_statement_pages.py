"""Statement pages (对账确认) without JavaScript: a partner confirms the version it was shown (a
stale one: 409 with the new figures), sees what changed after confirming, disputes lines; the
owner's board and dispute queue; isolation and bad input (the page again, nothing changed).
Then in Chromium: a dealer confirms and disputes on a phone, procurement resolves it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supplychain.periods import monthly_period
from tests.conftest import World
from tests.ui.conftest import screenshot, sign_in

TZ = ZoneInfo("Asia/Shanghai")  # a new chain's timezone
PERIOD = monthly_period(datetime.now(TZ).date()).label
LAST_MONTH = monthly_period(datetime.now(TZ).date().replace(day=1) - timedelta(days=1)).label
JSON = {"Accept": "application/json"}


def _ok(response: Any, status: int = 201) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _lines(n: int) -> list[dict]:
    return [
        {"line_no": i + 1, "sku": f"SKU-{i + 1}", "qty": "10", "unit_price": "12.50"}
        for i in range(n)
    ]


@pytest.fixture
def stmt(world: World) -> World:
    """D1a bought PO-A-1 (2 lines) from the owner, accepted and shipped in full; D1b bought
    PO-B-1; the reconciliation app is shared with tier D1 (not with D2)."""
    w = world
    for app_key, scope in (
        ("orders", {"type": "all"}),
        ("reconciliation", {"type": "tier", "value": "D1"}),
    ):
        _ok(w.api.post(w.path("/grants"), {"app": app_key, "scope": scope}, token=w.owner.token))
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    order = {"counterparty_id": w.owner.org_id, "issuer_role": "buyer", "number": "PO-A-1"}
    po = _ok(w.api.post(w.path("/orders"), {**order, "lines": _lines(2)}, token=d1a.token))
    ack = {"version": 1, "decision": "accept"}
    _ok(w.api.post(w.path(f"/orders/{po['id']}/ack"), ack, token=w.owner.token), 200)
    ship = {"lines": [{"line_no": 1, "qty": "10"}, {"line_no": 2, "qty": "10"}]}
    _ok(w.api.post(w.path(f"/orders/{po['id']}/shipments"), ship, token=w.owner.token))
    other = {**order, "number": "PO-B-1", "lines": _lines(1)}
    _ok(w.api.post(w.path("/orders"), other, token=d1b.token))
    w.extra = {"po": po}
    return w


def page(w: World, suffix: str = "") -> str:
    return f"/chains/{w.chain_id}{suffix}"


def statement_page(w: World, org_id: str | None = None) -> str:
    return page(w, f"/statements/{PERIOD}" + (f"?org_id={org_id}" if org_id else ""))


def api_view(w: World, party) -> dict:
    url = w.path(f"/reconciliation/statements/{PERIOD}?org_id={party.org_id}")
    return _ok(w.api.get(url, token=w.owner.token, headers=JSON), 200)


def version_on(html: str, form: str) -> str:
    found = re.search(
        rf'<form method="post" action="[^"]+/{form}"[^>]*>.*?name="version" value="([0-9a-f]+)"',
        html,
        re.S,
    )
    assert found, html[:3000]
    return found.group(1)


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return re.sub(r"\s+", " ", found.group(1)).strip()


def dispute_form(version: str, rows: dict[int, dict[str, str]], note: str = "") -> list:
    """The dispute form as the page sends it: every line's hidden fields, the chosen ones ticked."""
    fields: list[tuple[str, str]] = [("version", version), ("note", note)]
    for index, (number, line_no) in enumerate((("PO-A-1", "1"), ("PO-A-1", "2"))):
        prefix = f"lines-{index}-"
        values = {
            "order_number": number,
            "line_no": line_no,
            "field": "qty",
            "expected": "",
            "note": "",
            **rows.get(index, {}),
        }
        fields += [(prefix + name, value) for name, value in values.items()]
    return fields


def _receive(w: World, qty: str) -> None:
    body = {"lines": [{"line_no": 2, "qty": qty}]}
    _ok(
        w.api.post(
            w.path(f"/orders/{w.extra['po']['id']}/receipts"), body, token=w.parties["D1a"].token
        )
    )


# --- the partner --------------------------------------------------------------------------------


def test_a_partner_confirms_the_version_it_saw_and_sees_what_changed_after(stmt: World, web):
    w = stmt
    d1a = w.parties["D1a"]
    dealer = web()
    home = dealer.login(d1a.email)
    # Home's statement tile opens last month's statement page; the list links each month's.
    assert page(w, f"/statements/{LAST_MONTH}") in home.text
    listed = dealer.get(page(w, "/statements"))
    assert f'class="statement-link" href="{page(w, f"/statements/{PERIOD}")}"' in listed.text

    shown = dealer.get(statement_page(w))
    assert shown.status_code == 200
    assert text_of(shown.text, "statement-status") == "open"
    assert text_of(shown.text, "total-ordered") == "250.00"
    assert text_of(shown.text, "total-received") == "0.00"
    assert 'id="line-PO-A-1-1"' in shown.text and 'id="line-PO-A-1-2"' in shown.text
    assert "PO-B-1" not in shown.text  # D1b's order
    assert page(w, f"/statements/download?period={PERIOD}") in shown.text.replace("&amp;", "&")
    seen = version_on(shown.text, "confirm")
    assert seen == api_view(w, d1a)["version"]

    # The figures change before the dealer presses Confirm: 409, the new figures, nothing saved.
    _receive(w, "7")
    stale = dealer.post(page(w, f"/statements/{PERIOD}/confirm"), {"version": seen})
    assert stale.status_code == 409
    assert "The statement changed since you saw it" in stale.text
    assert text_of(stale.text, "total-received") == "87.50"
    fresh = version_on(stale.text, "confirm")
    assert fresh != seen and api_view(w, d1a)["status"] == "open"

    done = dealer.post(page(w, f"/statements/{PERIOD}/confirm"), {"version": fresh})
    assert done.status_code == 200 and done.url.endswith(statement_page(w))
    assert "Statement confirmed." in done.text
    assert text_of(done.text, "statement-status") == "confirmed"
    name = _ok(w.api.get("/me", token=d1a.token), 200)["user"]["name"]
    assert f"Confirmed by {name} on " in text_of(done.text, "status-text")
    assert 'id="confirm"' not in done.text
    assert api_view(w, d1a)["status"] == "confirmed"

    # A later receipt: `changed`, the difference shown, confirm again offered.
    _receive(w, "2")
    changed = dealer.get(statement_page(w))
    assert text_of(changed.text, "statement-status") == "changed"
    table = re.search(r'id="changes".*?</section>', changed.text, re.S).group(0)
    cells = [
        re.sub(r"<[^>]+>|\s+", " ", c).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)
    ]
    assert cells == ["PO-A-1", "2", "Received", "7", "9"]
    assert "(was 87.50)" in changed.text
    assert version_on(changed.text, "confirm") == api_view(w, d1a)["version"]

    # In Chinese too.
    dealer.post("/language", {"lang": "zh", "next": statement_page(w)})
    zh = dealer.get(statement_page(w))
    assert "确认后发生的变化" in zh.text and "确认对账单" in zh.text


def test_a_partner_disputes_lines_and_bad_input_changes_nothing(stmt: World, web):
    w = stmt
    d1a = w.parties["D1a"]
    dealer = web()
    dealer.login(d1a.email)
    shown = dealer.get(statement_page(w))
    version = version_on(shown.text, "disputes")
    disputes = page(w, f"/statements/{PERIOD}/disputes")

    nothing = dealer.post(disputes, dispute_form(version, {}))
    assert nothing.status_code == 422 and "Tick the lines you dispute." in nothing.text
    no_note = dealer.post(
        disputes, dispute_form(version, {1: {"pick": "1", "field": "shipped", "expected": "8"}})
    )
    assert no_note.status_code == 422
    row = re.search(r'<tr id="line-PO-A-1-2".*?</tr>', no_note.text, re.S).group(0)
    assert "Missing data for required field." in row and "<details open>" in row
    assert 'value="8"' in row and '<option value="shipped" selected>' in row
    assert "Missing data" not in re.search(
        r'<tr id="line-PO-A-1-1".*?</tr>', no_note.text, re.S
    ).group(0)
    bad_field = dealer.post(
        disputes, dispute_form(version, {0: {"pick": "1", "field": "colour", "note": "x"}})
    )
    assert bad_field.status_code == 422 and "Must be one of" in bad_field.text
    forged = dispute_form(version, {0: {"pick": "1", "note": "x"}})
    forged = [(k, "99" if k == "lines-0-line_no" else v) for k, v in forged]
    not_there = dealer.post(disputes, forged)
    assert not_there.status_code == 422
    assert "Order PO-A-1 line 99 is not in this statement." in not_there.text
    stale = dealer.post(disputes, dispute_form("0" * 64, {0: {"pick": "1", "note": "x"}}))
    assert stale.status_code == 409 and "The statement changed since you saw it" in stale.text
    # Rows are read wherever they are in the form, and at most what one dispute may hold.
    many = [("version", version)]
    for index in range(5000, 5501):
        many += [(f"lines-{index}-order_number", "PO-A-1"), (f"lines-{index}-line_no", "1")]
        many += [(f"lines-{index}-pick", "1"), (f"lines-{index}-field", "qty")]
        many += [(f"lines-{index}-note", "x")]
    too_many = dealer.post(disputes, many)
    assert too_many.status_code == 422 and "Length must be between 1 and 500." in too_many.text
    view = api_view(w, d1a)
    assert view["disputes"] == [] and view["status"] == "open"

    # A note (or an expected value) typed counts as ticking the line.
    sent = dealer.post(
        disputes,
        dispute_form(
            version,
            {1: {"field": "shipped", "expected": "8", "note": "Only 8 arrived"}},
            note="Please check the delivery note",
        ),
    )
    assert sent.status_code == 200 and "Your dispute was sent" in sent.text
    assert text_of(sent.text, "statement-status") == "disputed"
    (dispute,) = api_view(w, d1a)["disputes"]
    assert dispute["note"] == "Please check the delivery note"
    assert [
        (x["order_number"], x["line_no"], x["field"], x["expected"], x["note"])
        for x in dispute["lines"]
    ] == [("PO-A-1", 2, "shipped", "8", "Only 8 arrived")]
    listed = re.search(rf'id="dispute-{dispute["id"]}".*?</article>', sent.text, re.S).group(0)
    assert "PO-A-1 #2" in listed and "expected 8" in listed and "Only 8 arrived" in listed

    # No confirming while a dispute is open (409, the page again with the reason).
    blocked = dealer.post(page(w, f"/statements/{PERIOD}/confirm"), {"version": view["version"]})
    assert blocked.status_code == 409 and "A dispute on this statement is open" in blocked.text
    assert api_view(w, d1a)["status"] == "disputed"


# --- the owner ----------------------------------------------------------------------------------


def _open_dispute(w: World) -> dict:
    d1a = w.parties["D1a"]
    body = {
        "version": api_view(w, d1a)["version"],
        "lines": [
            {
                "order_number": "PO-A-1",
                "line_no": 1,
                "field": "price",
                "expected": "11.00",
                "note": "Agreed 11.00",
            }
        ],
    }
    return _ok(
        w.api.post(w.path(f"/reconciliation/statements/{PERIOD}/disputes"), body, token=d1a.token)
    )


def test_the_owner_board_counts_filters_and_resolves_from_the_queue(stmt: World, web):
    w = stmt
    d1a, d1b = w.parties["D1a"], w.parties["D1b"]
    dispute = _open_dispute(w)
    staff = web()
    staff.login(w.owner_staff.email)
    assert page(w, "/reconciliation/statements") in staff.get(page(w, "/reconciliation")).text
    board = staff.get(page(w, f"/reconciliation/statements?period={PERIOD}"))
    assert board.status_code == 200
    counts = {
        s: text_of(board.text, f"count-{s}") for s in ("open", "confirmed", "disputed", "changed")
    }
    assert counts == {"open": "3", "confirmed": "0", "disputed": "1", "changed": "0"}
    row = re.search(rf'<tr id="org-{d1a.org_id}">.*?</tr>', board.text, re.S).group(0)
    assert "disputed" in row and f"/statements/{PERIOD}?org_id={d1a.org_id}" in row
    only = staff.get(page(w, f"/reconciliation/statements?period={PERIOD}&status=disputed"))
    assert re.findall(r'<tr id="org-(\d+)">', only.text) == [d1a.org_id]
    tier = staff.get(page(w, f"/reconciliation/statements?period={PERIOD}&tier=D1"))
    assert sorted(re.findall(r'<tr id="org-(\d+)">', tier.text)) == sorted([d1a.org_id, d1b.org_id])
    assert f'id="dispute-{dispute["id"]}"' in tier.text
    empty = staff.get(page(w, f"/reconciliation/statements?period={PERIOD}&tier=U1"))
    assert "No dispute waits for an answer." in empty.text
    bad = staff.get(page(w, "/reconciliation/statements?period=2026-13"))
    assert bad.status_code == 422 and "Use YYYY-MM or YYYY-Www (ISO week)." in bad.text

    # The owner reads D1a's statement page, with no confirm or dispute form for it.
    theirs = staff.get(statement_page(w, d1a.org_id))
    assert theirs.status_code == 200 and "Agreed 11.00" in theirs.text
    assert 'id="confirm"' not in theirs.text and 'id="dispute-form"' not in theirs.text
    assert "/reconciliation/statements?period=" in theirs.text  # back to the board's queue

    resolve = page(w, f"/reconciliation/disputes/{dispute['id']}/resolve")
    no_answer = staff.post(resolve, {"note": "Checked", "tier": "D1"})
    assert no_answer.status_code == 422
    card = re.search(rf'id="dispute-{dispute["id"]}".*?</article>', no_answer.text, re.S).group(0)
    assert "Missing data for required field." in card and ">Checked</textarea>" in card
    assert '<option value="D1" selected>' in no_answer.text  # the board's filter kept
    no_note = staff.post(resolve, {"resolution": "accepted"})
    assert no_note.status_code == 422 and "Missing data for required field." in no_note.text
    assert api_view(w, d1a)["disputes"][0]["status"] == "open"

    done = staff.post(resolve, {"resolution": "accepted", "note": "Price corrected", "tier": "D1"})
    assert done.status_code == 200 and "Dispute accepted." in done.text
    assert f"period={PERIOD}" in done.url and "tier=D1" in done.url
    assert "No dispute waits for an answer." in done.text
    view = api_view(w, d1a)
    assert view["status"] == "open" and view["disputes"][0]["status"] == "accepted"
    again = staff.post(resolve, {"resolution": "rejected", "note": "Twice"})
    assert again.status_code == 409 and "This dispute was accepted already." in again.text

    # The partner sees the answer in the dispute's history.
    dealer = web()
    dealer.login(d1a.email)
    mine = dealer.get(statement_page(w))
    history = re.search(rf'id="dispute-{dispute["id"]}".*?</article>', mine.text, re.S).group(0)
    assert "Accepted by" in history and "Price corrected" in history
    assert text_of(mine.text, "statement-status") == "open"


def test_pages_keep_each_org_to_its_own_statement(stmt: World, web):
    w = stmt
    d1a, d1b, d2 = w.parties["D1a"], w.parties["D1b"], w.parties["D2"]
    dispute = _open_dispute(w)
    other = web()
    other.login(d1b.email)
    assert other.get(statement_page(w, d1a.org_id)).status_code == 403
    # The link in its mails and robot messages names its own org: its own page.
    assert other.get(statement_page(w, d1b.org_id)).status_code == 200
    mine = other.get(statement_page(w))
    assert mine.status_code == 200 and "PO-B-1" in mine.text and "PO-A-1" not in mine.text
    assert other.get(page(w, f"/reconciliation/statements?period={PERIOD}")).status_code == 403
    resolve = page(w, f"/reconciliation/disputes/{dispute['id']}/resolve")
    assert other.post(resolve, {"resolution": "rejected", "note": "x"}).status_code == 403
    # D1b cannot dispute D1a's lines: they are not in its statement.
    version = version_on(mine.text, "disputes")
    taken = other.post(
        page(w, f"/statements/{PERIOD}/disputes"),
        dispute_form(version, {0: {"pick": "1", "note": "x"}}),
    )
    assert taken.status_code == 422 and "is not in this statement" in taken.text
    assert other.get(page(w, f"/statements/{PERIOD}?org_id=abc")).status_code == 404
    assert other.get(page(w, "/statements/2026-13")).status_code == 422

    sub = web()
    sub.login(d2.email)  # tier D2: the app is not shared with it
    assert sub.get(statement_page(w)).status_code == 403
    assert sub.post(page(w, f"/statements/{PERIOD}/confirm"), {"version": "x"}).status_code == 403

    outsider = web()
    outsider.login(w.outsider.email)
    assert outsider.get(statement_page(w)).status_code == 404
    assert outsider.get(page(w, f"/reconciliation/statements?period={PERIOD}")).status_code == 404

    owner = web()
    owner.login(w.owner.email)
    version = api_view(w, d1b)["version"]
    refused = owner.post(page(w, f"/statements/{PERIOD}/confirm"), {"version": version})
    assert refused.status_code == 403
    assert owner.get(statement_page(w, "999999")).status_code == 404
    # The owner's own "statement" is the board of the period.
    board = owner.get(statement_page(w))
    assert board.url.endswith(page(w, f"/reconciliation/statements?period={PERIOD}"))
    assert api_view(w, d1b)["status"] == "open"
    assert api_view(w, d1a)["disputes"][0]["status"] == "open"


# --- in a real browser --------------------------------------------------------------------------


def test_a_dealer_confirms_and_disputes_on_a_phone_and_procurement_resolves(stmt: World, browse):
    w = stmt
    refusals: list[str] = []

    def watch(tab):
        tab.on(
            "console", lambda m: refusals.append(m.text) if "Security Policy" in m.text else None
        )
        return tab

    phone = watch(browse(viewport={"width": 390, "height": 844}))
    sign_in(phone, w.parties["D1a"].email)
    phone.goto(page(w, "/statements"))
    phone.click(f"a.statement-link:has-text('{PERIOD}')")
    phone.wait_for_url(f"**/statements/{PERIOD}")
    screenshot(phone, "phone-statement")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.click("#confirm button[type=submit]")
    phone.locator(".flash.ok", has_text="Statement confirmed.").wait_for()
    assert phone.inner_text("#statement-status") == "confirmed"

    line = phone.locator("#line-PO-A-1-2")
    line.locator("summary").click()
    line.locator("input[type=checkbox]").check()
    line.locator("select").select_option("shipped")
    line.locator("input[name$=expected]").fill("8")
    line.locator("textarea").fill("Only 8 arrived")
    screenshot(phone, "phone-statement-dispute")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.click("#lines button[type=submit]")
    phone.locator(".flash.ok", has_text="Your dispute was sent").wait_for()
    assert phone.inner_text("#statement-status") == "disputed"
    assert "Only 8 arrived" in phone.inner_text("#disputes")

    desk = watch(browse())
    desk.set_viewport_size({"width": 1280, "height": 900})
    sign_in(desk, w.owner_staff.email)
    desk.goto(page(w, "/reconciliation"))
    desk.click("text=Statements board")
    desk.select_option("#board-filters select[name=period]", PERIOD)
    desk.click("#board-filters button[type=submit]")
    assert desk.inner_text("#count-disputed") == "1"
    card = desk.locator("#queue article.dispute").first
    assert "Only 8 arrived" in card.inner_text()
    card.locator("input[value=rejected]").check()
    card.locator("textarea[name=note]").fill("Our delivery note says 10")
    screenshot(desk, "desktop-statement-queue")
    card.locator("button[type=submit]").click()
    desk.locator(".flash.ok", has_text="Dispute rejected.").wait_for()
    assert desk.inner_text("#count-disputed") == "0"

    phone.reload()
    assert phone.inner_text("#statement-status") == "open"
    assert "Our delivery note says 10" in phone.inner_text("#disputes")
    assert phone.locator("#confirm button[type=submit]").count() == 1
    # In Chinese on the phone too; no page broke its Content-Security-Policy.
    phone.click("button[name=lang][value=zh]")
    phone.locator("#confirm button[type=submit]", has_text="确认对账单").wait_for()
    screenshot(phone, "phone-statement-zh")
    assert refusals == []
