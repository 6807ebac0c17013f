"""The webhook channel: posts claimed deliveries to their endpoints, outside any transaction.

Standard endpoints get the event body signed with `standardwebhooks` (`webhook-id`,
`webhook-timestamp`, `webhook-signature`); WeCom group robots get a short markdown message
(`robot.py`). Every POST goes through `outbound.http` (the SSRF guard, one deadline per send).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from flask import Flask
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from supplychain.extensions import db
from supplychain.models import WebhookEndpoint
from supplychain.outbound.channel import Channel
from supplychain.outbound.deliveries import Claimed, Outcome
from supplychain.outbound.http import MAX_ERROR_CHARS, describe_error, post, release, resources
from supplychain.outbound.robot import robot_markdown
from supplychain.services.event_body import event_body

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """What the sender needs of an endpoint, read once per batch."""

    id: int
    url: str
    kind: str
    language: str
    secret: str
    live: bool


def _targets(app: Flask, ids: set[int]) -> dict[int, Target]:
    """The endpoints of a batch, read in a short transaction that takes no write lock."""
    with app.app_context():
        connection = db.engine.connect().execution_options(sqlite_begin="DEFERRED")
        with connection:
            rows = connection.execute(
                select(
                    WebhookEndpoint.id,
                    WebhookEndpoint.url,
                    WebhookEndpoint.kind,
                    WebhookEndpoint.language,
                    WebhookEndpoint.secret,
                    WebhookEndpoint.enabled,
                    WebhookEndpoint.deleted_at,
                ).where(WebhookEndpoint.id.in_(ids))
            ).all()
    return {
        row.id: Target(
            row.id, row.url, row.kind, row.language, row.secret, row.enabled and not row.deleted_at
        )
        for row in rows
    }


class WebhookChannel(Channel):
    """Webhook endpoints (standard and WeCom robots): a few sends at once on the worker's pool."""

    name = "webhook"

    def send(self, app: Flask, claimed: list[Claimed]) -> dict[int, Outcome]:
        """Post each claimed delivery to its endpoint; an outcome for every one."""
        targets = _targets(app, {c.endpoint_id for c in claimed if c.endpoint_id is not None})
        kept = resources(app)
        timeout = app.config["WEBHOOK_TIMEOUT"]
        base_url = app.config["BASE_URL"]

        def send(delivery: Claimed) -> tuple[int, Outcome]:
            target = targets.get(delivery.endpoint_id or 0)
            if target is None or not target.live:
                return delivery.id, Outcome(
                    ok=False, error="The endpoint is disabled.", retry=False
                )
            return delivery.id, deliver(kept.client, target, delivery, timeout, base_url)

        return dict(kept.pool.map(send, claimed))

    def release(self, app: Flask) -> None:
        """Close the worker's HTTP connections and threads."""
        release(app)


def deliver(
    client: httpx.Client, target: Target, delivery: Claimed, timeout: float, base_url: str
) -> Outcome:
    """One send: the request for the endpoint's kind, and what its answer means."""
    if target.kind == "wecom_robot":
        content = robot_markdown(
            delivery.event_type, delivery.chain_id, delivery.data, target.language, base_url
        )
        body = json.dumps(
            {"msgtype": "markdown", "markdown": {"content": content}}, ensure_ascii=False
        )
        headers = {"content-type": "application/json"}
    else:
        payload = event_body(
            delivery.event_id,
            delivery.event_type,
            delivery.chain_id,
            delivery.occurred_at,
            delivery.data,
        )
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = signed_headers(target.secret, payload["id"], body)
    try:
        status, answer = post(client, target.url, body, headers, timeout)
    except httpx.TimeoutException:
        return Outcome(ok=False, error=f"No answer within {timeout:g} s.")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Outcome(ok=False, error=describe_error(exc))
    if target.kind == "wecom_robot":
        return _robot_outcome(status, answer)
    if 200 <= status < 300:
        return Outcome(ok=True, status_code=status)
    if 300 <= status < 400:
        return Outcome(
            ok=False, status_code=status, error=f"HTTP {status}: redirects are not followed."
        )
    return Outcome(ok=False, status_code=status, error=f"HTTP {status}.")


def signed_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed now with the endpoint's secret."""
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def _robot_outcome(status: int, answer: bytes) -> Outcome:
    """A WeCom robot succeeded when it answers 200 with `errcode` 0."""
    if status != 200:
        return Outcome(ok=False, status_code=status, error=f"HTTP {status}.")
    try:
        reply = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # a hostile answer nests deep
        return Outcome(ok=False, status_code=status, error="The robot's answer is not JSON.")
    if not isinstance(reply, dict) or reply.get("errcode") != 0:
        errcode = reply.get("errcode") if isinstance(reply, dict) else None
        errmsg = reply.get("errmsg") if isinstance(reply, dict) else None
        return Outcome(
            ok=False,
            status_code=status,
            error=f"WeCom errcode {errcode}: {errmsg}"[:MAX_ERROR_CHARS],
            extra={"errcode": errcode},
        )
    return Outcome(ok=True, status_code=status)
