"""Python's cycle collector paused around work that builds many containers which live until it
ends (an import's rows, a PDF's pages): their number alone triggers full collections, each
walking every object of the process to find nothing, since that garbage is freed by reference
counting. Cycles made meanwhile are collected once the collector runs again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block and back as it was after it (whoever paused it resumes
    it, so it never stays off). A decorator (`@collector_paused()`) as well as a with-block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
