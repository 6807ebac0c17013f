"""The guarded HTTP transport: an httpx transport whose connections go only to addresses it
resolved and checked itself (`net.addresses`), so a name that resolves differently at send time
than when it was registered (DNS rebinding) still reaches no private address. The webhooks and
the WeCom robot (`outbound.http`) and the company sign-in's IdP requests (`identity_sso`) use it.

`send_deadline(seconds)` bounds everything one send does on this thread: every connect, read
and write of the connection it uses is cut to what is left of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from supplychain.net.addresses import refused_addresses, resolve

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


@contextmanager
def send_deadline(timeout: float) -> Iterator[None]:
    """Every connect, read and write on this thread ends within `timeout` s from now."""
    _send.deadline = time.monotonic() + timeout
    try:
        yield
    finally:
        _send.deadline = None
