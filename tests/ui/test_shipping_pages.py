"""Ship notice pages without JavaScript: the seller picks lines of several orders of one buyer
into a notice with packages and prints its documents; the buyer's dock receives by scanning,
one scan after another into one input, and sees what each scan received (EN and ZH); one
Chromium run on a phone-sized screen types scans the way a keyboard-wedge scanner does."""

from __future__ import annotations

import re

from tests.api.test_ship_documents import read_pdf
from tests.api.test_ship_notices import gs1_check
from tests.ui.conftest import Scene, sign_in

PREFIX = "6901234"


def _accept(w, order_id):
    r = w.api.post(
        w.path(f"/orders/{order_id}/ack"), {"version": 1, "decision": "accept"},
        token=w.parties["D1a"].token,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def _second_order(w):
    body = {
        "counterparty_id": w.parties["D1a"].org_id,
        "issuer_role": "seller",
        "lines": [{"line_no": 1, "sku": "OIL-9", "qty": "40", "unit_price": "3.00"}],
    }
    r = w.api.post(w.path("/orders"), body, token=w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()


def _issue_through_the_page(scene: Scene, web):
    """The owner (seller) makes a notice of lines of two orders to D1a in two cartons."""
    w = scene.world
    assert w.api.patch("/me/org", {"gs1_company_prefix": PREFIX}, token=w.owner.token).ok
    first = _accept(w, scene.order_id)
    second = _accept(w, _second_order(w)["id"])
    seller = web()
    seller.login(w.owner.email)
    to_ship = seller.get(scene.page("/orders?waiting=to_ship"))
    assert "/ship-notices/new" in to_ship.text
    listing = seller.get(scene.page("/ship-notices"))
    assert listing.status_code == 200
    buyer = w.parties["D1a"].org_id
    assert f"buyer={buyer}" in listing.text
    form = seller.get(scene.page(f"/ship-notices/new?buyer={buyer}"))
    assert first["number"] in form.text and second["number"] in form.text
    rows = re.findall(
        r'name="lines-(\d+)-order_id" value="(\d+)".*?name="lines-\1-line_no" value="(\d+)"',
        form.text,
        re.S,
    )
    assert len(rows) == 3
    data = {"buyer": buyer, "packages": "2", "package_kind": "carton", "carrier": "顺丰速运"}
    for index, order_id, line_no in rows:
        data |= {f"lines-{index}-order_id": order_id, f"lines-{index}-line_no": line_no}
    # Over-shipping is refused on the page, naming the line; nothing is saved.
    too_much = data | {"lines-0-qty": "11", "lines-0-package": "1"}
    refused = seller.post(scene.page("/ship-notices/new"), too_much)
    assert refused.status_code == 409 and "Over-shipping" in refused.text, refused.text[-3000:]
    assert w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["total"] == 0
    data |= {"lines-0-qty": "10", "lines-0-package": "1", "lines-2-qty": "25"}
    data |= {"lines-2-package": "2"}
    page = seller.post(scene.page("/ship-notices/new"), data)
    assert page.status_code == 200 and "/ship-notices/" in page.url, page.text[:500]
    notices = w.api.get(w.path("/ship-notices"), token=w.owner.token).json()["items"]
    assert len(notices) == 1
    notice = w.api.get(w.path(f"/ship-notices/{notices[0]['id']}"), token=w.owner.token).json()
    assert [(x["order_number"], x["qty"], x["package"]) for x in notice["lines"]] == [
        (first["number"], "10", "1"),
        (second["number"], "25", "2"),
    ]
    for package in notice["packages"]:
        assert package["sscc"] in page.text
    return seller, notice


def test_seller_makes_a_notice_and_prints_its_documents(scene: Scene, web):
    seller, notice = _issue_through_the_page(scene, web)
    labels = seller.get(scene.page(f"/ship-notices/{notice['id']}/labels.pdf"))
    assert labels.headers["Content-Type"] == "application/pdf"
    pages = read_pdf(labels.content)
    assert len(pages) == 2
    sscc = notice["packages"][1]["sscc"]
    assert int(sscc[17]) == gs1_check(sscc[:17])
    assert ("Code128", "]C1", f"(00){sscc}") in pages[1]["codes"]
    note = seller.get(
        scene.page(f"/ship-notices/{notice['id']}/delivery-note.pdf"),
        headers={"Accept-Language": "zh-CN"},
    )
    [page] = read_pdf(note.content)
    assert "送货单" in page["text"] and ("QRCode", notice["number"]) in {
        (c[0], c[2]) for c in page["codes"]
    }


def test_dock_receives_scan_after_scan(scene: Scene, web):
    w = scene.world
    _, notice = _issue_through_the_page(scene, web)
    dock = web()
    dock.login(w.parties["D1a"].email)
    first, second = (p["sscc"] for p in notice["packages"])
    receive = scene.page("/receive")
    assert 'name="code"' in dock.get(receive).text
    after = dock.post(receive, {"code": "]C100" + first})
    assert after.status_code == 200 and after.url.endswith("/receive")
    assert "Received" in after.text and notice["lines"][0]["order_number"] in after.text
    bad = first[:17] + str((int(first[17]) + 1) % 10)
    after = dock.post(receive, {"code": bad})
    assert "Not received" in after.text and "Bad check digit" in after.text
    after = dock.post(receive, {"code": first})
    assert "received already" in after.text
    after = dock.post(receive, {"code": second}, headers={"Accept-Language": "zh-CN"})
    assert "扫码收货" in after.text and "已收货" in after.text
    got = w.api.get(w.path(f"/ship-notices/{notice['id']}"), token=w.owner.token).json()
    assert got["status"] == "received"
    assert [x["received_qty"] for x in got["lines"]] == ["10", "25"]
    # The seller's receiving page finds none of its own packages.
    seller = web()
    seller.login(w.owner.email)
    assert "Not received" in seller.post(receive, {"code": first}).text


def test_receiving_on_a_phone_like_a_wedge_scanner(scene: Scene, browse):
    w = scene.world
    assert w.api.patch("/me/org", {"gs1_company_prefix": PREFIX}, token=w.owner.token).ok
    order = _accept(w, scene.order_id)
    body = {
        "buyer_id": w.parties["D1a"].org_id,
        "packages": [{"ref": "A"}, {"ref": "B"}],
        "lines": [
            {"order_id": order["id"], "line_no": 1, "qty": "10", "package": "A"},
            {"order_id": order["id"], "line_no": 2, "qty": "10", "package": "B"},
        ],
    }
    notice = w.api.post(w.path("/ship-notices"), body, token=w.owner.token).json()
    page = browse(viewport={"width": 390, "height": 844}, locale="zh-CN")
    sign_in(page, w.parties["D1a"].email)
    page.goto(scene.page("/receive"))
    for package in notice["packages"]:
        # A wedge scanner types the digits into the focused input and presses Enter: the page
        # focuses its input itself (autofocus), which a loaded browser may do a moment late.
        page.wait_for_function("document.activeElement && document.activeElement.name === 'code'")
        page.keyboard.type("00" + package["sscc"])
        with page.expect_navigation():
            page.keyboard.press("Enter")
        first = page.locator("ol.scans > li").first
        assert first.locator(".badge.ok").count() == 1, first.inner_text()
    assert page.locator("ol.scans > li").count() == 2
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    got = w.api.get(w.path(f"/ship-notices/{notice['id']}"), token=w.owner.token).json()
    assert got["status"] == "received"


def _stored(app, notice_id, **values):
    """Change a stored notice as one saved before the API refused such values."""
    from sqlalchemy import update

    from supplychain.extensions import db
    from supplychain.models.shipping import ShipNotice

    with app.app_context():
        db.session.execute(
            update(ShipNotice).where(ShipNotice.id == int(notice_id)).values(**values)
        )
        db.session.commit()


def test_a_stored_time_past_year_9999_in_the_chain_timezone_shows(scene: Scene, web, app):
    from datetime import UTC, datetime

    seller, notice = _issue_through_the_page(scene, web)
    far = datetime(9999, 12, 31, 23, tzinfo=UTC)
    _stored(app, notice["id"], shipped_at=far, expected_at=far)
    for suffix in ("", "/labels.pdf", "/delivery-note.pdf"):
        r = seller.get(scene.page(f"/ship-notices/{notice['id']}{suffix}"))
        assert r.status_code == 200, (suffix, r.text[:300])
    listing = seller.get(scene.page("/ship-notices"))
    assert listing.status_code == 200 and notice["number"] in listing.text
    note = seller.get(scene.page(f"/ship-notices/{notice['id']}/delivery-note.pdf"))
    assert "9999-12-31 23:00 UTC" in read_pdf(note.content)[0]["text"]


def test_pdf_names_survive_a_number_with_chinese_and_quotes(scene: Scene, web, app):
    from email.message import Message

    seller, notice = _issue_through_the_page(scene, web)
    number = '送货单-7"; x=1'
    _stored(app, notice["id"], number=number)
    for kind in ("labels", "delivery-note"):
        r = seller.get(scene.page(f"/ship-notices/{notice['id']}/{kind}.pdf"))
        assert r.status_code == 200 and r.content.startswith(b"%PDF-")
        header = r.headers["Content-Disposition"]
        header.encode("latin-1")  # a WSGI server can send it
        assert header.isascii() and "\r" not in header and "\n" not in header
        # The user's number escapes no parameter: three parts, the ASCII one from the id ...
        parts = [part.strip() for part in header.split(";")]
        assert parts[:2] == ["inline", f'filename="{kind}-{notice["id"]}.pdf"'], header
        assert len(parts) == 3 and parts[2].startswith("filename*=UTF-8''"), header
        # ... and RFC 6266's filename* (RFC 5987: a token of percent-encoded UTF-8) the number's,
        # read back by the standard library's RFC 2231 decoding.
        encoded = parts[2].removeprefix("filename*=UTF-8''")
        assert re.fullmatch(r"[A-Za-z0-9%._~!#$&+^`|-]+", encoded), header
        parsed = Message()
        parsed["Content-Disposition"] = f"inline; {parts[2]}"
        assert parsed.get_filename() == f"{kind}-{number}.pdf", header
    # The number is not ASCII, so no Code 128 of it: the delivery note's QR code carries it.
    [page] = read_pdf(r.content)
    assert ("QRCode", number) in {(c[0], c[2]) for c in page["codes"]}


def test_a_dock_reprints_one_label_from_the_notice_page(scene: Scene, web):
    seller, notice = _issue_through_the_page(scene, web)
    page = seller.get(scene.page(f"/ship-notices/{notice['id']}"))
    link = re.search(r'href="([^"]*labels\.pdf\?from=2&amp;to=2)"', page.text)
    assert link, page.text
    labels = seller.get(link.group(1).replace("&amp;", "&"))
    assert labels.status_code == 200 and labels.headers["Content-Type"] == "application/pdf"
    [label] = read_pdf(labels.content)
    sscc = notice["packages"][1]["sscc"]
    assert ("Code128", "]C1", f"(00){sscc}") in label["codes"]
    assert "2 / 2" in label["text"]
    for query in ("?from=3", "?from=x", "?from=2&to=1", "?to=0"):
        r = seller.get(scene.page(f"/ship-notices/{notice['id']}/labels.pdf{query}"))
        assert r.status_code == 422, (query, r.text[:300])
        assert "`from`" in r.text or "`to`" in r.text, r.text


def test_a_big_notice_offers_its_labels_in_parts():
    from supplychain.ui.views.shipping import LABELS_PER_PART, label_parts

    assert LABELS_PER_PART == 500
    assert label_parts(3) == [(1, 3)]
    assert label_parts(500) == [(1, 500)]
    assert label_parts(2000) == [(1, 500), (501, 1000), (1001, 1500), (1501, 2000)]
    assert label_parts(1201)[-1] == (1001, 1201)


def test_the_notice_page_links_each_part_of_its_labels(scene: Scene, web, monkeypatch):
    from supplychain.ui.views import shipping as views

    monkeypatch.setattr(views, "LABELS_PER_PART", 1)  # two packages: two parts
    seller, notice = _issue_through_the_page(scene, web)
    page = seller.get(scene.page(f"/ship-notices/{notice['id']}"))
    assert "Many labels: print them in parts." in page.text or "分批打印" in page.text
    for n in (1, 2):
        assert re.search(rf'labels\.pdf\?from={n}&amp;to={n}">{n}–{n}</a>', page.text), page.text
