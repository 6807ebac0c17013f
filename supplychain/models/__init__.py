"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from supplychain.models.audit import AuditEvent, IdempotencyRecord
from supplychain.models.base import Base
from supplychain.models.directory import (
    ApiToken,
    Chain,
    Contact,
    Group,
    Link,
    Member,
    Org,
    User,
    VisibilityRule,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Chain",
    "Contact",
    "Group",
    "IdempotencyRecord",
    "Link",
    "Member",
    "Org",
    "User",
    "VisibilityRule",
]
