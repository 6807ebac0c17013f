"""Labels of a big shipment: laid out a chunk at a time into one PDF, and reprinted by package
numbers (`?from=N&to=M`). Every page read back as a dock would (pypdfium2, zxing-cpp)."""

from __future__ import annotations

import pytest

from supplychain.documents import pdf
from tests.api.test_ship_documents import _pdf, read_pdf
from tests.api.test_ship_notices import (
    DEALER_ZH,
    OWNER_ZH,
    _notice,
    _order,
    _prefix,
    chain,  # noqa: F401 - the fixture
)


def _packed(w, count, prefix=True):
    """A notice of `count` packages P1..Pn (SSCC when the seller has a GS1 prefix)."""
    if prefix:
        _prefix(w)
    a = _order(w, n=count)
    r = _notice(
        w,
        carrier={"name": "顺丰速运", "code": "SF"},
        packages=[{"ref": f"P{n}"} for n in range(1, count + 1)],
        lines=[
            {"order_id": a["id"], "line_no": n, "qty": "1", "package": f"P{n}"}
            for n in range(1, count + 1)
        ],
    )
    assert r.status_code == 201, r.text
    return r.json()


def _scanned(page, package):
    if package["sscc"]:
        return [c for c in page["codes"] if c[1] == "]C1"] == [
            ("Code128", "]C1", f"(00){package['sscc']}")
        ]
    return page["codes"] == [("Code128", "]C0", f"PKG-{package['id']}")]


def test_labels_in_chunks_are_every_label_in_order(chain, monkeypatch):  # noqa: F811
    w = chain
    monkeypatch.setattr(pdf, "LABELS_PER_CHUNK", 2)  # 5 labels: chunks of 2, 2 and 1
    notice = _packed(w, 5)
    pages = _pdf(w, f"/ship-notices/{notice['id']}/labels.pdf")
    assert len(pages) == 5
    for n, (page, package) in enumerate(zip(pages, notice["packages"], strict=True), start=1):
        assert page["mm"] == (100, 150)
        assert _scanned(page, package), page["codes"]
        assert f"{n} / 5" in page["text"] and f"P{n}" in page["text"]
        assert OWNER_ZH in page["text"] and DEALER_ZH in page["text"]


def test_labels_in_chunks_match_one_document(chain, app):  # noqa: F811
    """Chunked or not, the same PDF."""
    from supplychain.extensions import db
    from supplychain.services import shipping

    w = chain
    notice = _packed(w, 3, prefix=False)
    with app.app_context():
        view = shipping.notice_view(
            db.session, db.session.get(shipping.ShipNotice, int(notice["id"]))
        )
        whole, chunked = pdf.labels_pdf(view, chunk=3), pdf.labels_pdf(view, chunk=1)
    assert chunked == whole  # byte for byte: fonts embedded once, same subsets, same pages
    one = read_pdf(whole)
    assert [p["codes"] for p in one] == [
        [("Code128", "]C0", f"PKG-{package['id']}")] for package in notice["packages"]
    ]


@pytest.mark.parametrize(
    ("query", "numbers"),
    [("?from=3&to=3", [3]), ("?from=2&to=4", [2, 3, 4]), ("?from=4", [4, 5]), ("?to=1", [1])],
)
def test_a_dock_reprints_labels_by_number(chain, query, numbers):  # noqa: F811
    w = chain
    notice = _packed(w, 5)
    for token in (w.owner.token, w.parties["D1a"].token):  # seller and buyer alike
        pages = _pdf(w, f"/ship-notices/{notice['id']}/labels.pdf{query}", token=token)
        assert len(pages) == len(numbers)
        for page, n in zip(pages, numbers, strict=True):
            package = notice["packages"][n - 1]
            assert _scanned(page, package), page["codes"]
            assert f"{n} / 5" in page["text"] and f"P{n}" in page["text"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=0", "from"),
        ("?to=-1", "to"),
        ("?from=x", "from"),
        ("?to=1.5", "to"),
        ("?from=99999999999999999999", "from"),
        ("?from=4", "from"),  # past N = 3
        ("?from=1&to=4", "to"),
        ("?from=3&to=2", "from"),
    ],
)
def test_a_bad_package_number_is_refused_naming_it(chain, query, field):  # noqa: F811
    w = chain
    notice = _packed(w, 3, prefix=False)
    r = w.api.get(w.path(f"/ship-notices/{notice['id']}/labels.pdf{query}"), token=w.owner.token)
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"]["query"], r.json()


def test_reprint_is_for_the_two_parties_only(chain):  # noqa: F811
    w = chain
    notice = _packed(w, 2, prefix=False)
    path = w.path(f"/ship-notices/{notice['id']}/labels.pdf?from=1&to=1")
    assert w.api.get(path, token=w.parties["D1b"].token).status_code == 404
    missing = w.path("/ship-notices/999999/labels.pdf?from=1&to=1")
    assert w.api.get(missing, token=w.owner.token).status_code == 404
    assert w.api.get(path, token=w.parties["D1a"].token).status_code == 200
