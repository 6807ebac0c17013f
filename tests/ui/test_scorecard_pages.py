"""The scorecard pages: the owner's table sorted by clicking column headings (links, no script),
no data shown as "—" and sorted last, English and Chinese; a partner's own row only."""

from __future__ import annotations

import re

from tests.api.test_scorecards import MONTH, cards  # noqa: F401 - the same chain and figures
from tests.ui.conftest import screenshot, sign_in


def _page(w, query: str = "") -> str:
    return f"/chains/{w.chain_id}/scorecards{query}"


def _rows(html: str) -> list[str]:
    """The organisations of the table's rows, top to bottom."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr>\s*<td data-label="[^"]*">(?:<a [^>]*>)?([^<]+?)\s*<', body)


def _heading_link(html: str, heading: str) -> str:
    found = re.search(r'<a href="([^"]+)" rel="nofollow">' + re.escape(heading), html)
    assert found, heading
    return found.group(1).replace("&amp;", "&")


def test_owner_table_sorted_by_clicking_headings(cards, web):  # noqa: F811
    w = cards
    owner = web()
    owner.login(w.owner.email)
    page = owner.get(_page(w, f"?period={MONTH}"))
    assert page.status_code == 200
    html = page.text
    # By name at first; figures as percentages and hours; no data as a dash, never 0.
    assert _rows(html) == [
        "Beijing Motors Sales", "Shanghai Auto Trade", "Steel Works", "Tianjin Sub-dealer",
    ]  # fmt: skip
    assert 'aria-sort="ascending"' in html
    beijing = html.split("Beijing Motors Sales", 1)[1].split("</tr>", 1)[0]
    for shown in ("75.0%", "4.00", "50.0%", "32.6%", ">6<"):
        assert shown in beijing, shown
    steel = html.split("Steel Works", 1)[1].split("</tr>", 1)[0]
    assert steel.count("—") == 7 and "0.0%" not in steel  # 7: invoices matched too
    # Click "Ack rate": ascending, the orgs without data last; again: descending, still last.
    ascending = owner.get(_heading_link(html, "Ack rate"))
    assert "sort=ack_rate" in ascending.url and f"period={MONTH}" in ascending.url
    assert _rows(ascending.text)[:2] == ["Beijing Motors Sales", "Shanghai Auto Trade"]
    assert set(_rows(ascending.text)[2:]) == {"Steel Works", "Tianjin Sub-dealer"}
    descending = owner.get(_heading_link(ascending.text, "Ack rate"))
    assert "sort=-ack_rate" in descending.url and 'aria-sort="descending"' in descending.text
    assert _rows(descending.text)[:2] == ["Shanghai Auto Trade", "Beijing Motors Sales"]
    assert set(_rows(descending.text)[2:]) == {"Steel Works", "Tianjin Sub-dealer"}
    # A tier filter keeps the sort.
    d1 = owner.get(_page(w, f"?period={MONTH}&tier=D1&sort=-ack_rate"))
    assert _rows(d1.text) == ["Shanghai Auto Trade", "Beijing Motors Sales"]
    # No inline script or style (the CSP forbids them).
    assert "Content-Security-Policy" in page.headers
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html
    # Linked from the owner's reconciliation page.
    assert _page(w) in owner.get(f"/chains/{w.chain_id}/reconciliation").text


def test_chinese_headings_and_bad_period(cards, web):  # noqa: F811
    w = cards
    owner = web()
    owner.login(w.owner.email)
    zh = owner.get(_page(w, f"?period={MONTH}"), headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 200
    for text in ("伙伴绩效评分", "订单确认率", "准时率", "满足率", "—"):
        assert text in zh.text, text
    bad = owner.get(_page(w, "?period=2026-13"))
    assert bad.status_code == 422
    assert "Use YYYY-MM (month), YYYY-Www (ISO week) or YYYY (year)." in bad.text
    assert 'value="2026-13" selected' in bad.text
    future = owner.get(_page(w, "?period=2999"))
    assert future.status_code == 422 and "This period has not started yet." in future.text
    odd_sort = owner.get(_page(w, f"?period={MONTH}&sort=bogus"))
    assert odd_sort.status_code == 200 and 'aria-sort="ascending"' in odd_sort.text


def test_partner_sees_its_own_row_only(cards, web):  # noqa: F811
    w = cards
    dealer = web()
    dealer.login(w.parties["D1a"].email)
    page = dealer.get(_page(w, f"?period={MONTH}"))
    assert page.status_code == 200
    assert _rows(page.text) == ["Beijing Motors Sales"]
    for other in ("Shanghai Auto Trade", "Steel Works", "Tianjin Sub-dealer"):
        assert other not in page.text
    assert 'name="tier"' not in page.text
    # Linked from its statements.
    assert _page(w) in dealer.get(f"/chains/{w.chain_id}/statements").text
    # D2 has no reconciliation grant; an outsider is in no chain.
    sub = web()
    sub.login(w.parties["D2"].email)
    assert sub.get(_page(w, f"?period={MONTH}")).status_code == 403
    outsider = web()
    outsider.login(w.outsider.email)
    assert outsider.get(_page(w, f"?period={MONTH}")).status_code == 404


def test_sorting_in_the_browser(cards, browse):  # noqa: F811
    w = cards
    page = browse()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, w.owner.email)
    page.goto(_page(w, f"?period={MONTH}"))
    page.click("th a:has-text('Fill rate')")
    page.wait_for_url("**sort=fill_rate*")
    page.click("th a:has-text('Fill rate')")
    page.wait_for_url("**sort=-fill_rate*")
    first = page.locator("table.scorecards tbody tr").first.inner_text()
    assert "Beijing Motors Sales" in first
    last = page.locator("table.scorecards tbody tr").last.inner_text()
    assert "—" in last
    screenshot(page, "desktop-scorecards")
