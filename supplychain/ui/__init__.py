"""Pages for people, rendered on the server with Jinja; they call the same services as the API."""

from supplychain.ui.base import blp
from supplychain.ui.views import (
    accounts,
    app_clients,
    directory,
    home,
    imports,
    integrations,
    invitations,
    invoices,
    notices,
    notifications,
    orders,
    reconciliation,
    scorecards,
    shipping,
    sso,
    statements,
)

__all__ = ["blp"]
# The view modules register their routes on `blp` when imported.
_VIEWS = (
    accounts,
    app_clients,
    directory,
    home,
    imports,
    integrations,
    invitations,
    invoices,
    notices,
    notifications,
    orders,
    reconciliation,
    scorecards,
    sso,
    shipping,
    statements,
)
