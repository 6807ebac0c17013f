"""Outbound HTTP under the SSRF guard, for every channel that POSTs to a URL someone gave us.

Every send is bounded: one deadline (`WEBHOOK_TIMEOUT`, 10 s) covers connecting, sending and the
answer; redirects are not followed; at most `MAX_ANSWER_BYTES` of the answer are read (the
connection is dropped, not drained). The connection itself goes through the guarded transport
(`net.transport`), which resolves the host, refuses non-public addresses (unless
`WEBHOOK_ALLOW_PRIVATE`) and connects only to an address it checked, so a name that resolves
differently at delivery time than at registration (DNS rebinding) still reaches no private
address. A worker keeps one pooled
`httpx.Client` and a small thread pool between batches (`resources(app)`; `release` closes
them): a channel posts with `post(resources(app).client, url, body, headers, timeout)`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from flask import Flask

from supplychain.net.transport import GuardedTransport, send_deadline

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 4096
MAX_ERROR_CHARS = 500
USER_AGENT = "supplychain-webhooks/1"
_RESOURCES = "supplychain_outbound_http"


@dataclass
class _Resources:
    client: httpx.Client
    pool: ThreadPoolExecutor


_resources_lock = threading.Lock()


def resources(app: Flask) -> _Resources:
    """This worker's client and thread pool, made on first use with the app's settings."""
    with _resources_lock:
        found = app.extensions.get(_RESOURCES)
        if found is None:
            size = app.config["WEBHOOK_CONCURRENCY"]
            limits = httpx.Limits(max_connections=size * 4, max_keepalive_connections=size * 4)
            client = httpx.Client(
                transport=GuardedTransport(app.config["WEBHOOK_ALLOW_PRIVATE"], limits),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: it would bypass the guard
                timeout=httpx.Timeout(app.config["WEBHOOK_TIMEOUT"]),
                headers={"user-agent": USER_AGENT},
            )
            pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook-send")
            found = app.extensions[_RESOURCES] = _Resources(client, pool)
        return found


def release(app: Flask) -> None:
    """Close this worker's connections and threads (when it stops)."""
    with _resources_lock:
        found = app.extensions.pop(_RESOURCES, None)
    if found is not None:
        found.pool.shutdown(wait=True)
        found.client.close()


def post(
    client: httpx.Client, url: str, body: str, headers: dict[str, str], timeout: float
) -> tuple[int, bytes]:
    """POST `body` and read at most MAX_ANSWER_BYTES of the answer, all within `timeout` s."""
    with (
        send_deadline(timeout),
        client.stream(
            "POST",
            url,
            content=body.encode("utf-8"),
            headers={**headers, "accept-encoding": "identity"},
        ) as response,
    ):
        answer = bytearray()
        try:
            for chunk in response.iter_raw():
                answer += chunk
                if len(answer) >= MAX_ANSWER_BYTES:
                    break  # leaving the block closes the connection instead of reading on
        except httpx.TimeoutException:
            pass  # the status came in time; a body still dripping in is cut off here
        return response.status_code, bytes(answer[:MAX_ANSWER_BYTES])


def describe_error(error: Exception) -> str:
    """An error as the delivery log shows it: its kind and message, short."""
    message = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {message}"[:MAX_ERROR_CHARS]
