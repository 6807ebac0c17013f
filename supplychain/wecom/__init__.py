"""The WeCom-compatible /cgi-bin API (上下游): a thin translation onto the directory services."""

from __future__ import annotations

from flask_smorest import Api


def register_wecom(api: Api) -> None:
    """Register the /cgi-bin blueprint (documented in the same OpenAPI document)."""
    from supplychain.wecom.routes import BLUEPRINTS

    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
