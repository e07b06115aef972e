"""Pausing the cyclic garbage collector around work that allocates many short-lived, acyclic
values (planning, modelling a base revision): with the collector on, a full collection in the
middle walks the whole heap (the loaded stacks, the snapshot), so the time grew faster than the
stack (5,000 services took well over 5 x 1,000). Reference counting still frees everything; the
collector resumes afterwards, and a pause inside a pause is a no-op."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
