"""Outbound HTTP under the SSRF guard, for every channel that POSTs to a URL someone gave us.

Every send is bounded: one deadline (`WEBHOOK_TIMEOUT`, 10 s) covers connecting, sending and the
answer; redirects are not followed; at most `MAX_ANSWER_BYTES` of the answer are read (the
connection is dropped, not drained). The connection itself goes through `GuardedBackend`, which
resolves the host, refuses non-public addresses (unless `WEBHOOK_ALLOW_PRIVATE`) and connects
only to an address it checked, so a name that resolves differently at delivery time than at
registration (DNS rebinding) still reaches no private address. A worker keeps one pooled
`httpx.Client` and a small thread pool between batches (`resources(app)`; `release` closes
them): a channel posts with `post(resources(app).client, url, body, headers, timeout)`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from flask import Flask

from supplychain.outbound.addresses import refused_addresses, resolve

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 4096
MAX_ERROR_CHARS = 500
USER_AGENT = "supplychain-webhooks/1"
_RESOURCES = "supplychain_outbound_http"

# The deadline of the send this thread is making (monotonic seconds); every connect, read and
# write of the connection it uses is cut to what is left of it.
_send = threading.local()


class RefusedAddress(httpcore.ConnectError):
    """The host resolves to an address outbound HTTP must not reach."""


def _time_left(timeout: float | None, timed_out: type[Exception]) -> float | None:
    deadline = getattr(_send, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise timed_out("The answer took longer than the webhook timeout.")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current send's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses it resolved and checked itself."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"The host {host} does not resolve.")
        if not self.allow_private and refused_addresses(addresses):
            raise RefusedAddress(
                "Refused: the host resolves to a loopback, private, link-local or reserved address."
            )
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_time_left(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise RefusedAddress("Unix sockets are not webhook destinations.")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool on `GuardedBackend` (no proxy, HTTP/1.1)."""

    def __init__(self, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx builds its pool without a way to pass a network backend; the pool is rebuilt
        # with the same settings and ours (httpcore's public ConnectionPool API).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private),
        )


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
    _send.deadline = time.monotonic() + timeout
    try:
        with client.stream(
            "POST",
            url,
            content=body.encode("utf-8"),
            headers={**headers, "accept-encoding": "identity"},
        ) as response:
            answer = bytearray()
            try:
                for chunk in response.iter_raw():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES:
                        break  # leaving the block closes the connection instead of reading on
            except httpx.TimeoutException:
                pass  # the status came in time; a body still dripping in is cut off here
            return response.status_code, bytes(answer[:MAX_ANSWER_BYTES])
    finally:
        _send.deadline = None


def describe_error(error: Exception) -> str:
    """An error as the delivery log shows it: its kind and message, short."""
    message = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {message}"[:MAX_ERROR_CHARS]
