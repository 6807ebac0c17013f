"""The application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from supplychain import errors
from supplychain.auth import register_token_renewal
from supplychain.config import Config
from supplychain.db import register_database
from supplychain.extensions import api
from supplychain.ids import IdConverter
from supplychain.proxies import trust_proxies
from supplychain.request_line import RequestLineLimit
from supplychain.security_headers import register_security_headers


def create_app(config: Config | None = None) -> Flask:
    """Build the app: settings, database, sessions, API blueprints, pages, templates and errors."""
    app = Flask(__name__, instance_relative_config=False)
    config = config or Config()
    app.config.from_object(config)
    _ensure_sqlite_folder(app.config["SQLALCHEMY_DATABASE_URI"])
    trust_proxies(app)
    # First: after-request hooks run last-registered first, so these headers reach the final
    # response, also one the database hook replaced (a 409 on a lost race).
    register_security_headers(app)
    register_database(app)
    register_sessions(app)
    register_token_renewal(app)
    register_blueprints(app)
    register_templates(app)
    register_errorhandlers(app)
    # A request line too long for the API gets its JSON 414 before anything else runs.
    app.wsgi_app = RequestLineLimit(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def register_sessions(app: Flask) -> None:
    """Signed-cookie sessions for the pages, Secure when the request came over HTTPS."""
    from supplychain.ui.security import SessionInterface

    app.session_interface = SessionInterface()


def register_blueprints(app: Flask) -> None:
    """The versioned API (flask-smorest), the WeCom-compatible /cgi-bin, health check, pages."""
    from supplychain.api import register_api
    from supplychain.api.health import blp as health_blp
    from supplychain.identity_routes import register_identity
    from supplychain.ui import blp as ui_blp
    from supplychain.ui.sso_callback import blp as sso_callback_blp
    from supplychain.wecom import register_wecom

    # Before any route: `<id:...>` in a rule is looked up when the rule is added.
    app.url_map.converters["id"] = IdConverter
    api.init_app(app)
    register_api(api)
    register_wecom(api)
    app.register_blueprint(health_blp)
    app.register_blueprint(ui_blp)
    app.register_blueprint(sso_callback_blp)
    register_identity(app)


def register_templates(app: Flask) -> None:
    """What every template can use: `_`, error texts, the CSRF token, the `num`/`when` filters."""
    from supplychain.ui.base import num, when
    from supplychain.ui.forms import NO_ERRORS
    from supplychain.ui.i18n import error_text, gettext
    from supplychain.ui.security import csrf_token

    app.jinja_env.globals.update(
        _=gettext, error_text=error_text, csrf_token=csrf_token, no_errors=NO_ERRORS
    )
    app.jinja_env.filters["num"] = num
    app.jinja_env.filters["when"] = when


def register_errorhandlers(app: Flask) -> None:
    """Errors as JSON, except that an unknown URL or method outside the API gets a page."""
    from supplychain.ui.base import not_found_anywhere

    errors.register_error_handlers(app)
    app.register_error_handler(404, not_found_anywhere)
    app.register_error_handler(405, not_found_anywhere)
