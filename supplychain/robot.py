"""What a WeCom group robot says about an event: a short markdown message in the endpoint's
language (Chinese unless it asks for English) with a link to the object's page."""

from __future__ import annotations

import re
from typing import Any

# WeCom refuses markdown content over 4096 bytes.
MAX_CONTENT_BYTES = 4096
MAX_DETAIL_CHARS = 200

# type: (English, Chinese)
HEADLINES: dict[str, tuple[str, str]] = {
    "notice.published": ("New notice", "新通知"),
    "notice.withdrawn": ("Notice withdrawn", "通知已撤回"),
    "notice.acknowledged": ("Notice acknowledged", "通知已确认"),
    "notice.responded": ("Notice answered", "通知已回复"),
    "notice.reminder": ("Reminder: notice awaiting you", "提醒：通知待处理"),
    "order.issued": ("New order", "新订单"),
    "order.acknowledged": ("Order acknowledged", "订单已确认"),
    "order.amended": ("Order amended", "订单已修改"),
    "order.cancelled": ("Order cancelled", "订单已取消"),
    "order.shipped": ("Order shipped", "订单已发货"),
    "order.received": ("Order received", "订单已收货"),
    "order.reminder": ("Reminder: order awaiting acknowledgment", "提醒：订单待确认"),
    "statement.ready": ("Statement ready", "对账单已生成"),
    "statement.confirmed": ("Statement confirmed", "对账单已确认"),
    "statement.disputed": ("Statement disputed", "对账单有异议"),
    "dispute.resolved": ("Dispute resolved", "对账异议已解决"),
    "statement.reminder": ("Reminder: statement awaiting your confirmation", "提醒：对账单待确认"),
    "reconciliation.run.succeeded": ("Reconciliation workbook ready", "对账工作簿已生成"),
    "reconciliation.run.failed": ("Reconciliation run failed", "对账生成失败"),
    "member.joined": ("Member joined", "成员已加入"),
    "member.updated": ("Member updated", "成员信息已更新"),
    "member.removed": ("Member removed", "成员已移除"),
    "link.created": ("Supply link created", "供应关系已建立"),
    "link.deleted": ("Supply link removed", "供应关系已删除"),
    "app.shared": ("App shared", "应用已共享"),
    "app.unshared": ("App no longer shared", "应用已取消共享"),
    "ping": ("Test message from supplychain", "来自 supplychain 的测试消息"),
}
OPEN = {"en": "Open", "zh": "查看"}
STATEMENT_EVENTS = (
    "statement.ready",
    "statement.confirmed",
    "statement.disputed",
    "statement.reminder",
    "dispute.resolved",
)
_PERIOD = re.compile(r"^[0-9]{4}-(?:[0-9]{2}|W[0-9]{2})\Z")


def statement_path(chain_id: int, data: dict[str, Any]) -> str | None:
    """The page of the statement an event tells of (its period, and its org for the owner's
    people), or None when the data names no period."""
    period = str(data.get("period") or "")
    if not _PERIOD.match(period):
        return None
    org = _plain(data.get("org_id"))
    return f"/chains/{chain_id}/statements/{period}" + (f"?org_id={org}" if org else "")


def object_path(event_type: str, chain_id: int, data: dict[str, Any]) -> str:
    """The page of the event's object, as a path under the site (the chain's page if unknown)."""
    chain = f"/chains/{chain_id}"
    ident = _plain(data.get("id"))
    if event_type.startswith("notice.") and ident:
        return f"{chain}/notices/{ident}"
    if event_type.startswith("order.") and ident:
        return f"{chain}/orders/{ident}"
    if event_type in STATEMENT_EVENTS:
        return statement_path(chain_id, data) or chain
    if event_type.startswith("reconciliation.run.") and ident:
        return f"{chain}/reconciliation/runs/{ident}"
    if event_type.startswith("member.") and _plain(data.get("org_id")):
        return f"{chain}/members/{_plain(data.get('org_id'))}"
    if event_type.startswith("link."):
        return f"{chain}/map"
    if event_type == "ping":
        return f"{chain}/integrations"
    return chain


def _plain(value: Any) -> str:
    """An id from event data, only if it is one (digits): it goes into a URL path."""
    text = str(value) if value is not None else ""
    return text if text.isascii() and text.isdigit() else ""


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
    lang = "en" if language == "en" else "zh"
    english, chinese = HEADLINES.get(event_type, (event_type, event_type))
    headline = english if lang == "en" else chinese
    lines = [f"**{_escape(headline)}**"]
    detail = _detail(event_type, data)
    if detail:
        lines.append(f"> {_escape(detail)}")
    if event_type.endswith(".failed") and data.get("error"):
        lines.append(f"> {_escape(str(data['error']))}")
    link = base_url.rstrip("/") + object_path(event_type, chain_id, data)
    lines.append(f"[{OPEN[lang]}]({link})")
    content = "\n".join(lines)
    encoded = content.encode("utf-8")
    if len(encoded) > MAX_CONTENT_BYTES:
        content = encoded[:MAX_CONTENT_BYTES].decode("utf-8", "ignore")
    return content
