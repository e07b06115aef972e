"""One-off containers of a service (`stackup run`): one plan brings up the dependencies as any
`up` would, creates the service's missing networks and volumes (and its image), then creates
and starts a container with the service's settings and another command; its output is then
streamed until it exits."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence

from stackup.engine.interface import Engine
from stackup.errors import ApplyError
from stackup.loading.loader import LoadedStack
from stackup.model import labels
from stackup.planning import salt as salt_policy
from stackup.planning import shipping
from stackup.planning.desired import desired_containers, read_file_objects
from stackup.planning.graph import build_graph, dependencies
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import (
    Action,
    CreateContainer,
    Kind,
    Operation,
    Plan,
    RemoveContainer,
    StartContainer,
)
from stackup.poll import poll_until
from stackup.targets.engine.execute import execute
from stackup.targets.engine.lock import project_lock
from stackup.targets.engine.preflight import engine_is_local
from stackup.targets.engine.target import plan_on


def oneoff_plan(
    loaded: LoadedStack,
    engine: Engine,
    service: str,
    command: Sequence[str] | None,
    *,
    with_dependencies: bool,
    environment: Mapping[str, str],
    name: str | None,
    remove: bool = False,
) -> tuple[Plan, str]:
    """The plan of a one-off run, and its container's name: the dependencies brought up as
    `up` would, the service's missing networks and volumes created (changing one is `up`'s
    business), then the one-off container created and started after all of that."""
    stack = loaded.stack
    graph = build_graph(stack, loaded.source)
    deps = tuple(d for d, _ in dependencies(graph, service))
    ops: dict[str, Operation] = {}
    if with_dependencies and deps:
        for op in plan_on(loaded, engine, ReconcileOptions(services=deps), graph).operations:
            ops[op.id] = op
    # The service's own network must exist even when the service itself never ran.
    own = plan_on(
        loaded, engine, ReconcileOptions(services=(service,), with_dependencies=False), graph
    )
    for op in own.operations:
        if (
            op.kind in (Kind.NETWORK, Kind.VOLUME, Kind.IMAGE)
            and op.action
            in (
                Action.CREATE,
                Action.PULL,
                Action.BUILD,
            )
        ) or op.action == Action.SHIP:
            ops.setdefault(op.id, op)
    observed = engine.observe(stack.name)
    # The project's salt, as `up` chooses it (stackup.planning.salt): its resources', else the
    # one keyed with the engine's ID, which the dependencies planned above get too.
    salt = salt_policy.choose(
        observed.labelled(),
        fallback=lambda: salt_policy.engine_keyed(engine.engine_id(), stack.name),
    )
    # On a remote engine, the one-off container mounts the shipped copies of the files.
    here = engine_is_local(engine)
    mounts = stack if here else shipping.relocate(stack, str(loaded.project_directory)).stack
    base = desired_containers(mounts, service, 1, salt, read_file_objects(stack))[0].spec
    svc = base.service
    if command is not None:
        svc = svc.model_copy(update={"command": list(command)})
    cname = name or f"{stack.name}-{service}-run-{secrets.token_hex(4)}"
    spec = dataclasses.replace(
        base,
        name=cname,
        service=svc.model_copy(update={"container_name": None, "ports": [], "restart": None}),
        environment={**base.environment, **environment},
        labels={**base.labels, labels.ONEOFF: "true"},
    )
    run = Operation(
        id=f"container:{cname}",
        action=Action.CREATE,
        kind=Kind.CONTAINER,
        name=cname,
        service=service,
        reason=f"one-off run of {service}",
        steps=(CreateContainer(spec), StartContainer(cname)),
        after=tuple(sorted(ops)),
        # `run --rm`: a container that cannot start goes too (one never created is not touched:
        # the name may be another container's).
        restore=(RemoveContainer(cname, volumes=True),) if remove else (),
        restore_from=1,
        restore_to=2,
    )
    plan = Plan(stack.name, (*ops.values(), run), services=(service,))
    return plan, cname


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
    on_message: Callable[[str], None],
) -> int:
    """Apply the one-off plan under the project's lock, then stream the container's output
    until it exits; returns its exit code."""
    with project_lock(engine, loaded.stack.name, on_wait=on_message):
        plan, cname = oneoff_plan(
            loaded,
            engine,
            service,
            command,
            with_dependencies=with_dependencies,
            environment=environment,
            name=name,
            remove=remove,
        )
        deps = sorted(
            {op.service for op in plan.operations if op.service and op.service != service}
        )
        if deps:
            on_message(f"starting dependencies: {', '.join(deps)}")
        outcome = execute(plan, engine)
    try:
        if not outcome.ok:
            run_id = f"container:{cname}"
            failed = {k: v for k, v in outcome.failed.items() if k != run_id}
            if failed or outcome.skipped:
                raise ApplyError(f"dependencies of {service} failed: {failed or outcome.skipped}")
            raise ApplyError(f"{cname}: {outcome.failed.get(run_id)}")
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
        if remove and outcome.ok:  # it ran (a failed start was removed by the plan)
            engine.remove_container(cname, volumes=True)
