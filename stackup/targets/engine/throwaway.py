"""Validation in a throwaway container: a new container of a service's image, environment,
mounts and networks runs one command (`nginx -t`), is waited for, and is removed.

A single-file bind mount saved by rename (`sed -i`, most editors) is seen only by a new
container, so the new file is checked in one before the running container is replaced: by
`up` (a `CheckInThrowaway` step at the head of the recreate) and by `watch`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from stackup.engine.interface import (
    ContainerSpec,
    ContainerState,
    Engine,
    ExecResult,
    NetworkAttachment,
)
from stackup.model import labels as L
from stackup.poll import poll_until

CHECK_LABEL = "io.stackup.watch-check"  # its value: the service checked
_DEADLINE_S = 60.0


def check_spec(
    base: ContainerSpec, project: str, service: str, command: Sequence[str]
) -> ContainerSpec:
    """The throwaway twin of `base`: same image, environment, mounts and networks; `command`
    instead of its own; no ports, aliases, health check, restart policy or fixed name, so it
    can run beside the container it checks for."""
    svc = base.service.model_copy(
        update={
            "command": list(command),
            "ports": [],
            "healthcheck": None,
            "restart": None,
            "deploy": None,
            "container_name": None,
        }
    )
    return dataclasses.replace(
        base,
        # A fixed name: a check left by a crash is removed by the next one (run_check).
        name=f"{base.name}_stackup-check",
        service=svc,
        labels={L.PROJECT: project, CHECK_LABEL: service},
        networks=tuple(NetworkAttachment(a.network) for a in base.networks),
        hostname=None,
    )


def run_check(
    engine: Engine, spec: ContainerSpec, cancel: threading.Event | None = None
) -> ExecResult:
    """Create and start `spec`, wait for it to exit (at most a minute: a check that keeps
    running fails with exit -1), collect its output and remove it."""
    engine.remove_container(spec.name, volumes=True)  # a leftover of an interrupted check
    engine.create_container(spec)
    try:
        engine.start_container(spec.name)

        def exited() -> ContainerState | None:
            state = engine.inspect_container(spec.name)
            return state if state.status in ("exited", "dead") else None

        state = poll_until(exited, interval=0.02, timeout=_DEADLINE_S, cancel=cancel)
        output = b"".join(engine.logs(spec.name)).decode(errors="replace")
        return ExecResult(state.exit_code if state is not None else -1, output)
    finally:
        engine.remove_container(spec.name, volumes=True)
