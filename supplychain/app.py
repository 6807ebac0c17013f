"""The application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from supplychain.auth import register_token_renewal
from supplychain.config import Config
from supplychain.db import register_database
from supplychain.errors import register_error_handlers
from supplychain.extensions import api
from supplychain.proxies import trust_proxies
from supplychain.security_headers import register_security_headers


def create_app(config: Config | None = None) -> Flask:
    """Build the app: settings, database, API blueprints, pages and error handlers."""
    app = Flask(__name__, instance_relative_config=False)
    config = config or Config()
    app.config.from_object(config)
    _ensure_sqlite_folder(app.config["SQLALCHEMY_DATABASE_URI"])
    trust_proxies(app)
    # First: after-request hooks run last-registered first, so these headers reach the final
    # response, also one the database hook replaced (a 409 on a lost race).
    register_security_headers(app)
    register_database(app)
    register_token_renewal(app)
    register_blueprints(app)
    register_error_handlers(app)
    return app


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def register_blueprints(app: Flask) -> None:
    """The versioned API (flask-smorest), health check and pages."""
    from supplychain.api import register_api
    from supplychain.api.health import blp as health_blp
    from supplychain.ui import blp as ui_blp

    api.init_app(app)
    register_api(api)
    app.register_blueprint(health_blp)
    app.register_blueprint(ui_blp)
