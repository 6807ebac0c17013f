"""Invoice events by mail, against a real SMTP server: the headline names the invoice, the link
opens its page, the match is a fact; in English and Chinese."""

from __future__ import annotations

from supplychain.outbound.mail.sending import send_email_deliveries
from tests.integration.test_email import BASE, claim, set_language, smtp  # noqa: F401

INVOICE = {
    "id": "12",
    "number": "26132000000000100452",
    "status": "submitted",
    "seller_id": "1",
    "buyer_id": "2",
    "currency": "CNY",
    "net": "16068.00",
    "tax": "2088.84",
    "gross": "18156.84",
    "match": "exceptions",
    "period": "2026-11",
}


def test_invoice_mail_in_both_languages(app, world, smtp):  # noqa: F811
    d1a, d1b = world.parties["D1a"], world.parties["D1b"]
    set_language(app, d1a.user_id, "en")
    set_language(app, d1b.user_id, "zh")
    english = claim(app, world, d1a.user_id, "invoice.submitted", INVOICE)
    chinese = claim(app, world, d1b.user_id, "invoice.approved", INVOICE | {"match": "matched"})
    outcomes = send_email_deliveries(app, [english, chinese])
    assert outcomes[english.id].ok and outcomes[chinese.id].ok
    by_subject = {m.message["Subject"]: m for m in smtp.messages}
    [en] = [m for s, m in by_subject.items() if "Invoice 26132000000000100452 submitted" in s]
    link = f"{BASE}/chains/{world.chain_id}/invoices/12"
    assert link in en.part("plain") and f'href="{link}"' in en.part("html")
    assert "exceptions" in en.part("plain")
    [zh] = [m for s, m in by_subject.items() if "发票 26132000000000100452 已审核通过" in s]
    assert link in zh.part("plain") and "已匹配" in zh.part("plain")
