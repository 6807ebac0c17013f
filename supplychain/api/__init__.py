"""The versioned JSON API: one flask-smorest blueprint per feature."""

from __future__ import annotations

from flask_smorest import Api

from supplychain import request_line

API_PREFIX = "/api/v1"


def register_api(api: Api) -> None:
    """Register every feature blueprint and the bearer security scheme in the OpenAPI document."""
    from supplychain.api.accounts import routes as accounts
    from supplychain.api.apps import routes as apps
    from supplychain.api.directory import routes as directory
    from supplychain.api.events import routes as events
    from supplychain.api.imports import routes as imports
    from supplychain.api.invoices import routes as invoices
    from supplychain.api.notices import routes as notices
    from supplychain.api.orders import routes as orders
    from supplychain.api.reconciliation import routes as reconciliation
    from supplychain.api.scorecards import routes as scorecards
    from supplychain.api.shipping import routes as shipping
    from supplychain.api.sso import routes as sso
    from supplychain.api.webhooks import routes as webhooks

    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "API or login token"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}]
    request_line.document(api.spec)
    for module in (
        accounts,
        directory,
        imports,
        apps,
        notices,
        orders,
        shipping,
        invoices,
        reconciliation,
        scorecards,
        events,
        webhooks,
        sso,
    ):
        for blp in module.BLUEPRINTS:
            api.register_blueprint(blp, url_prefix=API_PREFIX + (blp.url_prefix or ""))
