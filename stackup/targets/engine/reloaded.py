"""When a reload is live: seen in the container's process list (the Engine API's `top`, so it
works on any engine, a remote one included).

A reload signal returns as soon as it is delivered; nginx then reads its config, starts a new
generation of worker processes, sleeps 100 ms ("allow new processes to start", in its master
loop) and only then tells the old workers to stop accepting. Until that, a new connection may
still reach an old worker and get the old config. So a reload is live when

* a new worker exists: a process that was not there before, started by one that was (the
  master, whatever runs above it: an init such as `docker run --init` is fine), and
* every old worker of that master is gone or no longer accepts: nginx retitles a worker
  that stopped accepting "worker process is shutting down", in the same step as it closes
  its listening sockets.

Old workers are not waited for to exit: one may serve a long download or a WebSocket for as
long as it lasts (nginx's `worker_shutdown_timeout` is unset by default), and it takes no new
connection meanwhile. Processes run by `docker exec` have no parent in the container, so they
are never taken for workers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from stackup.engine.interface import ContainerProcess, Engine
from stackup.errors import ApplyError
from stackup.poll import poll_until

CONFIRM_TIMEOUT = 10.0  # seconds for a new generation of workers to take over
# `top` is one request (and a `ps` on the engine's host): tight enough that the wait adds
# little to nginx's own 100 ms, loose enough not to load a shared engine.
CONFIRM_INTERVAL = 0.01
SHUTTING_DOWN = "shutting down"


def new_generation_live(
    before: Sequence[ContainerProcess], now: Sequence[ContainerProcess]
) -> bool:
    """Whether `now` shows a new generation of workers serving in place of `before`'s."""
    old = {p.pid: p for p in before}
    masters = {p.ppid for p in now if p.pid not in old and p.ppid in old}
    if not masters:
        return False
    current = {p.pid: p for p in now}
    for master in masters:
        for worker in (p for p in before if p.ppid == master):
            still = current.get(worker.pid)
            if still is not None and SHUTTING_DOWN not in still.command:
                return False
    return True


def wait_until_live(
    engine: Engine,
    container: str,
    before: Sequence[ContainerProcess],
    cancel: threading.Event,
    *,
    timeout: float = CONFIRM_TIMEOUT,
    interval: float = CONFIRM_INTERVAL,
) -> None:
    """Wait until `container` runs a new generation of workers (see the module); raise an
    `ApplyError` naming the container when none takes over within `timeout`."""
    seen = poll_until(
        lambda: True if new_generation_live(before, engine.processes(container)) else None,
        interval=interval,
        timeout=timeout,
        cancel=cancel,
    )
    if seen is not None:
        return
    if cancel.is_set():
        raise ApplyError(f"interrupted while waiting for {container} to load its new config")
    raise ApplyError(
        f"container {container} did not load its new config within {timeout:g}s: no new "
        "generation of worker processes took over from the old one in its process list "
        "(it may still serve the old config; see `stackup logs`)"
    )
