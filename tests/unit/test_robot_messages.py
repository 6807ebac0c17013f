"""WeCom robot messages: short markdown in the endpoint's language with a link to the page."""

from supplychain.i18n import catalog
from supplychain.models.events import EVENT_TYPES
from supplychain.outbound.robot import MAX_CONTENT_BYTES, robot_markdown
from supplychain.outbound.vocabulary import OPEN, VOCABULARY

BASE = "https://sc.example.com"


def test_every_event_type_has_a_headline_in_both_languages():
    assert set(VOCABULARY) == set(EVENT_TYPES)
    for lang in ("en", "zh"):
        for words in VOCABULARY.values():
            assert catalog(lang).get(words.headline), (lang, words.headline)
            if words.subject and lang == "zh":
                assert catalog(lang).get(words.subject), words.subject
        assert catalog(lang).get(OPEN)


def test_a_notice_in_chinese_and_in_english():
    data = {"id": "12", "kind": "supply", "title": "Brake pads for May"}
    zh = robot_markdown("notice.published", 3, data, "zh", BASE)
    assert zh.splitlines() == [
        "**新通知**",
        "> Brake pads for May",
        "[查看](https://sc.example.com/chains/3/notices/12)",
    ]
    en = robot_markdown("notice.published", 3, data, "en", BASE + "/")
    assert en.splitlines()[0] == "**New notice**"
    assert en.endswith("[Open](https://sc.example.com/chains/3/notices/12)")


def test_links_per_object():
    cases = {
        ("order.issued", "id"): "/chains/3/orders/7",
        ("reconciliation.run.failed", "id"): "/chains/3/reconciliation/runs/7",
        ("member.joined", "org_id"): "/chains/3/members/7",
        ("link.created", "id"): "/chains/3/map",
        ("statement.ready", "id"): "/chains/3",
        ("statement.confirmed", "org_id"): "/chains/3",
    }
    for (event_type, key), path in cases.items():
        assert robot_markdown(event_type, 3, {key: "7"}, "en", BASE).endswith(f"({BASE}{path})")


def test_event_data_cannot_inject_markup_or_links():
    data = {"id": "../../evil", "title": "x](https://evil.example)\n**boom** <b>"}
    text = robot_markdown("notice.published", 3, data, "en", BASE)
    assert text.splitlines()[1] == "> x］（https://evil.example） ＊＊boom＊＊ ＜b＞"
    assert text.endswith(f"({BASE}/chains/3)")  # a non-numeric id makes no path


def test_a_long_failure_is_cut_to_what_wecom_takes():
    data = {"id": "1", "tier": "D1", "period": "2026-11", "error": "失败" * 5000}
    text = robot_markdown("reconciliation.run.failed", 3, data, "zh", BASE)
    assert len(text.encode()) <= MAX_CONTENT_BYTES
    assert "D1 2026-11" in text


def test_statement_events_link_to_the_statement_page():
    data = {"org_id": "7", "period": "2026-11"}
    for event_type in ("statement.ready", "statement.disputed", "dispute.resolved"):
        text = robot_markdown(event_type, 3, data, "zh", BASE)
        assert text.endswith(f"({BASE}/chains/3/statements/2026-11?org_id=7)")
    weekly = robot_markdown("statement.reminder", 3, {"period": "2026-W05"}, "en", BASE)
    assert weekly.startswith("**Reminder: statement awaiting your confirmation**")
    assert weekly.endswith(f"({BASE}/chains/3/statements/2026-W05)")
    # A period that is not one (it would go into the URL) falls back to the chain's page.
    odd = robot_markdown("statement.ready", 3, {"period": "../x", "org_id": "7"}, "en", BASE)
    assert odd.endswith(f"({BASE}/chains/3)")


def test_a_robot_answer_that_is_no_json_object_is_a_failure_not_a_crash():
    from supplychain.outbound.webhooks import _robot_outcome

    assert _robot_outcome(200, b'{"errcode": 0, "errmsg": "ok"}').ok
    for answer in (b"[" * 50_000, b"\xff", b"1" * 5000, b'{"errcode": 93000}', b"[]"):
        outcome = _robot_outcome(200, answer)
        assert not outcome.ok and outcome.status_code == 200
