"""Invoice pages without JavaScript: the seller makes an invoice from its confirmed statement page,
sees it with its match before submitting (nothing saved), submits it; the buyer's queue shows the
exceptions; approving one with exceptions needs the tick and a note (the page again, nothing
changed); rejecting needs a note. English and Chinese. Then in Chromium on a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.test_invoices import PERIOD, confirm_s1, created, invoice, line, po
from tests.conftest import World
from tests.ui.conftest import screenshot, sign_in

JSON = {"Accept": "application/json"}


@pytest.fixture
def inv(world: World) -> World:
    world.share_app("orders").share_app("reconciliation")
    return world


def page(w: World, suffix: str = "") -> str:
    return f"/chains/{w.chain_id}{suffix}"


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, element_id
    return re.sub(r"\s+", " ", found.group(1)).strip()


def _count(w: World) -> int:
    return w.api.get(w.path("/invoices"), token=w.owner.token).json()["total"]


def _form(number: str = "INV-1") -> dict[str, Any]:
    return {
        "period": PERIOD,
        "number": number,
        "kind": "vat_special",
        "issue_date": "2026-12-01",
        "tax_rate": "",
    }


def test_seller_previews_then_submits_from_its_statement(inv: World, web):
    w = inv
    po(w, "PO-1", [(10, "12.50")], receive=[8])
    s1 = web()
    s1.login(w.parties["S1"].email)
    before = s1.get(page(w, f"/statements/{PERIOD}"))
    assert 'id="invoice-form"' not in before.text  # not confirmed yet
    confirm_s1(w)
    shown = s1.get(page(w, f"/statements/{PERIOD}"))
    assert 'id="invoice-form"' in shown.text
    preview = s1.post(page(w, "/invoices/from-statement"), _form() | {"preview": "1"})
    assert preview.status_code == 200
    assert text_of(preview.text, "invoice-status") == "draft"
    assert text_of(preview.text, "match-status") == "matched"
    assert text_of(preview.text, "gross") == "113.00"  # 8 x 12.50 = 100.00 + 13.00
    assert "Submit invoice" in preview.text and _count(w) == 0
    done = s1.post(page(w, "/invoices/from-statement"), _form() | {"submit": "1"})
    assert done.status_code == 200 and re.search(r"/invoices/\d+$", done.url), done.url
    assert text_of(done.text, "invoice-status") == "submitted" and _count(w) == 1
    # The statement page lists it and shows what is invoiced.
    again = s1.get(page(w, f"/statements/{PERIOD}"))
    assert "INV-1" in again.text and 'data-label="Invoiced" class="num">8<' in again.text
    # Nothing left: the page says why, nothing saved.
    refused = s1.post(page(w, "/invoices/from-statement"), _form("INV-2") | {"preview": "1"})
    assert refused.status_code == 409 and "Every received line" in refused.text
    bad = s1.post(page(w, "/invoices/from-statement"), _form("") | {"preview": "1"})
    assert bad.status_code == 422 and _count(w) == 1
    s1.post("/language", {"lang": "zh", "next": page(w, f"/statements/{PERIOD}")})
    zh = s1.get(page(w, f"/statements/{PERIOD}"))
    assert "发票" in zh.text and "已开票" in zh.text


def test_buyer_queue_approve_and_reject(inv: World, web):
    w = inv
    order = po(w, "PO-1", [(10, "10"), (10, "10")])
    good = created(invoice(w, "INV-1", [line(order, 1, 10, "10")]))
    held = created(invoice(w, "INV-2", [line(order, 2, 10, "10.50")]))
    owner = web()
    owner.login(w.owner.email)
    queue = owner.get(page(w, "/invoices"))
    assert f'id="invoice-{good["id"]}"' in queue.text and f'id="invoice-{held["id"]}"' in queue.text
    assert "Price outside tolerance" in queue.text and "expected 10.00" in queue.text
    url = page(w, f"/invoices/{held['id']}")
    refused = owner.post(url + "/approve", {"note": "ok"})
    assert refused.status_code == 409 and "accept them with a note" in refused.text
    refused = owner.post(url + "/approve", {"accept_exceptions": "1", "note": ""})
    assert refused.status_code == 422
    assert (
        w.api.get(w.path(f"/invoices/{held['id']}"), token=w.owner.token).json()["status"]
        == "submitted"
    )
    done = owner.post(url + "/approve", {"accept_exceptions": "1", "note": "Agreed by phone"})
    assert text_of(done.text, "invoice-status") == "approved"
    assert text_of(done.text, "decision-note") == "Agreed by phone"
    url = page(w, f"/invoices/{good['id']}")
    assert owner.post(url + "/reject", {"note": ""}).status_code == 422
    done = owner.post(url + "/reject", {"note": "Wrong kind"})
    assert text_of(done.text, "invoice-status") == "rejected"
    assert 'id="decide"' not in done.text
    # The seller sees it but has no decision form; a third org gets 404.
    s1 = web()
    s1.login(w.parties["S1"].email)
    assert 'id="decide"' not in s1.get(url).text
    d1b = web()
    d1b.login(w.parties["D1b"].email)
    assert d1b.get(url).status_code == 404
    # The owner's statements board: the supplier's invoices of the period by status.
    board = owner.get(page(w, f"/reconciliation/statements?period={PERIOD}&tier=U1"))
    row = board.text.split(f'id="org-{w.parties["S1"].org_id}"', 1)[1].split("</tr>", 1)[0]
    assert "approved 1" in row and "rejected 1" in row, row
    owner.post("/language", {"lang": "zh", "next": page(w, "/invoices")})
    zh = owner.get(page(w, "/invoices?box=incoming&status="))
    assert "收到的发票" in zh.text and "已拒绝" in zh.text


@pytest.mark.committed
def test_on_a_phone(inv: World, browse):
    w = inv
    order = po(w, "PO-1", [(10, "10")])
    held = created(invoice(w, "INV-9", [line(order, 1, 10, "10.50")]))
    phone = browse(viewport={"width": 390, "height": 844})
    sign_in(phone, w.owner.email)
    phone.goto(page(w, "/invoices"))
    phone.click(f"#invoice-{held['id']} a")
    assert phone.inner_text("#match-status") == "exceptions"
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    phone.check("input[name=accept_exceptions]")
    phone.fill("#approve-form textarea[name=note]", "Price rise agreed")
    phone.click("#approve-form button[type=submit]")
    assert phone.inner_text("#invoice-status") == "approved"
    screenshot(phone, "phone-invoice-approved")


def test_the_owner_invoices_a_dealer_from_its_statement_page(inv: World, web):
    from tests.api.test_invoices import _sale

    w = inv
    d1a = w.parties["D1a"]
    _sale(w, d1a, "SO-A")
    view = w.api.get(
        w.path(f"/reconciliation/statements/{PERIOD}"), token=d1a.token, headers=JSON
    ).json()
    w.api.post(
        w.path(f"/reconciliation/statements/{PERIOD}/confirm"),
        {"version": view["version"]},
        token=d1a.token,
    )
    owner = web()
    owner.login(w.owner.email)
    shown = owner.get(page(w, f"/statements/{PERIOD}?org_id={d1a.org_id}"))
    assert 'id="invoice-form"' in shown.text
    assert f'name="buyer_id" value="{d1a.org_id}"' in shown.text
    form = _form() | {"buyer_id": d1a.org_id, "statement_org": d1a.org_id}
    preview = owner.post(page(w, "/invoices/from-statement"), form | {"preview": "1"})
    assert text_of(preview.text, "gross") == "4700.80" and _count(w) == 0
    done = owner.post(page(w, "/invoices/from-statement"), form | {"submit": "1"})
    assert text_of(done.text, "invoice-status") == "submitted" and _count(w) == 1
    # The dealer, the buyer, finds it in its queue; the dealer's own statement page offers no
    # invoice form (it bought, it does not sell).
    dealer = web()
    dealer.login(d1a.email)
    assert "INV-1" in dealer.get(page(w, "/invoices")).text
    assert 'id="invoice-form"' not in dealer.get(page(w, f"/statements/{PERIOD}")).text
