"""The statement page says what the statement covers (EN and ZH): a D2 org trading with D1 and
D3 sees its D1 orders only; the owner looking at the core's or an unlinked org's statement is
told why it has no lines."""

from __future__ import annotations

from tests.api.test_statement_scope import PO_DOWN, PO_UP, _new_partner, trading_chain
from tests.ui.test_statement_pages import PERIOD, page, statement_page, text_of


def test_the_page_shows_the_statement_scope_in_english_and_chinese(world, web):
    w = trading_chain(world)
    d2 = w.parties["D2"]
    dealer = web()
    dealer.login(d2.email)
    shown = dealer.get(statement_page(w))
    assert shown.status_code == 200
    assert f'id="line-{PO_UP}-1"' in shown.text and f'id="line-{PO_UP}-2"' in shown.text
    assert PO_DOWN not in shown.text  # its sale to D3: D3's statement
    scope = text_of(shown.text, "statement-scope")
    assert "counterparties in tier D1, one tier nearer the core" in scope
    dealer.post("/language", {"lang": "zh", "next": statement_page(w)})
    zh = dealer.get(statement_page(w))
    assert "与 D1 层级（离核心企业近一级）交易对方之间的订单" in text_of(zh.text, "statement-scope")

    loose = _new_partner(w, "Loose Ends Trading", "DLR-900", "loose@le.example")
    owner = web()
    owner.login(w.owner.email)
    alone = owner.get(page(w, f"/statements/{PERIOD}?org_id={loose.org_id}"))
    assert alone.status_code == 200
    assert "no counterparty nearer the core" in text_of(alone.text, "statement-scope")
    assert "No orders in this period." in alone.text
    owner.post("/language", {"lang": "zh", "next": statement_page(w)})
    zh = owner.get(page(w, f"/statements/{PERIOD}?org_id={loose.org_id}"))
    assert "没有离核心企业更近的交易对方" in text_of(zh.text, "statement-scope")
