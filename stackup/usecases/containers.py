"""What works on a target's containers directly: `exec` (the container to run a command in)
and `run` (a one-off container, its dependencies first). Refused, in the target's own words,
by a target without the capability."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from stackup.engine.interface import Engine
from stackup.errors import UsageError
from stackup.loading.loader import LoadedStack
from stackup.targets.engine.oneoff import run_oneoff
from stackup.targets.target import Capability
from stackup.usecases.targets import AnyTarget, engine_of


def exec_container(
    target: AnyTarget, loaded: LoadedStack, service: str, index: int
) -> tuple[Engine, str]:
    """The engine and the running container of `service` (replica `index`) that `exec` runs
    a command in."""
    _, engine = engine_of(target, Capability.EXEC, "exec")
    for c in engine.observe(loaded.stack.name).containers:
        if c.service == service and c.number == index and not c.is_temporary:
            if c.state != "running":
                raise UsageError(
                    f"container {c.name} is not running ({c.state})", hint=f"stackup up {service}"
                )
            return engine, c.name
    raise UsageError(f"service {service} has no container {index}", hint=f"stackup up {service}")


def run(
    target: AnyTarget,
    loaded: LoadedStack,
    service: str,
    command: Sequence[str] | None,
    *,
    remove: bool,
    with_dependencies: bool,
    environment: Mapping[str, str],
    name: str | None,
    on_output: Callable[[bytes], object],
    on_message: Callable[[str], None],
) -> int:
    """`stackup run`: the one-off container's exit code
    (`stackup.targets.engine.oneoff.run_oneoff`)."""
    _, engine = engine_of(target, Capability.RUN, "run")
    return run_oneoff(
        loaded,
        engine,
        service,
        command,
        remove=remove,
        with_dependencies=with_dependencies,
        environment=environment,
        name=name,
        on_output=on_output,
        on_message=on_message,
    )
