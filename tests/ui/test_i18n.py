"""Every English text the pages show has its Chinese translation, with the same placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from supplychain.ui.i18n import catalog

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
