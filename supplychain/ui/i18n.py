"""English pages with Chinese available: a dict catalog per language, no compile step.

The English text is the message id. `translations/<lang>.json` maps it to the translation; a
missing entry falls back to English (en.json only turns status codes into words). The language is the session's choice, else the browser's
Accept-Language, else English.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import has_request_context, request, session

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
_CATALOG_DIR = Path(__file__).resolve().parent / "translations"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of one language."""
    if lang not in LANGUAGES:
        return {}
    return json.loads((_CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def current_language() -> str:
    """The session's chosen language, else the best match for the browser, else English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best or DEFAULT_LANGUAGE


def gettext(message: str, **values: Any) -> str:
    """The message in the current language, with `%(name)s` placeholders filled in."""
    text = catalog(current_language()).get(message, message)
    return text % values if values else text


_ = gettext
