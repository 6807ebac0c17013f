"""Every English text the pages show has its Chinese translation, with the same placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from supplychain.i18n import catalog, translate
from supplychain.ui.i18n import error_text, gettext

UI = Path(__file__).resolve().parents[2] / "supplychain" / "ui"
_CALL = re.compile(r"""\b(?:_|gettext)\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def message_ids() -> set[str]:
    found: set[str] = set()
    for path in [*UI.rglob("*.html"), *UI.rglob("*.py")]:
        for match in _CALL.finditer(path.read_text(encoding="utf-8")):
            found.add(ast.literal_eval(match.group(1)))
    return found


def test_every_message_has_a_chinese_translation():
    ids = message_ids()
    assert len(ids) > 200
    zh = catalog("zh")
    assert sorted(ids - set(zh)) == []


def test_translations_keep_their_placeholders():
    for english, chinese in catalog("zh").items():
        assert set(_PLACEHOLDER.findall(english)) == set(_PLACEHOLDER.findall(chinese)), english


# --- what services say: errors reach the pages through `_()` -------------------------------

SERVICE_SOURCES = [
    *(UI.parent / "services").rglob("*.py"),
    *(UI.parent / "excel").glob("*.py"),
    *(UI.parent / "api").rglob("*.py"),
    *(UI.parent / "schemas").rglob("*.py"),
]
ERRORS = {
    "Invalid",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Unauthorized",
    "BadRequest",
    "TooLarge",
    "TooManyRequests",
}


def service_messages() -> tuple[set[str], set[str]]:
    """Messages of the errors services raise: plain strings, and f-strings filled with '7'."""
    plain: set[str] = set()
    filled: set[str] = set()

    def take(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            plain.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            filled.add(
                "".join(
                    part.value if isinstance(part, ast.Constant) else "7" for part in node.values
                )
            )

    for path in SERVICE_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERRORS:
                if node.args:
                    take(node.args[0])
                for detail in node.args[1:]:
                    for item in ast.walk(detail):
                        if isinstance(item, ast.List):
                            for element in item.elts:
                                take(element)
    return plain, filled


def test_service_errors_have_chinese_translations():
    plain, filled = service_messages()
    assert len(plain) > 80 and len(filled) > 25
    zh = catalog("zh")
    assert sorted(plain - set(zh)) == []
    assert sorted(m for m in filled if translate(m, "zh") == m) == []


def test_messages_with_values_are_translated_with_their_values():
    assert translate("Over-shipping line 3: 2.5 left.", "zh") == "第 3 行发货超量：仅剩 2.5。"
    assert translate("Only the seller records shipments.", "zh") == "只有卖方可以登记发货。"
    assert translate("Not members of this chain: 12, 13", "zh") == "不是本链的成员：12, 13"
    # Text that merely ends like a template is not taken for it; English stays English.
    assert translate("Only 5 members", "zh") == "Only 5 members"
    assert translate("Over-shipping line 3: 2.5 left.", "en") == "Over-shipping line 3: 2.5 left."


def test_pages_show_service_errors_in_the_browser_language(app):
    """`error_text` (what the pages show errors with) in Chinese for a Chinese browser; labels
    and names (`_`) are only ever looked up whole, never matched against templates."""
    message = "Line 4 is rejected; not shippable."
    with app.test_request_context(headers={"Accept-Language": "zh-CN,zh;q=0.9"}):
        assert error_text(message) == "第 4 行为“已拒绝”，不能发货。"
        assert gettext("Unknown group: Open") == "Unknown group: Open"
        # A user's own word inside a message stays as given, even when it is a catalog word.
        assert error_text("Unknown group: Open") == "未知分组：Open"
    with app.test_request_context(headers={"Accept-Language": "en-GB"}):
        assert error_text(message) == message
