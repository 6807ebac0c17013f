"""Printable documents: Jinja templates rendered to PDF by WeasyPrint, barcodes drawn as SVG by
python-barcode (GS1-128, Code 128) and segno (QR). Chinese text needs a CJK font from the
system (`fonts-noto-cjk`); `fonts.cjk_font_status` says whether one is there."""
