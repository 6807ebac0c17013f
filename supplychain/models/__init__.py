"""SQLAlchemy models, one module per aggregate; importing this registers them all."""

from supplychain.models.apps import App, Grant
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
from supplychain.models.notices import (
    Notice,
    NoticeItem,
    NoticeRecipient,
    NoticeResponse,
    NoticeResponseLine,
)
from supplychain.models.orders import Order, OrderEvent, OrderLine
from supplychain.models.reconciliation import ReconciliationRun, ReconciliationSchedule
from supplychain.models.throttling import SignInAttempt

__all__ = [
    "ApiToken",
    "App",
    "AuditEvent",
    "Base",
    "Chain",
    "Contact",
    "Grant",
    "Group",
    "IdempotencyRecord",
    "Link",
    "Member",
    "Notice",
    "NoticeItem",
    "NoticeRecipient",
    "NoticeResponse",
    "NoticeResponseLine",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Org",
    "ReconciliationRun",
    "ReconciliationSchedule",
    "SignInAttempt",
    "User",
    "VisibilityRule",
]
