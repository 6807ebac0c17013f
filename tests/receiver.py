"""A real HTTP receiver for webhook tests: a threaded `http.server` on 127.0.0.1 that records
every request and answers as told (ok, errors, redirects, hangs, huge bodies, dropped
connections, WeCom robot replies, two requests held until both are in flight)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HUGE_BYTES = 100 * 1024 * 1024
MEET_SECONDS = 30


@dataclass
class Receipt:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    mode: str

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers each request with the next mode of `script` (then `default`), records it."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.script: list[str] = []
        self.default = "ok"
        self.delay = 0.0  # seconds to wait before an "ok"
        self.sent_bytes = 0  # what the "huge" answers managed to write
        self.release = threading.Event()  # ends every "hang"
        self.got_request = threading.Event()
        self.meeting = threading.Barrier(2)  # "meet": two requests in flight at once
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                mode = receiver._next_mode()
                with receiver._lock:
                    receiver.receipts.append(
                        Receipt(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, mode
                        )
                    )
                receiver.got_request.set()
                receiver._answer(self, mode)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def _next_mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def ids(self) -> Counter[str]:
        """How often each `webhook-id` came in."""
        with self._lock:
            return Counter(r.headers.get("webhook-id", "") for r in self.receipts)

    def _answer(self, handler: BaseHTTPRequestHandler, mode: str) -> None:
        if mode == "ok":
            if self.delay:
                time.sleep(self.delay)
            self._reply(handler, 200, b'{"ok":true}')
        elif mode.isdigit():
            self._reply(handler, int(mode), b"{}")
        elif mode == "redirect":
            self._reply(handler, 302, b"", {"Location": self.url + "/elsewhere"})
        elif mode == "hang":
            self.release.wait(60)
            handler.close_connection = True
        elif mode == "drip":
            # The status line, then a header a byte at a time: never a whole answer.
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(100):
                if self.release.wait(0.2):
                    break
                try:
                    handler.wfile.write(b"a")
                    handler.wfile.flush()
                except OSError:
                    break
            handler.close_connection = True
        elif mode == "huge":
            handler.send_response(200)
            handler.send_header("Content-Length", str(HUGE_BYTES))
            handler.end_headers()
            chunk = b"x" * 65536
            try:
                while self.sent_bytes < HUGE_BYTES:
                    handler.wfile.write(chunk)
                    self.sent_bytes += len(chunk)
            except OSError:
                pass
            handler.close_connection = True
        elif mode == "close":
            handler.close_connection = True  # no answer at all
        elif mode == "meet":
            # Held until a second "meet" request is in flight as well (or MEET_SECONDS pass),
            # then ok: proof that two senders were sending at once.
            with suppress(threading.BrokenBarrierError):
                self.meeting.wait(MEET_SECONDS)
            self._reply(handler, 200, b'{"ok":true}')
        elif mode == "wecom_ok":
            self._reply(handler, 200, b'{"errcode":0,"errmsg":"ok"}')
        elif mode == "wecom_bad_key":
            self._reply(handler, 200, b'{"errcode":93000,"errmsg":"invalid webhook url"}')
        else:
            raise AssertionError(f"unknown receiver mode {mode}")

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict | None = None
    ) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Until `count` requests came in (AssertionError after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.receipts) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"{len(self.receipts)} requests, expected {count}")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver on a loopback port, stopped (and every hang released) at the end."""
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
