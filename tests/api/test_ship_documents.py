"""Labels and delivery notes read back as a dock would: each PDF page rendered at ~300 dpi
(pypdfium2) and its barcodes decoded (zxing-cpp); the page text extracted."""

from __future__ import annotations

import pypdfium2 as pdfium
import zxingcpp

from tests.api.test_ship_notices import (
    DEALER_ZH,
    OWNER_ZH,
    _notice,
    _order,
    _prefix,
    chain,  # noqa: F401 - the fixture
    gs1_check,
)


def read_pdf(data: bytes) -> list[dict]:
    """Per page: its size in mm, its text, and its barcodes as (format, symbology id, text)."""
    assert data.startswith(b"%PDF-")
    pages = []
    document = pdfium.PdfDocument(data)
    try:
        for page in document:
            width, height = page.get_size()
            image = page.render(scale=300 / 72).to_pil()
            found = [
                (r.format.name, r.symbology_identifier, r.text)
                for r in zxingcpp.read_barcodes(image)
            ]
            textpage = page.get_textpage()
            pages.append(
                {
                    "mm": (round(width / 72 * 25.4), round(height / 72 * 25.4)),
                    "text": textpage.get_text_range(),
                    "codes": found,
                }
            )
            textpage.close()
            page.close()
    finally:
        document.close()
    return pages


def _pdf(w, path, token=None):
    r = w.api.get(w.path(path), token=token or w.owner.token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    return read_pdf(r.content)


def test_labels_scan_as_gs1_128_sscc(chain):  # noqa: F811
    w = chain
    _prefix(w)
    a, b = _order(w), _order(w)
    notice = _notice(
        w,
        carrier={"name": "顺丰速运", "code": "SF"},
        packages=[{"ref": "P1"}, {"ref": "P2"}, {"ref": "P3", "kind": "pallet"}],
        lines=[
            {"order_id": a["id"], "line_no": 1, "qty": "4", "package": "P1"},
            {"order_id": b["id"], "line_no": 1, "qty": "4", "package": "P2"},
            {"order_id": a["id"], "line_no": 2, "qty": "4", "package": "P3"},
        ],
    ).json()
    pages = _pdf(w, f"/ship-notices/{notice['id']}/labels.pdf", token=w.parties["D1a"].token)
    assert len(pages) == 3
    for n, (page, package) in enumerate(zip(pages, notice["packages"], strict=True), start=1):
        sscc = package["sscc"]
        assert int(sscc[17]) == gs1_check(sscc[:17])
        assert page["mm"] == (100, 150)
        gs1 = [c for c in page["codes"] if c[1] == "]C1"]
        assert gs1 == [("Code128", "]C1", f"(00){sscc}")], page["codes"]
        text = page["text"]
        assert OWNER_ZH in text and DEALER_ZH in text
        assert "上海市嘉定区" in text and "北京市朝阳区" in text
        assert f"(00) {sscc[0]} {sscc[1:17]} {sscc[17]}" in text
        assert f"{n} / 3" in text and "顺丰速运" in text
    assert a["number"] in pages[0]["text"] and b["number"] in pages[1]["text"]


def test_labels_without_prefix_carry_the_package_id_as_code_128(chain):  # noqa: F811
    w = chain
    a = _order(w)
    notice = _notice(
        w,
        packages=[{"ref": "A"}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "4", "package": "A"}],
    ).json()
    [page] = _pdf(w, f"/ship-notices/{notice['id']}/labels.pdf")
    code = f"PKG-{notice['packages'][0]['id']}"
    assert page["codes"] == [("Code128", "]C0", code)]
    assert "(NO SSCC)" in page["text"] and "(00)" not in page["text"] and code in page["text"]


def test_delivery_note_in_both_languages(chain):  # noqa: F811
    w = chain
    _prefix(w)
    a = _order(w, n=3)
    notice = _notice(
        w,
        packages=[{"ref": "P1"}],
        lines=[
            {"order_id": a["id"], "line_no": 1, "qty": "4", "package": "P1"},
            {"order_id": a["id"], "line_no": 3, "qty": "2.5"},
        ],
    ).json()
    base = f"/ship-notices/{notice['id']}/delivery-note.pdf"
    # The person's language is unset: Chinese.
    zh = _pdf(w, base)
    en = _pdf(w, base + "?lang=en", token=w.parties["D1a"].token)
    for pages in (zh, en):
        assert pages[0]["mm"] == (210, 297)
        codes = {(c[0], c[2]) for c in pages[0]["codes"]}
        assert ("Code128", notice["number"]) in codes and ("QRCode", notice["number"]) in codes
        text = "".join(page["text"] for page in pages)
        assert OWNER_ZH in text and DEALER_ZH in text and a["number"] in text
        assert "刹车片 1" in text and "刹车片 3" in text and "2.5" in text
    assert "送货单" in zh[0]["text"] and "签收" in zh[0]["text"]
    assert "Delivery note" in en[0]["text"] and "Received by" in en[0]["text"]
    bad = w.api.get(w.path(base + "?lang=fr"), token=w.owner.token)
    assert bad.status_code == 422


def test_long_delivery_note_repeats_its_header(chain):  # noqa: F811
    w = chain
    a = _order(w, n=80)
    notice = _notice(
        w, lines=[{"order_id": a["id"], "line_no": i + 1, "qty": "1"} for i in range(80)]
    ).json()
    pages = _pdf(w, f"/ship-notices/{notice['id']}/delivery-note.pdf?lang=en")
    assert len(pages) >= 2
    assert all("SKU" in page["text"] for page in pages)
    text = "".join(page["text"] for page in pages)
    assert "SKU-80" in text and "Packages: 0" in text


def test_local_time_past_year_9999_does_not_crash():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from supplychain.documents.pdf import _local

    far = datetime(9999, 12, 31, 23, tzinfo=UTC)
    assert _local(far, ZoneInfo("Asia/Shanghai")) == "9999-12-31 23:00 UTC"
    assert _local(far, ZoneInfo("America/New_York")) == "9999-12-31 18:00"


def test_a_long_number_keeps_both_codes_readable_on_the_delivery_note(chain):  # noqa: F811
    # A 64-letter number (the most the API takes) was squeezed into a 70 mm Code 128 (bars
    # 0.09 mm wide) and, one word, pushed both codes off the page: nothing scanned.
    w = chain
    a = _order(w)
    for number in ("W" * 64, "DN/2026/" + "0123456789" * 5 + "-X"):
        notice = _notice(
            w,
            number=number,
            lines=[{"order_id": a["id"], "line_no": 1, "qty": "1"}],
        ).json()
        [page] = _pdf(w, f"/ship-notices/{notice['id']}/delivery-note.pdf")
        assert sorted((c[0], c[2]) for c in page["codes"]) == [
            ("Code128", number),
            ("QRCode", number),
        ]


def test_a_label_with_much_text_stays_one_scannable_page(chain):  # noqa: F811
    # Fifty tracking numbers of 100 characters (the most the API takes) ran over the symbol and
    # onto a second page: two labels for one package, the first unscannable.
    w = chain
    _prefix(w)
    a = _order(w)
    notice = _notice(
        w,
        carrier={"name": "顺丰速运" * 50, "code": "SF"},
        tracking_numbers=[f"SF{n:013d}" + "T" * 85 for n in range(50)],
        packages=[{"ref": "P1"}, {"ref": "P2"}],
        lines=[
            {"order_id": a["id"], "line_no": 1, "qty": "1", "package": "P1"},
            {"order_id": a["id"], "line_no": 2, "qty": "1", "package": "P2"},
        ],
    ).json()
    pages = _pdf(w, f"/ship-notices/{notice['id']}/labels.pdf")
    assert len(pages) == 2
    for page, package in zip(pages, notice["packages"], strict=True):
        assert page["mm"] == (100, 150)
        assert page["codes"] == [("Code128", "]C1", f"(00){package['sscc']}")]
        assert DEALER_ZH in page["text"]


def _text_off_the_page(data: bytes) -> list[str]:
    """Characters laid out (partly) beyond a page's right or bottom edge."""
    off = []
    document = pdfium.PdfDocument(data)
    try:
        for page in document:
            width, _height = page.get_size()
            textpage = page.get_textpage()
            for index in range(textpage.count_chars()):
                _left, bottom, right, _top = textpage.get_charbox(index)
                if right > width + 0.5 or bottom < -0.5:
                    off.append(textpage.get_text_range(index, 1))
            textpage.close()
            page.close()
    finally:
        document.close()
    return off


def test_long_words_in_the_lines_stay_on_the_page(chain):  # noqa: F811
    # One long word in a cell (a 64-character order number or SKU, a description without a
    # space) widened the lines table past the page: description, quantity, unit and package
    # were printed off the paper.
    w = chain
    d1a = w.parties["D1a"]
    lines = [
        {"line_no": 1, "sku": "S" * 64, "description": "D" * 500, "qty": "12345678.5",
         "unit": "U" * 20, "unit_price": "1"},
    ]  # fmt: skip
    body = {"counterparty_id": w.owner.org_id, "issuer_role": "buyer", "number": "O" * 64}
    order = w.api.post(w.path("/orders"), {**body, "lines": lines}, token=d1a.token).json()
    r = w.api.post(
        w.path(f"/orders/{order['id']}/ack"), {"version": 1, "decision": "accept"},
        token=w.owner.token,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    notice = _notice(
        w,
        tracking_numbers=["T" * 100] * 3,
        packages=[{"ref": "P" * 50}],
        lines=[{"order_id": order["id"], "line_no": 1, "qty": "12345678.5", "package": "P" * 50}],
    ).json()
    for lang in ("zh", "en"):
        r = w.api.get(
            w.path(f"/ship-notices/{notice['id']}/delivery-note.pdf?lang={lang}"),
            token=w.owner.token,
        )
        assert r.status_code == 200
        assert _text_off_the_page(r.content) == []
        text = "".join(page["text"] for page in read_pdf(r.content)).replace("\r\n", "")
        assert "12,345,678.5" in text or "12345678.5" in text


def test_a_long_number_stays_on_its_labels(chain):  # noqa: F811
    # A 64-letter notice number ran off the 100 mm label (cut at its cell, or past the paper on
    # the page of a notice without packages).
    w = chain
    a = _order(w)
    packed = _notice(
        w,
        number="X" * 64,
        packages=[{"ref": "P1"}],
        lines=[{"order_id": a["id"], "line_no": 1, "qty": "1", "package": "P1"}],
    ).json()
    loose = _notice(w, number="W" * 64, lines=[{"order_id": a["id"], "line_no": 2, "qty": "1"}])
    for notice in (packed, loose.json()):
        r = w.api.get(w.path(f"/ship-notices/{notice['id']}/labels.pdf"), token=w.owner.token)
        assert r.status_code == 200
        assert _text_off_the_page(r.content) == []
        [page] = read_pdf(r.content)
        assert notice["number"] in page["text"].replace("\r\n", "")
