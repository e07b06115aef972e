"""Waiting for a container to meet a condition: a depends_on condition before its dependents
start, or a rollout's `service_ready` gate. One poll loop (stackup.poll) over inspects."""

from __future__ import annotations

import threading
from typing import Protocol

from stackup.engine.interface import ContainerState, Engine
from stackup.errors import ApplyError, EngineError
from stackup.planning.plan import WaitFor
from stackup.poll import poll_until


class WaitOptions(Protocol):
    @property
    def wait_timeout(self) -> float: ...

    @property
    def poll_interval(self) -> float: ...


def wait_for_condition(
    engine: Engine, step: WaitFor, container: str, options: WaitOptions, cancel: threading.Event
) -> None:
    """Block until `container` meets a depends_on condition, or raise with the reason."""
    last: list[ContainerState] = []

    def met() -> bool | None:
        try:
            state = engine.inspect_container(container)
        except EngineError:
            if not step.required:
                return True
            raise ApplyError(f"{step.service}: container {container} does not exist") from None
        last[:] = [state]
        if step.condition == "service_started":
            if state.status in ("running", "exited", "restarting"):
                return True
        elif step.condition == "service_healthy":
            if state.health == "healthy":
                return True
            if state.health is None:
                raise ApplyError(
                    f"{step.service} has no healthcheck, so it can never be healthy",
                )
            if state.health == "unhealthy" or state.status == "exited":
                raise ApplyError(
                    f"{step.service} is {state.health or state.status}: {state.health_log or 'no health output'}"
                )
        elif step.condition == "service_ready":
            # A rollout's gate: healthy if it has a healthcheck (the image's counts too), else
            # running; exited or unhealthy fails at once, with what the container said.
            if state.health == "healthy" or (state.health is None and state.status == "running"):
                return True
            if state.health == "unhealthy" or state.status in ("exited", "dead"):
                output = (
                    state.health_log
                    or b"".join(engine.logs(container, tail=10)).decode(errors="replace").strip()
                )
                raise ApplyError(
                    f"{step.service}: the new container {container} is "
                    f"{state.health or state.status}: {output or 'no output'}"
                )
        elif step.condition == "service_completed_successfully" and state.status in (
            "exited",
            "dead",
        ):
            if state.exit_code == 0:
                return True
            tail = b"".join(engine.logs(container, tail=10)).decode(errors="replace").strip()
            raise ApplyError(
                f"{step.service} exited with code {state.exit_code}"
                + (f"; last log lines:\n{tail}" if tail else "")
            )
        return None

    timeout = step.timeout if step.timeout is not None else options.wait_timeout
    if poll_until(met, interval=options.poll_interval, timeout=timeout, cancel=cancel):
        return
    if cancel.is_set():
        raise ApplyError(f"interrupted while waiting for {step.service}")
    (state,) = last
    raise ApplyError(
        f"timed out after {timeout:g}s waiting for {step.service} "
        f"({step.condition}); last state: {state.status}"
        + (f", health {state.health}: {state.health_log}" if state.health else "")
    )
