"""One Docker engine as a `Target`: observe the project (with the live settings of its
containers), plan with `reconcile`, check before applying (engine version, blockers, ports,
build contexts), execute over the engine."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from stackup.engine.interface import Engine
from stackup.engine.observed import Observed
from stackup.errors import ApplyError
from stackup.loading.compat import engine_errors
from stackup.loading.loader import LoadedStack
from stackup.planning import configstate
from stackup.planning import salt as S
from stackup.planning.desired import desired_names, read_file_objects
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions, containers_needing_live_config
from stackup.planning.plan import Action, Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.teardown import plan_down
from stackup.targets.engine.execute import Event, ExecuteOptions, Outcome, execute
from stackup.targets.engine.images import check_build_contexts
from stackup.targets.engine.preflight import HostPorts, host_ports_of
from stackup.targets.engine.preflight import check as preflight_check
from stackup.targets.target import DownRequest


def observe(loaded: LoadedStack, engine: Engine, options: ReconcileOptions) -> Observed:
    """One snapshot of the project, plus the live in-place-updatable settings of each of its
    service containers: `docker update` (ours, or one by hand) leaves the applied-spec label
    as it was, so only the container itself says what it runs with."""
    observed = engine.observe(loaded.stack.name)
    need = containers_needing_live_config(loaded.stack, observed, options)
    if not need:
        return observed
    live = engine.live_configs(need)
    containers = tuple(
        dataclasses.replace(c, live=live[c.id]) if c.id in live else c for c in observed.containers
    )
    return dataclasses.replace(observed, containers=containers)


def plan_options(
    loaded: LoadedStack, engine: Engine, options: ReconcileOptions | None = None
) -> ReconcileOptions:
    """Options completed with what planning must read first (secret and config contents) and
    the salt for a project that has none on the engine yet: keyed with the engine's ID
    (`stackup.planning.salt`, rule 3)."""
    options = options or ReconcileOptions()
    name = loaded.stack.name
    salt = S.choose(given=options.salt, fallback=lambda: S.engine_keyed(engine.engine_id(), name))
    # The config files reloads apply (stackup.planning.configstate): read here, so reconcile stays pure.
    configs = configstate.snapshot(loaded.stack, loaded.stack.services, loaded.project_directory)
    return dataclasses.replace(
        options, file_objects=read_file_objects(loaded.stack), salt=salt, configs=configs
    )


class EngineTarget:
    name = "engine"

    def __init__(self, engine: Engine, host_ports: HostPorts | None = None) -> None:
        self.engine = engine
        # Whether a process holds a host port: probed on this machine only for a local engine.
        self.host_ports = host_ports if host_ports is not None else host_ports_of(engine)

    def lock_id(self) -> str:
        return self.engine.engine_id()

    def plan(self, loaded: LoadedStack, options: ReconcileOptions, *, adopt: bool = False) -> Plan:
        options = plan_options(loaded, self.engine, options)
        if adopt:
            names = desired_names(loaded.stack, options.services, options.scale)
            found = self.engine.unmanaged_containers(names)
            options = dataclasses.replace(options, adopt={c.name: c for c in found})
        graph = build_graph(loaded.stack, loaded.source)
        return reconcile(loaded.stack, graph, observe(loaded, self.engine, options), options)

    def check(self, loaded: LoadedStack, plan: Plan) -> None:
        """Keys newer than the engine, a blocker in the plan, a host port another process
        holds, a build context that is not a directory."""
        api_version = getattr(self.engine, "api_version", None)
        if isinstance(api_version, tuple):
            errors = engine_errors(loaded.stack, loaded.source, api_version, plan.services)
            if errors:
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                raise ApplyError(
                    errors[0] + more,
                    hint="upgrade the engine, or remove the key; nothing was started",
                )
        preflight_check(plan, self.engine, loaded.stack, self.host_ports)
        builds = (op.service for op in plan.operations if op.action == Action.BUILD)
        check_build_contexts(loaded, (s for s in builds if s))

    def plan_down(self, project: str, request: DownRequest) -> Plan:
        observed = self.engine.observe(project)
        orphans: frozenset[str] = frozenset()
        if request.services is not None and not request.remove_orphans:
            orphans = frozenset(
                c.service
                for c in observed.containers
                if c.service and c.service not in request.services
            )
        return plan_down(
            observed,
            volumes=request.volumes,
            timeout=request.timeout,
            keep_services=orphans,
            keep_volumes=request.external_volumes,
        )

    def execute(
        self,
        plan: Plan,
        on_event: Callable[[Event], None],
        execute_options: ExecuteOptions,
        cancel: threading.Event,
    ) -> Outcome:
        return execute(plan, self.engine, on_event, execute_options, cancel)
