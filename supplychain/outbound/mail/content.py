"""What a message says: the events in the reader's language, rendered with the mail templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from supplychain.i18n import translator
from supplychain.outbound.deliveries import Claimed
from supplychain.outbound.mail.message import Mail, compose, one_line
from supplychain.outbound.vocabulary import (
    GENERIC_SUBJECT,
    NUMBERED_KINDS,
    STATEMENT_EVENTS,
    VOCABULARY,
    page_path,
    statement_path,
)
from supplychain.timefmt import format_datetime as format_local_time

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        auto_reload=False,  # read once per process: a worker renders thousands
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class MailItem:
    """One thing a message tells: a headline, a few facts and the page to act on."""

    headline: str
    link: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def describe_event(
    claimed: Claimed,
    chain: Any,
    lang: str,
    base_url: str,
    gettext: Callable[..., str] | None = None,
) -> MailItem:
    """What a message says about one event, in `lang`, with the link to its page (`chain`: a
    Chain or anything with its `name` and `timezone`)."""
    _ = gettext or translator(lang)
    data = claimed.data
    cid = claimed.chain_id
    chain_name = chain.name if chain is not None else ""
    timezone = chain.timezone if chain is not None else None
    kind, _dot, _rest = claimed.event_type.partition(".")
    words = VOCABULARY.get(claimed.event_type)
    headline = words.subject if words else None
    link = base_url + page_path(claimed.event_type, cid, data)
    facts: list[tuple[str, str]] = []
    if kind == "notice" and headline and data.get("id"):
        title = str(data.get("title") or "")
        if data.get("kind"):
            facts.append((_("Kind"), _(str(data["kind"]))))
        due = parse_time(data.get("ack_due"))
        if due is not None:
            facts.append((_("Acknowledge by"), format_local_time(due, timezone, lang)))
        text = _(headline, title=title)
    elif kind in NUMBERED_KINDS and headline and data.get("id"):
        text = _(headline, number=str(data.get("number") or data["id"]))
        if data.get("status"):
            facts.append((_("Status"), _(str(data["status"]))))
        if data.get("match"):
            facts.append((_("Match"), _(str(data["match"]))))
    elif kind == "app" and headline and data.get("app_name"):
        text = _(headline, app_name=str(data["app_name"]))
    elif headline and claimed.event_type in STATEMENT_EVENTS and statement_path(cid, data):
        text = _(headline, period=str(data["period"]))
        if data.get("resolution"):
            facts.append((_("Resolution"), _(str(data["resolution"]))))
        if data.get("status"):
            facts.append((_("Status"), _(str(data["status"]))))
    else:
        text = _(GENERIC_SUBJECT, chain=chain_name, type=claimed.event_type)
    if chain_name:
        facts.insert(0, (_("Chain"), chain_name))
    facts.append((_("When"), format_local_time(claimed.occurred_at, timezone, lang)))
    return MailItem(headline=text, link=link, facts=facts)


def render_message(
    template: str,
    lang: str,
    subject: str,
    to: tuple[str, str],
    sender: str,
    context: dict[str, Any],
    unsubscribe_url: str | None = None,
    gettext: Callable[..., str] | None = None,
) -> Mail:
    """A message from `<template>.txt` and `<template>.html` to `to` (name, address). The name
    and subject carry people's text (names, titles): a line break in them becomes a space; the
    address is the writer's to refuse."""
    env = _environment()
    values = {
        **context,
        "_": gettext or translator(lang),
        "lang": lang,
        "unsubscribe_url": unsubscribe_url,
    }
    return compose(
        sender=sender,
        to_name=one_line(to[0]),
        to_address=to[1],
        subject=one_line(subject),
        lang=lang,
        text=env.get_template(f"{template}.txt").render(values),
        html=env.get_template(f"{template}.html").render(values),
        unsubscribe_url=unsubscribe_url,
    )
