"""Pages for people, rendered on the server with Jinja; they call the same services as the API."""

import pkgutil
from importlib import import_module

from supplychain.ui import views
from supplychain.ui.base import blp

__all__ = ["blp"]

# Every module in ui/views registers its routes on `blp` when imported.
for _module in pkgutil.iter_modules(views.__path__):
    import_module(f"{views.__name__}.{_module.name}")
