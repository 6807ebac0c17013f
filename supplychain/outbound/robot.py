"""What a WeCom group robot says about an event: a short markdown message in the endpoint's
language (Chinese unless it asks for English) with a link to the object's page; the words and
the page come from `vocabulary.py`."""

from __future__ import annotations

from typing import Any

from supplychain.i18n import translator
from supplychain.outbound.vocabulary import OPEN, headline_id, page_path

# WeCom refuses markdown content over 4096 bytes.
MAX_CONTENT_BYTES = 4096
MAX_DETAIL_CHARS = 200

# Characters that are markup in WeCom markdown (links, bold, code, HTML-like tags) are shown as
# their full-width look-alikes: WeCom has no escape character, and a title must not make a link.
_MARKUP = str.maketrans(
    {"[": "［", "]": "］", "(": "（", ")": "）", "*": "＊", "`": "｀", "<": "＜", ">": "＞"}
)


def _escape(text: str) -> str:
    """Text shown inside WeCom markdown: no markup, no line breaks, not too long."""
    return " ".join(text.split())[:MAX_DETAIL_CHARS].translate(_MARKUP)


def _detail(event_type: str, data: dict[str, Any]) -> str:
    """The one line naming the object: a notice's title, an order's number, a run's tier and
    period, a member's name."""
    if data.get("title"):
        return str(data["title"])
    if data.get("number"):
        return str(data["number"])
    if data.get("tier") and data.get("period"):
        return f"{data['tier']} {data['period']}"
    if data.get("period"):
        return str(data["period"])
    if data.get("name"):
        return str(data["name"])
    return ""


def robot_markdown(
    event_type: str, chain_id: int, data: dict[str, Any], language: str, base_url: str
) -> str:
    """The markdown content of the robot message for one event."""
    _ = translator("en" if language == "en" else "zh")
    lines = [f"**{_escape(_(headline_id(event_type)))}**"]
    detail = _detail(event_type, data)
    if detail:
        lines.append(f"> {_escape(detail)}")
    if event_type.endswith(".failed") and data.get("error"):
        lines.append(f"> {_escape(str(data['error']))}")
    link = base_url.rstrip("/") + page_path(event_type, chain_id, data)
    lines.append(f"[{_(OPEN)}]({link})")
    content = "\n".join(lines)
    encoded = content.encode("utf-8")
    if len(encoded) > MAX_CONTENT_BYTES:
        content = encoded[:MAX_CONTENT_BYTES].decode("utf-8", "ignore")
    return content
