"""Labels (100 × 150 mm, one per package) and the A4 delivery note (送货单) of a ship notice."""

from __future__ import annotations

import gc
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from supplychain.collector import collector_paused
from supplychain.decimals import format_decimal
from supplychain.documents import barcodes
from supplychain.documents.fonts import CJK_FAMILIES
from supplychain.services.shipping import NoticeView
from supplychain.services.shipping_codes import package_code

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)
FONTS = ", ".join(f'"{family}"' for family in CJK_FAMILIES) + ", sans-serif"

# The delivery note's words, in its two languages.
WORDS: dict[str, dict[str, str]] = {
    "title": {"zh": "送货单", "en": "Delivery note"},
    "number": {"zh": "送货单号", "en": "Notice number"},
    "seller": {"zh": "供货方（发货）", "en": "Seller (ship from)"},
    "buyer": {"zh": "收货方", "en": "Buyer (ship to)"},
    "shipped_at": {"zh": "发货时间", "en": "Shipped"},
    "expected_at": {"zh": "预计到货", "en": "Expected"},
    "carrier": {"zh": "承运商", "en": "Carrier"},
    "tracking": {"zh": "运单号", "en": "Tracking numbers"},
    "orders": {"zh": "订单", "en": "Orders"},
    "row": {"zh": "序号", "en": "#"},
    "order": {"zh": "订单号", "en": "Order"},
    "line": {"zh": "行号", "en": "Line"},
    "sku": {"zh": "物料编码", "en": "SKU"},
    "description": {"zh": "描述", "en": "Description"},
    "qty": {"zh": "数量", "en": "Qty"},
    "unit": {"zh": "单位", "en": "Unit"},
    "package": {"zh": "包装", "en": "Package"},
    "packages": {"zh": "件数", "en": "Packages"},
    "lines": {"zh": "行数", "en": "Lines"},
    "status": {"zh": "状态", "en": "Status"},
    "received_by": {"zh": "收货人签字", "en": "Received by (signature)"},
    "date": {"zh": "签收日期", "en": "Date received"},
    "remarks": {"zh": "实收情况 / 备注", "en": "Received as shipped? Remarks"},
    "seller_sign": {"zh": "发货人签字", "en": "Shipped by (signature)"},
    "times_in": {"zh": "时区", "en": "Times in"},
    "cancelled": {"zh": "已作废", "en": "CANCELLED"},
    "page": {"zh": "页", "en": "Page"},
}


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except OverflowError:  # past year 9999 in that zone: shown as stored, in UTC
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def _render(template: str, context: dict[str, Any]) -> bytes:
    html = ENV.get_template(template).render(fonts=FONTS, **context)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def label_context(
    view: NoticeView, timezone: str, packages: list[Any] | None = None
) -> dict[str, Any]:
    """What the labels show: one entry per package (those of `packages` only when given, each
    still numbered n of all the notice's packages), barcodes drawn."""
    orders_of: dict[int, list[str]] = defaultdict(list)
    for line in view.lines:
        if (
            line.line.package_id is not None
            and line.order_number not in orders_of[line.line.package_id]
        ):
            orders_of[line.line.package_id].append(line.order_number)
    total = len(view.packages)
    labels = []
    for package in view.packages if packages is None else packages:
        if package.sscc:
            symbol = barcodes.gs1_128("00" + package.sscc)
            human = barcodes.sscc_human(package.sscc)
        else:
            code = package_code(package.id)
            symbol = barcodes.code_128(code, module_mm=0.45, height_mm=24)
            human = code
        labels.append(
            {
                "package": package,
                "symbol": symbol,
                "human": human,
                "has_sscc": bool(package.sscc),
                "orders": orders_of.get(package.id) or view.order_numbers,
                "n": package.seq,
                "total": total,
                "weight": format_decimal(package.weight_kg) if package.weight_kg else None,
            }
        )
    return {
        "view": view,
        "notice": view.notice,
        "labels": labels,
        "shipped_at": _local(view.notice.shipped_at, ZoneInfo(timezone)),
    }


# Labels are laid out LABELS_PER_CHUNK at a time, each chunk as its own small WeasyPrint
# document, and painted into one PDF as they come: only one chunk's layout (boxes, pango
# layouts) is alive at a time, so memory stays that of 50 labels whatever the count (2 000
# labels in one document kept every page's boxes until the PDF was written: 1 to 1.7 GB).
# All chunks share one FontConfiguration: each font is embedded once, subset to every glyph
# any label used.
LABELS_PER_CHUNK = 50


class _Chunks:
    """The labels' HTML cut into chunks, laid out one chunk at a time on demand."""

    def __init__(self, context: dict[str, Any], size: int) -> None:
        self.context = context
        self.size = size
        self.labels = context["labels"]
        self.fonts = FontConfiguration()
        self.number = -1
        self.pages: list[Any] = []

    def render(self, number: int) -> Any:
        labels = self.labels[number * self.size : (number + 1) * self.size]
        html = ENV.get_template("labels.html").render(
            fonts=FONTS, **{**self.context, "labels": labels}
        )
        document = HTML(string=html, base_url=str(TEMPLATES)).render(font_config=self.fonts)
        if len(document.pages) != len(labels):  # a label is one page by its CSS: never split
            raise RuntimeError(f"{len(labels)} labels laid out on {len(document.pages)} pages")
        self.number, self.pages = number, document.pages
        return document

    def page(self, index: int) -> Any:
        number = index // self.size
        if number != self.number:
            self.pages = []  # the previous chunk's boxes go before the next is laid out
            gc.collect()  # ...with their reference cycles
            gc.freeze()  # what is left lives on (the PDF so far): no collection scans it again
            self.render(number)
        return self.pages[index % self.size]


class _LabelPage:
    """One label's page as WeasyPrint's PDF writer reads it (size, no links, anchors,
    bookmarks or form fields: the labels have none), laid out when it is painted."""

    def __init__(self, chunks: _Chunks, index: int, like: Any) -> None:
        self.chunks = chunks
        self.index = index
        self.width, self.height, self.bleed = like.width, like.height, like.bleed
        self.links: list[Any] = []
        self.anchors: dict[str, Any] = {}
        self.bookmarks: list[Any] = []
        self.forms: dict[Any, list[Any]] = {None: []}

    def paint(self, stream: Any, scale: float = 1) -> None:
        page = self.chunks.page(self.index)
        if (page.width, page.height) != (self.width, self.height) or page.links or page.forms[None]:
            raise RuntimeError("a label's page differs from the first label's")
        page.paint(stream, scale)


def labels_pdf(
    view: NoticeView,
    timezone: str = "Asia/Shanghai",
    packages: list[Any] | None = None,
    chunk: int | None = None,
) -> bytes:
    """One 100 × 150 mm page per package, or per package of `packages` (a reprint: each still
    says n of N); an empty notice's single page says there are none."""
    context = label_context(view, timezone, packages)
    if not context["labels"]:
        return _render("labels.html", context)
    chunks = _Chunks(context, chunk or LABELS_PER_CHUNK)
    first = chunks.render(0)
    pages = [_LabelPage(chunks, i, first.pages[0]) for i in range(len(context["labels"]))]
    document = first.copy(pages)  # the first chunk's metadata and font configuration
    del first  # its pages live on in `chunks` only until the next chunk replaces them
    # The garbage collector runs per chunk only: left on, its full collections scanned the
    # growing PDF again and again (2 000 labels: 13 s of 60).
    with collector_paused():
        try:
            return document.write_pdf()
        finally:
            gc.unfreeze()


# The delivery note's Code 128 is drawn CODE128_MM wide beside the QR code while its bars stay
# at least READABLE_MM wide; a longer number (up to 64 characters) gets a row of its own, as
# wide as its bars at READABLE_MM need, within the page (a 64-letter number: 0.245 mm bars).
# Squeezed into the 70 mm, such a number had bars 0.09 mm wide, and its text pushed both codes
# off the page.
CODE128_MM = 70.0
READABLE_MM = 0.25
PAGE_MM = 186.0  # A4 between the margins


def code_128_width(number: str) -> float:
    """The width (mm) the notice number's Code 128 is drawn at: CODE128_MM when it fits."""
    if not number.isascii():
        return CODE128_MM
    needed = barcodes.code_128_modules(number) * READABLE_MM
    return CODE128_MM if needed <= CODE128_MM else min(round(needed, 1), PAGE_MM)


def delivery_note_context(view: NoticeView, lang: str, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    words = {key: texts[lang] for key, texts in WORDS.items()}
    rows = [
        {
            "seq": line.line.seq,
            "order": line.order_number,
            "line_no": line.line.line_no,
            "sku": line.sku,
            "description": line.description or "",
            "qty": format_decimal(line.line.qty),
            "unit": line.unit or "",
            "package": line.package_ref or "",
        }
        for line in view.lines
    ]
    return {
        "lang": lang,
        "w": words,
        "view": view,
        "notice": view.notice,
        "rows": rows,
        # Code 128 carries ASCII only: a number in Chinese is in the QR code (UTF-8) alone.
        "number_code128": (
            barcodes.code_128(view.notice.number) if view.notice.number.isascii() else None
        ),
        "code128_mm": code_128_width(view.notice.number),
        "number_qr": barcodes.qr(view.notice.number),
        "shipped_at": _local(view.notice.shipped_at, zone),
        "expected_at": _local(view.notice.expected_at, zone),
        "timezone": timezone,
    }


def delivery_note_pdf(view: NoticeView, lang: str = "zh", timezone: str = "Asia/Shanghai") -> bytes:
    """The A4 送货单 in Chinese (`zh`) or English (`en`)."""
    return _render("delivery_note.html", delivery_note_context(view, lang, timezone))


def inline_response(data: bytes, kind: str, notice: Any) -> Response:
    """A rendered PDF as an HTTP answer the browser shows inline, named from the notice's id in
    ASCII and, for browsers that read RFC 6266's `filename*`, from its number percent-encoded
    (a number is user text: Chinese, quotes)."""
    named = quote(f"{kind}-{notice.number}.pdf", safe="")
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": (
                f"inline; filename=\"{kind}-{notice.id}.pdf\"; filename*=UTF-8''{named}"
            )
        },
    )
