"""Invitations: when a contact's single-use code was issued and mailed, by whom, until when.

The code itself is never stored: `users.invite_code_hash` holds its SHA-256 (activation looks it
up), and `salt` is the random half of the code's derivation (HMAC of SECRET_KEY and the salt),
so the invitation mail written later by the delivery worker, and the owner's own import answer,
can carry it while the database alone does not give it away. A code issued before revision 0019
has no salt (it was random): it still activates, but is shown nowhere again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from supplychain.models.base import Base
from supplychain.models.columns import chain_fk, org_fk, user_fk

INVITATION_STATUSES = ("pending", "activated", "expired")
# What reaches a person invited but not yet activated, besides the invitation itself: a short
# message naming the notice or order, never its content.
PRE_ACTIVATION_EVENTS = ("notice.published", "notice.reminder", "order.issued", "order.reminder")


class Invitation(Base):
    """A person's current invitation (one row per person: a new code replaces the old one)."""

    __tablename__ = "invitations"

    user_id: Mapped[user_fk] = mapped_column(primary_key=True, autoincrement=False)
    chain_id: Mapped[chain_fk | None]
    # The org whose admin issued the code (the chain's owner or the person's own org).
    inviter_org_id: Mapped[org_fk | None]
    invited_by: Mapped[user_fk | None]
    salt: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    # None: held back (`send_invite: false`), or issued before invitations were mailed.
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
