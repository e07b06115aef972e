"""The one poll loop: waits for health, for a one-off or a check to exit, for swarm tasks.

`check` returns a value when the wait is over (or raises to fail it); `poll_until` returns
that value, or None when `timeout` passes or `cancel` is set first, and the caller says which
in its own words (`cancel.is_set()`). The pause between checks is `cancel.wait`, so Ctrl-C
ends a wait at once instead of after the interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(
    check: Callable[[], T | None],
    *,
    interval: float,
    timeout: float | None,
    cancel: threading.Event | None = None,
) -> T | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = cancel if cancel is not None else threading.Event()
    while True:
        result = check()
        if result is not None:
            return result
        if pause.is_set() or (deadline is not None and time.monotonic() > deadline):
            return None
        pause.wait(interval)
