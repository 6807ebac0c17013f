"""The process's background producer: runs asked for without waiting are produced here.

One at a time per process (each is CPU-bound openpyxl work; the claim row still keeps every run
exactly-once across processes), at most MAX_QUEUED waiting (so none waits anywhere near
runs.STALE_AFTER). Made on first use, so a forked web worker gets its own. It only schedules and
stops: what a run is, and how it is produced or interrupted, the caller passes in (runs.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Any

from supplychain.models import ReconciliationRun

MAX_QUEUED = 8


@dataclass
class _Background:
    pid: int
    executor: ThreadPoolExecutor
    # run id -> (its future, how to mark it interrupted from a given status)
    pending: dict[int, tuple[Future[ReconciliationRun | None], Callable[[str], bool]]]


_background: _Background | None = None
_background_lock = threading.Lock()


def submit(
    run_id: int,
    produce: Callable[[], ReconciliationRun | None],
    interrupt: Callable[[str], bool],
) -> Future[ReconciliationRun | None]:
    """Queue `produce` for a claimed run; `interrupt(status)` marks the run interrupted (True
    if it still held its claim in that status) should the process stop before it is done."""
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation-run")
            _background = _Background(os.getpid(), executor, {})
        future = _background.executor.submit(produce)
        pending = _background.pending
        pending[run_id] = (future, interrupt)
    # Outside the lock: a future done already runs its callback here, at once.
    future.add_done_callback(lambda _: _forget(pending, run_id))
    return future


def _forget(pending: dict[int, Any], run_id: int) -> None:
    with _background_lock:
        pending.pop(run_id, None)


def queue_is_full() -> bool:
    """More than MAX_QUEUED runs wait or are being produced in this process."""
    with _background_lock:
        return (
            _background is not None
            and _background.pid == os.getpid()
            and len(_background.pending) > MAX_QUEUED
        )


def drain_background(timeout: float) -> bool:
    """Wait until this process has no run waiting or being produced; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _background_lock:
            futures = [] if _background is None else [p[0] for p in _background.pending.values()]
        if not futures:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        wait_for(futures, timeout=left)


def stop_background(grace: float = 0.0) -> int:
    """On shutdown: runs still waiting are marked interrupted (failed, audited), so the next
    request takes them up at once instead of after runs.STALE_AFTER; the one being produced gets
    `grace` seconds to finish, else it is marked interrupted too and loses its claim (its
    thread dies with the process). Returns how many were interrupted. gunicorn calls this from
    its worker_exit hook."""
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():
            return 0
        stopping, _background = _background, None
    waiting = list(stopping.pending.values())
    # Outside the lock: cancelling runs the futures' done-callbacks, which take it.
    stopping.executor.shutdown(wait=False, cancel_futures=True)
    interrupted = 0
    for future, interrupt in waiting:  # first the ones that will never start
        if future.cancelled():
            interrupted += interrupt("queued")
    unfinished = [item for item in waiting if not item[0].done()]
    if unfinished and grace > 0:
        wait_for([item[0] for item in unfinished], timeout=grace)
    for future, interrupt in unfinished:
        if not future.done():
            interrupted += interrupt("running")
    return interrupted
