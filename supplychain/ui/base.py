"""The pages' blueprint and what every page shares: sign-in, chain access, errors, rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from supplychain.access import ChainAccess, chain_access
from supplychain.auth import Actor
from supplychain.decimals import format_decimal
from supplychain.errors import BadRequest, DomainError, error_response
from supplychain.extensions import db
from supplychain.ids import parse_id
from supplychain.services.app_access import require_app, usable_app_keys
from supplychain.ui import security, timefmt
from supplychain.ui.i18n import LANGUAGES, current_language, error_text, gettext

blp = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui-static",
)

ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    500: "Something went wrong",
}


# Printable text only, as the API's Text fields demand: a NUL byte would otherwise reach the
# database (PostgreSQL refuses it in text) through a filter or a form field with a looser schema.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@blp.before_request
def _protect() -> None:
    security.check_csrf()
    fields = [*request.args.listvalues(), *request.form.listvalues()]
    if any(_CONTROL.search(value) for values in fields for value in values):
        raise BadRequest("Control characters (such as NUL) are not allowed.")


@blp.app_context_processor
def _page_context() -> dict[str, Any]:
    access: ChainAccess | None = getattr(g, "chain_access", None)
    nav_apps: list[str] = []
    if access is not None:
        try:
            nav_apps = usable_app_keys(db.session, access)
        except DomainError:
            nav_apps = []
    return {
        "me": getattr(g, "ui_actor", None),
        "lang": current_language(),
        "languages": LANGUAGES,
        "nav_access": access,
        "nav_apps": nav_apps,
        "page_url": _page_url,
        "filter_url": _filter_url,
    }


def _page_url(number: int) -> str:
    """This page's URL with another page number, filters kept."""
    return _filter_url(page=number)


def _filter_url(**changes: Any) -> str:
    """This page's URL with some query arguments changed (None drops one; the page resets)."""
    args = {**request.args.to_dict(), "page": None, **changes}
    query = {key: value for key, value in args.items() if value not in (None, "")}
    return url_for(request.endpoint or "ui.home", **(request.view_args or {}), **query)


def num(value: Any, places: int = 0) -> str:
    """Decimals as people read them: no float, no needless trailing zeros."""
    if value is None or value == "":
        return ""
    from decimal import Decimal

    return format_decimal(Decimal(value), places)


def when(value: Any) -> str:
    """A time in the page's chain timezone with the zone named, a date as a day, or ''."""
    return timefmt.when(value)


# --- errors -----------------------------------------------------------------------------------


def error_page(code: int, message: str):
    """An HTML error page with the HTTP status."""
    title = gettext(ERROR_TITLES.get(code, "Error"))
    return render_template("error.html", code=code, title=title, message=message), code


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if error.code == 401:
        return redirect(url_for("ui.login", next=request.full_path))
    return error_page(error.code, error_text(error.message))


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    code = error.code or 500
    return error_page(code, gettext(error.description or error.name))


@blp.errorhandler(InternalServerError)
def _unexpected(error: InternalServerError):
    # Flask has logged the original exception already; the person gets a page, not a traceback.
    return error_page(500, gettext("The server could not finish this request."))


def not_found_anywhere(error: HTTPException):
    """An unknown URL or method: JSON under the API and the health check, a page elsewhere."""
    path = request.path
    code = error.code or 404
    if path.startswith("/api/") or path == "/api" or path.startswith("/healthz"):
        data = getattr(error, "data", None) or {}
        return error_response(code, data.get("message") or error.description or error.name)
    return error_page(code, gettext(error.description or error.name))


# --- who and where ----------------------------------------------------------------------------


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages behind sign-in: a visitor is sent to the sign-in page and brought back after."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if security.session_actor(db.session) is None:
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def actor() -> Actor:
    """The signed-in user (views behind `login_required` only)."""
    signed_in = security.session_actor(db.session)
    assert signed_in is not None
    return signed_in


def chain(cid: int | str | None, app: str | None = None) -> ChainAccess:
    """The signed-in user's standing in chain `cid` (an `<id:cid>`, or a path segment); 404 page
    when its org is no member, and with `app` 403 when its org may not use that app."""
    access = chain_access(db.session, actor(), parse_id(cid))
    g.chain_access = access
    if app is not None:
        require_app(db.session, access, app)
    return access


def flash_and_redirect(message: str, endpoint: str, **values: Any) -> Response:
    """The answer to a POST that worked: `message` flashed as a success, and a redirect to the
    page `endpoint` (so a reload does not post again)."""
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))


def safe_next(target: str | None, default: str) -> str:
    """A redirect target on this site only (no open redirects)."""
    if not target or not (target.isascii() and target.isprintable()) or " " in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def page_number() -> int:
    """The `page` query argument, 1 when absent or bad."""
    value = request.args.get("page", "1")
    number = int(value) if value.isascii() and value.isdigit() and len(value) < 7 else 1
    return max(number, 1)


def choice(name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    """A query argument restricted to `allowed` values (None otherwise)."""
    value = request.args.get(name)
    return value if value in allowed else None
