"""Ctrl-C during an apply: stop starting operations, let the running ones finish.

A KeyboardInterrupt raised wherever the main thread happens to be (inside a lock, a pool's
shutdown, a progress redraw) can leave worker threads waiting on conditions nobody will
cancel. So while an apply runs, SIGINT only sets the executor's cancel event; the executor
then drains and reports `interrupted`, and the CLI exits 130.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def cancel_on_sigint(cancel: threading.Event) -> Iterator[threading.Event]:
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
