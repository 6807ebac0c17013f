"""Production serving: gunicorn workers, with at most one scheduler, in the master process."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication

from supplychain.config import Config

GRACEFUL_SECONDS = 120


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


def run_server(host: str, port: int, workers: int, threads: int, scheduler: bool) -> None:
    """Run gunicorn (gthread workers); the scheduler, when wanted, lives in the master only."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 120,
        # A stopping worker finishes the workbook it is writing (a large tier takes a minute).
        "graceful_timeout": GRACEFUL_SECONDS,
        "worker_exit": _stop_background_runs,
    }
    if scheduler:
        # Workers learn that this deployment's scheduler lives in their master (for /healthz).
        os.environ["SUPPLYCHAIN_SCHEDULER"] = "master"
        options["when_ready"] = _start_scheduler_in_master
    else:
        os.environ["SUPPLYCHAIN_SCHEDULER"] = "external"
    _Gunicorn(options).run()


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
