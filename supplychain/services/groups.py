"""Member groups: paths like `Dealers/North China` (names, never file paths), created with
their missing parents, and SQL for "this path or below it".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Invalid
from supplychain.models import Group
from supplychain.models.directory import ROOT_GROUP_NUMBER
from supplychain.services.audit import record_action
from supplychain.services.chains import lock_chain_id

MAX_GROUP_DEPTH = 10
MAX_GROUP_PATH = 500  # the column's width
MAX_SEGMENT_LENGTH = 100


def normalise_group_path(path: str, field_name: str = "path") -> str:
    """A group path is a name like `Dealers/North China`, never a file path: no `..` or empty parts."""
    segments = [segment.strip() for segment in path.split("/")]
    problem = None
    if not path.strip():
        problem = "Must not be empty."
    elif any(not segment for segment in segments):
        problem = "Empty path segment (leading, trailing or double '/')."
    elif any(segment in (".", "..") for segment in segments):
        problem = "'.' and '..' are not group names."
    elif any("\\" in segment for segment in segments):
        problem = "Backslashes are not allowed in group names."
    elif len("/".join(segments)) > MAX_GROUP_PATH:
        problem = f"At most {MAX_GROUP_PATH} characters in all."
    elif len(segments) > MAX_GROUP_DEPTH:
        problem = f"At most {MAX_GROUP_DEPTH} levels."
    elif any(len(segment) > MAX_SEGMENT_LENGTH for segment in segments):
        problem = f"Each level at most {MAX_SEGMENT_LENGTH} characters."
    if problem:
        raise Invalid("Invalid group path.", {field_name: [problem]})
    return "/".join(segments)


def find_group(session: Session, chain_id: int, path: str) -> Group | None:
    """The group at `path` in the chain, if it exists."""
    return session.scalar(select(Group).where(Group.chain_id == chain_id, Group.path == path))


def next_group_numbers(session: Session, chain_id: int, count: int) -> list[int]:
    """The numbers the chain's next `count` groups get: on from the highest given, never reused.
    The chain's row is locked first (PostgreSQL; SQLite writes are serial), so two requests
    adding groups to one chain take turns instead of drawing the same numbers."""
    lock_chain_id(session, chain_id)
    highest = session.scalar(
        select(func.coalesce(func.max(Group.number), ROOT_GROUP_NUMBER)).where(
            Group.chain_id == chain_id
        )
    )
    return list(range(highest + 1, highest + 1 + count))


def ensure_group(session: Session, chain_id: int, path: str) -> tuple[Group, bool]:
    """The group at a normalised path, created with any missing parents; True if it was new."""
    segments = path.split("/")
    wanted = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    existing = {
        g.path: g
        for g in session.scalars(
            select(Group).where(Group.chain_id == chain_id, Group.path.in_(wanted))
        )
    }
    parent: Group | None = None
    created = False
    for depth, sub_path in enumerate(wanted):
        group = existing.get(sub_path)
        if group is None:
            group = Group(
                chain_id=chain_id,
                path=sub_path,
                name=segments[depth],
                parent_id=parent.id if parent else None,
                number=next_group_numbers(session, chain_id, 1)[0],
            )
            session.add(group)
            session.flush()
            created = True
        parent = group
    assert parent is not None
    return parent, created


def create_group(session: Session, access: ChainAccess, path: str) -> tuple[Group, bool]:
    """Create a group (and missing parents) by path; owner admins only. Existing: returned as is."""
    access.require_owner_admin()
    path = normalise_group_path(path)
    group, created = ensure_group(session, access.chain_id, path)
    if created:
        record_action(session, access, "group.create", "group", group.id, data={"path": path})
    return group, created


def groups_query(access: ChainAccess) -> Select:
    """The chain's group tree as a flat list ordered by path."""
    return select(Group).where(Group.chain_id == access.chain_id).order_by(Group.path)


def paths_within(column: Any, paths: list[str]) -> ColumnElement[bool]:
    """SQL: the path column equals one of `paths` or lies below one of them."""
    if not paths:
        return false()
    return or_(
        *[or_(column == path, column.startswith(path + "/", autoescape=True)) for path in paths]
    )
