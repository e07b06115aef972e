"""Validation in a throwaway container: a new container of a service's image, environment,
mounts and networks (`stackup.planning.throwaway_specs.validation_twin_spec`) runs one command (`nginx -t`), is
waited for, and is removed.

A single-file bind mount saved by rename (`sed -i`, most editors) is seen only by a new
container, so the new file is checked in one before the running container is replaced: by
`up` (a `CheckInThrowaway` step at the head of the recreate) and by `watch`."""

from __future__ import annotations

import threading

from stackup.engine.interface import (
    ContainerSpec,
    ContainerState,
    Engine,
    ExecResult,
)
from stackup.poll import poll_until

_DEADLINE_S = 60.0


def run_check(
    engine: Engine,
    spec: ContainerSpec,
    cancel: threading.Event | None = None,
    timeout_s: float | None = _DEADLINE_S,
) -> ExecResult:
    """Create and start `spec`, wait for it to exit (at most `timeout_s`, a minute unless
    said: a check that keeps running fails with exit -1), collect its output and remove it."""
    engine.remove_container(spec.name, volumes=True)  # a leftover of an interrupted check
    engine.create_container(spec)
    try:
        engine.start_container(spec.name)

        def exited() -> ContainerState | None:
            state = engine.inspect_container(spec.name)
            return state if state.status in ("exited", "dead") else None

        state = poll_until(exited, interval=0.02, timeout=timeout_s, cancel=cancel)
        output = b"".join(engine.logs(spec.name)).decode(errors="replace")
        return ExecResult(state.exit_code if state is not None else -1, output)
    finally:
        engine.remove_container(spec.name, volumes=True)
