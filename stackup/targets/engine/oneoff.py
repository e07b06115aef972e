"""One-off containers of a service (`stackup run`): dependencies started through a plan like
any `up`, then a container with the service's settings and another command."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence

from stackup import api
from stackup.engine.interface import Engine
from stackup.errors import ApplyError
from stackup.loading.loader import LoadedStack
from stackup.model import labels as L
from stackup.planning import salt as S
from stackup.planning.desired import desired_containers, read_file_objects
from stackup.planning.graph import build_graph, dependencies
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action
from stackup.poll import poll_until
from stackup.targets.engine.execute import execute


def run_oneoff(
    loaded: LoadedStack,
    engine: Engine,
    service: str,
    command: Sequence[str] | None,
    *,
    remove: bool,
    with_dependencies: bool,
    environment: Mapping[str, str],
    name: str | None,
    on_output: Callable[[bytes], object],
    on_message: Callable[[str], object],
) -> int:
    stack = loaded.stack
    graph = build_graph(stack, loaded.source)
    deps = tuple(d for d, _ in dependencies(graph, service))
    if with_dependencies and deps:
        plan = api.plan(loaded, engine, ReconcileOptions(services=deps), graph)
        if plan.operations:
            on_message(f"starting dependencies: {', '.join(deps)}")
            outcome = execute(plan, engine)
            if not outcome.ok:
                raise ApplyError(
                    f"dependencies of {service} failed: {outcome.failed or outcome.skipped}"
                )
    # The service's own network needs to exist even when the service itself never ran.
    net_plan = api.plan(
        loaded, engine, ReconcileOptions(services=(service,), with_dependencies=False), graph
    )
    # Only what is missing is created here; changing a network or volume is `up`'s business.
    network_ops = [
        op
        for op in net_plan.operations
        if op.kind.value in ("network", "volume") and op.action == Action.CREATE
    ]
    if network_ops:
        execute(dataclasses.replace(net_plan, operations=tuple(network_ops)), engine)
    observed = engine.observe(stack.name)
    # The project's salt, as `up` would choose it (stackup.planning.salt); a fresh one if it has none.
    salt = S.choose(observed.labelled(), fallback=S.fresh)
    base = desired_containers(stack, service, 1, salt, read_file_objects(stack))[0].spec
    svc = base.service
    if command is not None:
        svc = svc.model_copy(update={"command": list(command)})
    cname = name or f"{stack.name}-{service}-run-{secrets.token_hex(4)}"
    spec = dataclasses.replace(
        base,
        name=cname,
        service=svc.model_copy(update={"container_name": None, "ports": [], "restart": None}),
        environment={**base.environment, **environment},
        labels={**base.labels, L.ONEOFF: "true"},
    )
    engine.create_container(spec)
    try:
        engine.start_container(cname)
        for line in engine.logs(cname, follow=True):
            on_output(line)

        # The log stream ends when the process does; the engine may report the exit a moment later.
        def exited() -> int | None:
            state = engine.inspect_container(cname)
            return None if state.status in ("running", "restarting") else state.exit_code

        code = poll_until(exited, interval=0.05, timeout=None)
        assert code is not None  # no timeout, no cancel: only an exit ends the wait
        return code
    finally:
        if remove:
            engine.remove_container(cname, volumes=True)
