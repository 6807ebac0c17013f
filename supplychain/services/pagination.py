"""The list envelope: one count query and one page query, whatever the page size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


@dataclass
class Page:
    """One page of a list: the items and the numbers the envelope reports."""

    items: list[Any]
    total: int
    page: int
    page_size: int
    extra: dict[str, Any] = field(default_factory=dict)

    def envelope(self, **extra: Any) -> dict[str, Any]:
        """The `{items, total, page, page_size}` dict the API returns."""
        return {
            "items": self.items,
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            **self.extra,
            **extra,
        }


def paginate(
    session: Session, stmt: Select, page: int, page_size: int, scalars: bool = True
) -> Page:
    """Run `stmt` (already ordered) for one page, plus a count of all its rows."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    paged = stmt.limit(page_size).offset((page - 1) * page_size)
    rows = session.scalars(paged).unique().all() if scalars else session.execute(paged).all()
    return Page(items=list(rows), total=total, page=page, page_size=page_size)


def page_of_list(items: list[Any], page: int, page_size: int) -> Page:
    """One page of a list already in memory (a handful of rows, such as a chain's apps)."""
    start = (page - 1) * page_size
    return Page(
        items=items[start : start + page_size], total=len(items), page=page, page_size=page_size
    )
