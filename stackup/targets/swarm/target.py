"""Docker Swarm as a `Target`: the same stack file planned into swarm services
(`reconcile_swarm`), after the images to build (`--build`) and to push to
`x-stackup.registry`; the swarm steps carried out by `SwarmSteps`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from stackup.engine.interface import LockEngine
from stackup.errors import PlanError, UsageError
from stackup.loading.compat import warnings
from stackup.loading.loader import LoadedStack
from stackup.planning import salt
from stackup.planning.desired import image_ref, read_file_objects
from stackup.planning.images import build_operations
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Operation, Plan
from stackup.runner import Event, ExecuteOptions, Outcome, run
from stackup.targets.swarm.desired import SwarmOptions
from stackup.targets.swarm.down import plan_swarm_down
from stackup.targets.swarm.images import LocalImage, pushes
from stackup.targets.swarm.plan import reconcile_swarm
from stackup.targets.swarm.runner import SwarmSteps
from stackup.targets.swarm.steps import PushImage
from stackup.targets.target import (
    Capability,
    DownRequest,
    Listing,
    Logs,
    LogStream,
    Target,
    TargetKind,
    TargetSettings,
)

if TYPE_CHECKING:
    from stackup.engine.docker.swarm import DockerSwarm

# Flags of the single-engine target that mean nothing to a swarm.
_ENGINE_ONLY = ("force_recreate", "no_recreate", "renew_anon_volumes")


def _open(settings: TargetSettings) -> Target:
    from stackup.engine.docker.swarm import connect_swarm

    engine = connect_swarm(settings.docker_context)
    engine.require_manager()
    return SwarmTarget(engine, settings.wait_timeout)


def _key_warnings(loaded: LoadedStack) -> list[str]:
    return warnings(loaded.stack, loaded.source, swarm=True)


SWARM = TargetKind(
    name="swarm",
    # Its plans wait for the services to converge (no `up --wait` after them); its bind
    # sources are on its nodes, not looked at here.
    capabilities=frozenset({Capability.BUILD}),
    open=_open,
    refusal_hint="use the docker CLI against a swarm manager (`docker service ...`) for now",
    refusals={
        Capability.REVIEW: "--against and --base compare single-engine plans, not --target swarm"
    },
    blocked="in the stack file that Swarm cannot run",
    removed="removed project {project} from the swarm (named volumes are kept)",
    key_warnings=_key_warnings,
)


def _source(op: Operation) -> str:
    (step,) = op.steps
    assert isinstance(step, PushImage)
    return step.source


class SwarmTarget:
    name = SWARM.name
    kind = SWARM

    def __init__(self, engine: DockerSwarm, wait_timeout: float = 300.0) -> None:
        self.engine = engine
        self.steps = SwarmSteps(engine, engine.engine)
        self.wait_timeout = wait_timeout

    def lock_engine(self) -> LockEngine:
        return self.engine.engine  # the manager's engine

    def plan(self, loaded: LoadedStack, options: ReconcileOptions, *, adopt: bool = False) -> Plan:
        for flag in _ENGINE_ONLY:
            if getattr(options, flag):
                raise UsageError(f"--{flag.replace('_', '-')} has no meaning with --target swarm")
        if options.scale:
            raise UsageError("--scale: set deploy.replicas in the file for --target swarm")
        if adopt:
            raise UsageError("--adopt replaces containers on one engine, not on --target swarm")
        stack = loaded.stack
        selected = options.services or tuple(sorted(stack.services))
        registry = stack.stackup.registry
        local: dict[str, LocalImage | None] = {}
        if registry:
            for name in selected:
                local.setdefault(
                    image_ref(stack, name), self.engine.local_image(image_ref(stack, name))
                )
        builds = self._builds(loaded, selected, options)
        for op in builds:  # built anew, so pushed next, whatever was pushed before
            local[op.name] = ("", ())
        push_ops, digests = pushes(stack, selected, registry, local)
        if options.pull is None:  # planned again after the pushes: they are done
            push_ops = []
        built = {op.name: op.id for op in builds}  # a push of a built image waits for the build
        push_ops = [
            dataclasses.replace(op, after=(built[src],)) if (src := _source(op)) in built else op
            for op in push_ops
        ]
        swarm_options = SwarmOptions(
            services=options.services,
            remove_orphans=options.remove_orphans,
            # For a project with none on the swarm yet (stackup.planning.salt, rule 3).
            salt=options.salt if options.salt != salt.UNSET else salt.fresh(),
            file_objects=read_file_objects(stack),
            registry=registry,
            digests=digests,
            wait_timeout=self.wait_timeout,
        )
        plan = reconcile_swarm(
            stack, loaded.source, self.engine.observe_swarm(stack.name), swarm_options
        )
        return dataclasses.replace(plan, operations=(*builds, *push_ops, *plan.operations))

    def _builds(
        self, loaded: LoadedStack, selected: tuple[str, ...], options: ReconcileOptions
    ) -> list[Operation]:
        """With `--build`, each `build:` service's image, built here (the nodes get it
        through the registry)."""
        if options.pull is None or not options.build:
            return []
        return build_operations(loaded.stack, selected, (), always=True)

    def check(self, loaded: LoadedStack, plan: Plan) -> None:
        if plan.blockers:
            raise PlanError(
                f"{len(plan.blockers)} problem(s) in the stack file that Swarm cannot run; "
                "nothing was applied"
            )

    def plan_down(self, project: str, request: DownRequest) -> Plan:
        # Named volumes stay on a swarm: they live on the nodes that ran the tasks.
        return plan_swarm_down(self.engine.observe_swarm(project))

    def execute(
        self,
        plan: Plan,
        on_event: Callable[[Event], None],
        execute_options: ExecuteOptions,
        cancel: threading.Event,
    ) -> Outcome:
        return run(plan, self.steps, on_event, execute_options, cancel)

    def after_down(self, project: str) -> None:
        return None  # it keeps nothing about the services it removed

    def ps(self, project: str, services: tuple[str, ...], show_all: bool) -> Listing:
        """The tasks of the project's services (of `services`), running ones unless
        `show_all`."""
        observed = self.engine.observe_swarm(project)
        chosen = {
            s.name: s.service or s.name
            for s in observed.services
            if not services or s.service in services
        }
        rows = []
        for task in sorted(
            self.engine.tasks(sorted(chosen)),
            key=lambda t: (str(t.get("ServiceID")), int(t.get("Slot") or 0), str(t.get("ID"))),
        ):
            status = task.get("Status") or {}
            if not show_all and task.get("DesiredState") != "running":
                continue
            service_name = next(
                (s.name for s in observed.services if s.id == task.get("ServiceID")), "?"
            )
            slot = task.get("Slot")
            rows.append(
                {
                    "service": chosen.get(service_name, service_name),
                    "name": f"{service_name}.{slot}"
                    if slot
                    else f"{service_name}.{task.get('NodeID', '')[:12]}",
                    "state": str(status.get("State", "")),
                    "desired": str(task.get("DesiredState", "")),
                    "error": str(status.get("Err") or ""),
                    "node": str(task.get("NodeID", ""))[:12],
                    "id": str(task.get("ID", ""))[:12],
                }
            )
        columns = (
            ("SERVICE", "service"),
            ("TASK", "name"),
            ("STATE", "state"),
            ("DESIRED", "desired"),
            ("NODE", "node"),
            ("ERROR", "error"),
        )
        return Listing(columns, tuple(rows))

    def logs(
        self,
        project: str,
        services: tuple[str, ...],
        *,
        follow: bool,
        tail: int | None,
        timestamps: bool,
    ) -> Logs:
        def lines(name: str) -> Callable[[], Iterable[bytes]]:
            return lambda: self.engine.service_logs(
                name, follow=follow, tail=tail, timestamps=timestamps
            )

        names = sorted(
            s.name
            for s in self.engine.observe_swarm(project).services
            if not services or s.service in services
        )
        return Logs(tuple(LogStream(n, lines(n)) for n in names), coloured=False)

    def wait_ready(self, loaded: LoadedStack, services: tuple[str, ...], timeout: float) -> None:
        return None  # its plan waited for the services to converge
