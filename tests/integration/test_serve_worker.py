"""`supplychain serve` runs exactly one delivery worker beside its web workers (never one per
web worker), restarts it when it dies, stops it with the server; `--no-worker` runs none."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.integration.test_webhook_delivery import deliveries, ping, register, wait_until

# Workers claim and record in transactions of their own (and other processes): real commits.
pytestmark = pytest.mark.committed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry)] = command
    return found


def _delivery_workers(pid: int) -> list[int]:
    return [child for child, command in _children(pid).items() if " worker " in command + " "]


def _serve(database_url: str, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SUPPLYCHAIN_REPORTS_DIR": str(tmp_path / "reports"),
        "SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    command = [sys.executable, "-m", "supplychain.cli", "serve", "--port", str(port)]
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [*command, "--workers", "3", "--no-scheduler", *extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return requests.get(base + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ready)
    return process, base


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_runs_one_delivery_worker_and_restarts_it(
    world, app, settings, receiver, database_url, tmp_path
):
    process, _base = _serve(database_url, tmp_path)
    try:
        wait_until(lambda: len(_delivery_workers(process.pid)) == 1)
        time.sleep(1)
        web_workers = [c for c in _children(process.pid) if c not in _delivery_workers(process.pid)]
        assert len(web_workers) == 3
        (first,) = _delivery_workers(process.pid)
        hook = register(world, receiver)
        ping(world, hook)
        wait_until(lambda: deliveries(app)[0].status == "succeeded")
        assert len(receiver.receipts) == 1

        os.kill(first, signal.SIGKILL)
        wait_until(lambda: _delivery_workers(process.pid) not in ([], [first]))
        assert len(_delivery_workers(process.pid)) == 1
        ping(world, hook)
        wait_until(lambda: len(receiver.receipts) == 2)
        (second,) = _delivery_workers(process.pid)
    finally:
        _stop(process)
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()
    wait_until(lambda: not Path(f"/proc/{second}").exists(), timeout=30)


def test_serve_no_worker_runs_none(database_url, tmp_path):
    process, base = _serve(database_url, tmp_path, "--no-worker")
    try:
        time.sleep(2)
        assert _delivery_workers(process.pid) == []
        assert len(_children(process.pid)) == 3
        # Without SUPPLYCHAIN_BASE_URL the issuer is the local server on the port served.
        if not os.environ.get("SUPPLYCHAIN_BASE_URL"):
            doc = requests.get(base + "/.well-known/openid-configuration", timeout=5).json()
            assert doc["issuer"] == "http://localhost:" + base.rsplit(":", 1)[1]
    finally:
        _stop(process)


def test_a_worker_process_lowers_its_priority():
    """`lower_priority` (what `supplychain worker` calls at start) renices the process to
    WORKER_NICE; 0 leaves it alone."""
    script = (
        "import os, types\n"
        "from supplychain.outbound.worker import lower_priority\n"
        "before = os.nice(0)\n"
        "lower_priority(types.SimpleNamespace(config={'WORKER_NICE': before + %d}))\n"
        "print(os.nice(0) - before)\n"
    )
    for wanted in (7, 0):
        out = subprocess.run(
            [sys.executable, "-c", script % wanted], capture_output=True, text=True, check=True
        ).stdout
        assert int(out) == wanted
