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
from supplychain.models.events import (
    Delivery,
    Event,
    EventRecipient,
    NotificationSetting,
    PasswordReset,
    ReminderClaim,
    WebhookEndpoint,
)
from supplychain.models.identity import (
    OidcClient,
    OidcCode,
    OidcKey,
    OidcLogout,
    OidcSession,
    OidcToken,
)
from supplychain.models.invitations import Invitation
from supplychain.models.invoices import Invoice, InvoiceLine, InvoiceSettings
from supplychain.models.notices import (
    Notice,
    NoticeItem,
    NoticeRecipient,
    NoticeResponse,
    NoticeResponseLine,
)
from supplychain.models.orders import Order, OrderEvent, OrderLine
from supplychain.models.reconciliation import ReconciliationRun, ReconciliationSchedule
from supplychain.models.shipping import ShipNotice, ShipNoticeLine, ShipNoticePackage
from supplychain.models.sso import (
    SsoConnection,
    SsoDomain,
    SsoIdentity,
    SsoLogin,
    SsoLogoutSeen,
    SsoSession,
)
from supplychain.models.statements import Dispute, DisputeLine, Statement
from supplychain.models.throttling import SignInAttempt
from supplychain.models.wecom import WeComAccessToken, WeComImportJob

__all__ = [
    "ApiToken",
    "App",
    "AuditEvent",
    "Base",
    "Chain",
    "Contact",
    "Delivery",
    "Dispute",
    "DisputeLine",
    "Event",
    "EventRecipient",
    "Grant",
    "Group",
    "IdempotencyRecord",
    "Invitation",
    "Invoice",
    "InvoiceLine",
    "InvoiceSettings",
    "Link",
    "Member",
    "Notice",
    "NoticeItem",
    "NoticeRecipient",
    "NoticeResponse",
    "NoticeResponseLine",
    "NotificationSetting",
    "OidcClient",
    "OidcCode",
    "OidcKey",
    "OidcLogout",
    "OidcSession",
    "OidcToken",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Org",
    "PasswordReset",
    "ReconciliationRun",
    "ReconciliationSchedule",
    "ReminderClaim",
    "ShipNotice",
    "ShipNoticeLine",
    "ShipNoticePackage",
    "SignInAttempt",
    "SsoConnection",
    "SsoDomain",
    "SsoIdentity",
    "SsoLogin",
    "SsoLogoutSeen",
    "SsoSession",
    "Statement",
    "User",
    "VisibilityRule",
    "WeComAccessToken",
    "WeComImportJob",
    "WebhookEndpoint",
]
