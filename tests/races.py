"""Two schedulers racing on the reminder claims: scheduler A has claimed and sent but not yet
committed when B runs; B must wait on A's claims (PostgreSQL: the claim's unique index; SQLite:
the write lock) and then send nothing."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from supplychain.services.reminders import DueReminders, send_due_reminders


def two_schedulers(engine: Engine, now: datetime) -> tuple[DueReminders, DueReminders]:
    """What A and B each reminded, B having run while A's claims were uncommitted."""
    results = {}

    def scheduler_b():
        with Session(engine) as session:
            results["b"] = send_due_reminders(session, now)
            session.commit()

    with Session(engine) as first:
        results["a"] = send_due_reminders(first, now)
        other = threading.Thread(target=scheduler_b)
        other.start()
        time.sleep(0.5)
        assert other.is_alive(), "B must wait for A's claims"
        first.commit()
    other.join(timeout=30)
    return results["a"], results["b"]
