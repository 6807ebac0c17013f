"""Production serving: gunicorn workers, at most one scheduler (in the master process) and one
delivery worker process beside them, which the master starts, restarts and stops."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

from supplychain.config import Config
from supplychain.errors import error_payload
from supplychain.request_line import GUNICORN_LIMIT, MESSAGE

GRACEFUL_SECONDS = 120


def _say_pdf_fonts() -> None:
    """Tell at start when labels and delivery notes cannot print Chinese (no CJK font)."""
    from supplychain.documents.fonts import INSTALL_HINT, cjk_font_status

    status = cjk_font_status()
    message = INSTALL_HINT if status == "missing" else "CJK font for PDF documents: ok"
    print(f"pdf_fonts: {status}. {message}", file=sys.stderr, flush=True)


# An invitation link carries a live code (`/activate/<code>`): never into the access log, neither
# as the path nor as the Referer of the form posted from that page.
_INVITE_PATH = re.compile(r"/activate/[^\s?#\"/]+")


def redact_invite_codes(text: str) -> str:
    """`text` with every `/activate/<code>` written `/activate/…`."""
    return _INVITE_PATH.sub("/activate/…", text)


class RedactingLogger(glogging.Logger):
    """gunicorn's logger; every value a log format may name (the request line, path, Referer,
    any header or environ value) written without codes."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        found = super().atoms(resp, req, environ, request_time)
        for key, value in found.items():
            if isinstance(value, str) and "/activate/" in value:
                found[key] = redact_invite_codes(value)
        return found


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from supplychain.app import create_app

        return create_app(Config())


def run_server(
    host: str, port: int, workers: int, threads: int, scheduler: bool, worker: bool = True
) -> None:
    """Run gunicorn (gthread workers); the scheduler, when wanted, lives in the master only, and
    so does the supervisor of the one delivery worker process."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": JsonErrorsWorker,
        # The app answers a line past 4094 bytes itself, in JSON (request_line.py).
        "limit_request_line": GUNICORN_LIMIT,
        "accesslog": "-",
        "logger_class": RedactingLogger,
        "timeout": 120,
        # A stopping worker finishes the workbook it is writing (a large tier takes a minute).
        "graceful_timeout": GRACEFUL_SECONDS,
        "worker_exit": _stop_background_runs,
    }
    if scheduler:
        # Workers learn that this deployment's scheduler lives in their master (for /healthz).
        os.environ["SUPPLYCHAIN_SCHEDULER"] = "master"
    else:
        os.environ["SUPPLYCHAIN_SCHEDULER"] = "external"
    delivery = DeliveryWorkerProcess() if worker else None
    _say_pdf_fonts()

    def when_ready(arbiter: Any) -> None:
        if scheduler:
            _start_scheduler_in_master(arbiter)
        if delivery is not None:
            delivery.start(arbiter)

    def on_exit(arbiter: Any) -> None:
        if delivery is not None:
            delivery.stop()

    options["when_ready"] = when_ready
    options["on_exit"] = on_exit
    _Gunicorn(options).run()


class JsonErrorsWorker(ThreadWorker):
    """gunicorn's gthread worker, answering a request line past even its maximum limit with
    the API's JSON 414 instead of gunicorn's HTML page (the path is unknown by then)."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(exc, LimitRequestLine):
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        body = json.dumps(error_payload(414, MESSAGE)).encode("utf-8")
        head = (
            "HTTP/1.1 414 URI Too Long\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("ascii") + body)
        except Exception:
            self.log.debug("Failed to send error message.")


class DeliveryWorkerProcess:
    """`supplychain worker` as a child of the gunicorn master: started when the server is
    ready, restarted if it dies, stopped (SIGTERM: it finishes its batch) when the server stops.

    A process of its own, not a thread in the master: the master forks web workers at any time,
    and a fork taken while a thread holds a connection pool's or a database driver's lock leaves
    the child with that lock held for ever. The worker also stops by itself when the master is
    gone (it watches its parent), so a killed server leaves no orphan delivering behind it."""

    RESTART_DELAYS = (1, 2, 5, 10, 30, 60)

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "supplychain.cli",
            "worker",
            "--parent-pid",
            str(os.getpid()),
        ]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def start(self, arbiter: Any) -> None:
        """Start the worker and a thread that restarts it when it dies."""
        with self._lock:
            self.process = self._spawn()
        arbiter.log.info("delivery worker started (pid %s)", self.process.pid)
        threading.Thread(
            target=self._supervise, args=(arbiter,), name="delivery-supervisor", daemon=True
        ).start()

    def _supervise(self, arbiter: Any) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = self.process
            assert process is not None
            started = time.monotonic()
            # gunicorn's SIGCHLD handler may reap it first; wait() still returns then.
            code = process.wait()
            if self._stopping.is_set():
                return
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            delay = self.RESTART_DELAYS[min(failures, len(self.RESTART_DELAYS) - 1)]
            arbiter.log.warning(
                "delivery worker (pid %s) exited with %s; restarting in %s s",
                process.pid,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = self._spawn()

    def stop(self, grace: float = GRACEFUL_SECONDS) -> None:
        """SIGTERM the worker and wait for its batch to end (SIGKILL after `grace` seconds)."""
        self._stopping.set()
        with self._lock:
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_background_runs(server: Any, worker: Any) -> None:
    """gunicorn's worker_exit hook: reconciliation runs still waiting in this worker are marked
    interrupted (the next request takes them up); the one being produced is finished."""
    from supplychain.services.reconciliation.background import stop_background

    dropped = stop_background(grace=GRACEFUL_SECONDS - 10)
    if dropped:
        server.log.info(
            "worker %s: %s queued reconciliation run(s) interrupted", worker.pid, dropped
        )


def _start_scheduler_in_master(arbiter: Any) -> None:
    """gunicorn's when_ready hook: exactly one scheduler, in the master, never in a worker."""
    from supplychain.app import create_app
    from supplychain.scheduler import start_scheduler

    start_scheduler(create_app(Config()))
