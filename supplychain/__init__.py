"""supplychain: upstream/downstream collaboration for a manufacturer and its partners."""

from supplychain.app import create_app

__all__ = ["create_app"]
