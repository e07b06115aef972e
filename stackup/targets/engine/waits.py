"""`up --wait`: block until every container of the selected services runs and, where it has a
healthcheck, is healthy; fail naming the service and its last health output."""

from __future__ import annotations

from collections.abc import Iterable

from stackup.engine.interface import Engine
from stackup.errors import ApplyError
from stackup.model.spec import Stack
from stackup.poll import poll_until


def wait_until_healthy(
    engine: Engine, stack: Stack, services: Iterable[str], *, timeout: float, poll: float = 0.25
) -> None:
    observed = engine.observe(stack.name)
    pending = {
        c.name: c.service or ""
        for c in observed.containers
        if c.service in set(services) and not c.is_temporary
    }
    one_shot = _one_shot_services(stack)

    def all_ready() -> bool | None:
        for name, service in sorted(pending.items()):
            state = engine.inspect_container(name)
            if state.status == "exited" and service in one_shot and state.exit_code == 0:
                del pending[name]
            elif state.status in ("exited", "dead"):
                raise ApplyError(
                    f"service {service}: container {name} exited with code {state.exit_code}"
                )
            elif state.health == "unhealthy":
                raise ApplyError(
                    f"service {service} is unhealthy: {state.health_log or 'no health output'}",
                    hint=f"see `stackup logs {service}`",
                )
            elif state.status == "running" and state.health in (None, "healthy"):
                del pending[name]
        return True if not pending else None

    if poll_until(all_ready, interval=poll, timeout=timeout) is None:
        name, service = sorted(pending.items())[0]
        state = engine.inspect_container(name)
        raise ApplyError(
            f"service {service} is not healthy after {timeout:g}s (state {state.status}, "
            f"health {state.health}): {state.health_log or 'no health output'}"
        )


def _one_shot_services(stack: Stack) -> set[str]:
    return {
        dep
        for service in stack.services.values()
        for dep, cond in service.depends_on.items()
        if cond.condition == "service_completed_successfully"
    }
