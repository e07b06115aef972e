"""`stackup` with fault injection, for crash tests: the CLI, with every mutating engine method
(`DockerEngine.MUTATING`, `DockerSwarm.MUTATING`) wrapped before `stackup.cli.main()` runs.

    python tests/engine/faulty_stackup.py ARGS...      (or `python -m tests.engine.faulty_stackup`
                                                        from the repository root)

Environment (read once, at start):
  STACKUP_TEST_KILL_AFTER_CALLS=k  SIGKILL this process right after the k-th mutating call
                                   completes (create, start, stop, remove, rename, kill,
                                   update, connect, disconnect, the network and volume
                                   create/remove calls, and the swarm service, config and
                                   secret calls), counted per process;
  STACKUP_TEST_CALL_LOG=/path      append each completed mutating call's name, one a line.

A call that raises is not counted. The production adapter only names its mutating methods; the
crash hooks live here, so nothing in `stackup` reads these variables or kills its own process.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

KILL_AFTER_ENV = "STACKUP_TEST_KILL_AFTER_CALLS"
CALL_LOG_ENV = "STACKUP_TEST_CALL_LOG"


def install(kill_after: int | None, call_log: str | None) -> None:
    """Wrap each mutating method of `DockerEngine` and `DockerSwarm`, once, where it is defined."""
    from stackup.engine.docker.engine import DockerEngine
    from stackup.engine.docker.swarm import DockerSwarm

    lock = threading.Lock()  # the executor calls the engine from a pool of threads
    done = 0

    def after(name: str) -> None:
        nonlocal done
        with lock:
            done += 1
            if call_log:
                with open(call_log, "a", encoding="utf-8") as f:
                    f.write(name + "\n")
            if kill_after is not None and done >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    def wrap(method: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            after(name)
            return result

        return wrapper

    for cls in (DockerEngine, DockerSwarm):
        for name in sorted(cls.MUTATING):
            if name in vars(cls):  # an inherited one is wrapped on its own class
                setattr(cls, name, wrap(vars(cls)[name], name))


def install_from_env() -> None:
    """`install` as the environment asks (see the module's docstring)."""
    limit = os.environ.get(KILL_AFTER_ENV)
    install(int(limit) if limit else None, os.environ.get(CALL_LOG_ENV) or None)


def main() -> None:
    install_from_env()
    from stackup.cli import main as stackup_main

    stackup_main()


if __name__ == "__main__":
    main()
