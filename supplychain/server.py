"""Production serving: gunicorn workers, with at most one scheduler, in the master process."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from supplychain.config import Config


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
    }
    # No periodic jobs exist yet (reconciliation schedules bring the first); `scheduler` is
    # accepted so deployments can already pass --no-scheduler to their web processes.
    del scheduler
    _Gunicorn(options).run()
