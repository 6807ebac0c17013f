"""People's email preferences: how often (immediate, daily digest, off) and for which events.

One rule for the `/me/notifications` API, the settings page, the unsubscribe link and the
senders: no row means the default, `immediate` for notice, order and statement events.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from supplychain.errors import Invalid, NotFound
from supplychain.models import User
from supplychain.models.base import utcnow
from supplychain.models.events import EMAIL_MODES, EVENT_TYPES, NotificationSetting

DEFAULT_EMAIL = "immediate"
DEFAULT_EVENTS: tuple[str, ...] = tuple(
    # dispute.resolved is a statement event too.
    t
    for t in EVENT_TYPES
    if t.split(".", 1)[0] in ("notice", "order", "ship_notice", "statement", "dispute", "invoice")
)
MAIL_LANGUAGES = ("zh", "en")
DEFAULT_MAIL_LANGUAGE = "zh"


@dataclass(frozen=True)
class EmailPreference:
    """A person's email preference as the API shows it (defaults filled in)."""

    email: str
    events: tuple[str, ...]

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type is mailed at all under this preference."""
        return self.email != "off" and event_type in self.events


def _preference(row: NotificationSetting | None) -> EmailPreference:
    if row is None:
        return EmailPreference(DEFAULT_EMAIL, DEFAULT_EVENTS)
    events = DEFAULT_EVENTS if row.events is None else tuple(row.events)
    return EmailPreference(row.email, events)


def get_settings(session: Session, user: User) -> EmailPreference:
    """The user's email preference; the default when they never chose one."""
    return _preference(session.get(NotificationSetting, user.id))


def preferences_of(session: Session, users: list[User]) -> dict[int, EmailPreference]:
    """Email preferences of many people in one query (a sender's batch), defaults filled in."""
    rows = {
        row.user_id: row
        for row in session.scalars(
            select(NotificationSetting).where(
                NotificationSetting.user_id.in_([u.id for u in users])
            )
        )
    }
    return {u.id: _preference(rows.get(u.id)) for u in users}


def put_settings(
    session: Session, user: User, email: str, events: list[str] | None = None
) -> EmailPreference:
    """Replace the user's email preference; `events` None keeps the default event list.
    Unknown modes or event types are refused naming them."""
    if email not in EMAIL_MODES:
        raise Invalid("Unknown email mode.", {"email": [f"One of: {', '.join(EMAIL_MODES)}."]})
    if events is not None:
        # `ping` is for webhooks only: nobody is mailed one.
        unknown = sorted({t for t in events if t not in EVENT_TYPES or t == "ping"})
        if unknown:
            raise Invalid(
                "Unknown event types.",
                {"events": [f"Unknown event types: {', '.join(unknown)}."]},
            )
        # One copy of each, in the catalogue's order, whatever order they came in.
        events = [t for t in EVENT_TYPES if t in set(events)]
    row = session.get(NotificationSetting, user.id)
    if row is None:
        row = NotificationSetting(user_id=user.id)
        session.add(row)
    row.email = email
    # SQL NULL, not JSON null, for "the default list" (both read as the default anyway).
    row.events = null() if events is None else events
    row.updated_at = utcnow()
    session.flush()
    return get_settings(session, user)


def unsubscribe(session: Session, user_id: int) -> None:
    """Turn a person's email off (the one-click unsubscribe link); their event choice stays."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such subscription.")
    current = get_settings(session, user)
    row = session.get(NotificationSetting, user.id)
    put_settings(
        session, user, "off", None if row is None or row.events is None else list(current.events)
    )


def mail_language(user: User) -> str:
    """The language a person's mail is written in: their choice, else Chinese."""
    return user.language if user.language in MAIL_LANGUAGES else DEFAULT_MAIL_LANGUAGE


def set_language(session: Session, user: User, language: str) -> None:
    """Remember the language a person chose (for their mail); unknown languages are refused."""
    if language not in MAIL_LANGUAGES:
        raise Invalid("Unknown language.", {"language": [f"One of: {', '.join(MAIL_LANGUAGES)}."]})
    user.language = language
    session.flush()
