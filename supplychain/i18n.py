"""Messages in English and Chinese: a dict catalog per language, no compile step.

The English text is the message id. `ui/translations/<lang>.json` maps it to the translation;
entries with `%(name)s` placeholders also translate services' filled-in messages (see
`translate`); a missing entry falls back to English (en.json only turns status codes into words).
Used by the pages (`supplychain.ui.i18n` adds the request's language) and by outbound messages
(mail, robot), which know their reader's language without a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
_CATALOG_DIR = Path(__file__).resolve().parent / "ui" / "translations"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of one language."""
    if lang not in LANGUAGES:
        return {}
    return json.loads((_CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8"))


MIN_TEMPLATE_PREFIX = 3
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _templates(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Catalog entries with placeholders as patterns over the filled-in English, longest first.

    Services say "Over-shipping line 3: 2 left." with the values inside; the catalog holds
    "Over-shipping line %(line)s: %(left)s left.", so such a message is still translated."""
    patterns = []
    for english, translated in catalog(lang).items():
        parts = _PLACEHOLDER.split(english)
        names = parts[1::2]
        # Only templates that open with words can be told apart from other text ("Only 5
        # members" is no "%(count)s members"); the pages fill the others in themselves.
        if not names or len(set(names)) != len(names) or len(parts[0]) < MIN_TEMPLATE_PREFIX:
            continue
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        literal = sum(len(part) for part in parts[0::2])
        patterns.append((literal, re.compile(regex + r"\Z", re.DOTALL), translated))
    patterns.sort(key=lambda item: -item[0])
    return tuple((pattern, translated) for _, pattern, translated in patterns)


# Values inside a service's message that are words of the domain, translated with it ("Only the
# seller records shipments."); any other value (a name, a sku) is shown as it was given.
VALUE_WORDS = frozenset(
    {
        "seller", "buyer", "shipments", "receipts", "amend", "cancel", "amended", "cancelled",
        "re-acknowledged", "pending", "accepted", "rejected", "backordered", "changed", "queued",
        "running", "succeeded", "failed",
    }
)  # fmt: skip


def translate(message: str, lang: str) -> str:
    """An error message in `lang`: its catalog entry, else the first template it fills (only
    for messages of errors: labels and names never go through the templates), else itself."""
    entries = catalog(lang)
    found = entries.get(message)
    if found is not None:
        return found
    if entries:
        for pattern, translated in _templates(lang):
            match = pattern.match(message)
            if match:
                values = {
                    k: entries.get(v, v) if v in VALUE_WORDS else v
                    for k, v in match.groupdict().items()
                }
                return translated % values
    return message


def translator(lang: str) -> Callable[..., str]:
    """`_` for `lang`: the catalog's entry (else the English id), placeholders filled in."""
    entries = catalog(lang)

    def gettext(message: str, **values: Any) -> str:
        text = entries.get(message, message)
        return text % values if values else text

    return gettext
