"""The pages' language: the session's choice, else the browser's Accept-Language, else English.

The catalogs and their lookup live in the core (`supplychain.i18n`); this adds the request.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request, session

from supplychain.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog, translate


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


def error_text(message: str) -> str:
    """What a service or schema said went wrong, in the current language."""
    return translate(message, current_language())


_ = gettext
