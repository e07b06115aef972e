"""One Docker engine as a `Target`: observe the project (with the live settings of its
containers), plan with `reconcile`, check before applying (engine version, blockers, ports,
build contexts), execute over the engine."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from stackup.engine.docker.connect import is_local, resolve
from stackup.engine.interface import Engine, LockEngine
from stackup.engine.observed import Observed, ObservedContainer
from stackup.engine.podman.engine import PodmanEngine
from stackup.errors import ApplyError, StackupError
from stackup.loading.compat import engine_errors
from stackup.loading.compat import warnings as engine_warnings
from stackup.loading.loader import LoadedStack
from stackup.planning import bindsources, shipping
from stackup.planning import salt as salt_policy
from stackup.planning.desired import desired_names, read_file_objects
from stackup.planning.graph import ResourceGraph, build_graph
from stackup.planning.options import ReconcileOptions, containers_needing_live_config
from stackup.planning.plan import Action, CreateContainer, Kind, Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.teardown import plan_down
from stackup.runner import Event, ExecuteOptions, Outcome, run
from stackup.targets.engine import configfiles
from stackup.targets.engine import shipping as ship_facts
from stackup.targets.engine.images import check_build_contexts
from stackup.targets.engine.preflight import HostPorts, engine_is_local, host_ports_of
from stackup.targets.engine.preflight import check as preflight_check
from stackup.targets.engine.steps import EngineSteps
from stackup.targets.engine.waits import wait_until_healthy
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


@dataclasses.dataclass(frozen=True)
class RemoteFiles:
    """For an engine on another host: the stack with its project's bind sources relocated to
    their shipped copies there, and the facts shipping is planned from
    (stackup.planning.shipping)."""

    original: LoadedStack
    relocated: shipping.Relocated
    facts: shipping.ShipFacts


def remote_files(loaded: LoadedStack, engine: Engine) -> RemoteFiles | None:
    """None for an engine on this machine: its bind sources are the files here."""
    if engine_is_local(engine):
        return None
    relocated = shipping.relocate(loaded.stack, str(loaded.project_directory))
    facts = ship_facts.read_facts(
        engine,
        loaded.stack.name,
        relocated.sources,
        loaded.project_directory,
        loaded.host_paths.allows,
    )
    return RemoteFiles(loaded, relocated, facts)


def plan_options(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions | None = None,
    remote: RemoteFiles | None = None,
) -> ReconcileOptions:
    """Options completed with what planning must read first (secret and config contents) and
    the salt for a project that has none on the engine yet: keyed with the engine's ID
    (`stackup.planning.salt`, rule 3)."""
    options = options or ReconcileOptions()
    name = loaded.stack.name
    salt = salt_policy.choose(
        given=options.salt, fallback=lambda: salt_policy.engine_keyed(engine.engine_id(), name)
    )
    here = remote.original if remote is not None else loaded
    # The config files reloads apply (stackup.planning.configstate): read here, so reconcile
    # stays pure; for a remote engine, the files here under the paths of their shipped copies.
    configs = configfiles.snapshot(
        here.stack,
        here.stack.services,
        here.project_directory,
        here.host_paths.allows,
    )
    if remote is not None:
        configs = shipping.remote_configs(configs, remote.relocated.sources, name)
    # What each bind source is on the host (stackup.planning.bindsources), read here too; the
    # sources of a remote engine are on its host, not here: not read.
    mounts = [
        m
        for m in bindsources.bind_sources(loaded.stack, loaded.stack.services)
        if loaded.host_paths.allows(Path(m.source))
    ]
    local = engine_is_local(engine)
    return dataclasses.replace(
        options,
        file_objects=read_file_objects(loaded.stack),
        salt=salt,
        configs=configs,
        bind_sources=bindsources.host_kinds(m.source for m in mounts) if local else None,
        in_place_refusal=options.in_place_refusal or in_place_refusal(engine_kind(engine)),
    )


def plan_on(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions | None = None,
    graph: ResourceGraph | None = None,
) -> Plan:
    """Observe `engine` and plan `loaded` against it: `reconcile` with the options completed
    (`plan_options`); `graph` when the caller has it already (a one-off run plans twice). For
    an engine on another host, the project's files travel first (`remote_files`)."""
    remote = remote_files(loaded, engine)
    return _reconciled(loaded, engine, plan_options(loaded, engine, options, remote), graph, remote)


def _reconciled(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions,
    graph: ResourceGraph | None = None,
    remote: RemoteFiles | None = None,
) -> Plan:
    graph = graph if graph is not None else build_graph(loaded.stack, loaded.source)
    stack = remote.relocated.stack if remote is not None else loaded.stack
    relocated = dataclasses.replace(loaded, stack=stack)
    observed = observe(relocated, engine, options)
    plan = reconcile(stack, graph, observed, options)
    if remote is None:
        return plan
    salt = salt_policy.choose(observed.labelled(), options.salt)
    ops = shipping.ship_operations(remote.relocated, remote.facts, observed, plan.services, salt)
    skipped = shipping.skipped_warnings(remote.relocated, remote.facts)
    return shipping.with_shipping(plan, remote.relocated, ops, skipped)


def created_images(plan: Plan) -> dict[str, str]:
    """The services this plan creates containers of, with the image each runs."""
    return {
        op.service: step.spec.image
        for op in plan.operations
        if op.service is not None
        for step in op.steps
        if isinstance(step, CreateContainer)
    }


def with_bind_source_blockers(loaded: LoadedStack, plan: Plan, kinds: dict[str, str]) -> Plan:
    """`plan`, refusing the bind mounts of the containers it creates that the engine would
    refuse half-way (a missing source with `create_host_path: false`), located."""
    found = bindsources.errors(
        loaded.stack, loaded.source, loaded.project_directory, kinds, created_images(plan)
    )
    if not found:
        return plan
    return dataclasses.replace(plan, blockers=(*plan.blockers, *found))


def _open(settings: TargetSettings) -> Target:
    from stackup.engine.podman.engine import connect_engine

    return EngineTarget(connect_engine(settings.docker_context))


def _key_warnings(loaded: LoadedStack) -> list[str]:
    return engine_warnings(loaded.stack, loaded.source)


def _placed(settings: TargetSettings) -> TargetKind:
    """`REMOTE_ENGINE` when the engine to connect to is on another machine (an `ssh://`
    address, TCP to another host), read from DOCKER_HOST or the context without connecting."""
    try:
        endpoints = resolve(settings.docker_context)
    except StackupError:
        return ENGINE  # a context that cannot be read: connecting says why
    return ENGINE if all(is_local(e.base_url) for e in endpoints) else REMOTE_ENGINE


ENGINE = TargetKind(
    name="engine",
    capabilities=frozenset(Capability),
    open=_open,
    key_warnings=_key_warnings,
    placed=_placed,
)

# The engine of another machine (over SSH): the same target, without what needs this
# machine: watch bind-mounts this machine's files and follows their events, and the bind
# sources stackup would check here are paths on the engine's host. Everything else goes
# through the engine's API (exec, logs, `up --attach`, `up --wait`, run, build with the
# local context) and works there; `exec` on a terminal hands over to the docker CLI through
# the command's own connection.
REMOTE_ENGINE = dataclasses.replace(
    ENGINE,
    capabilities=ENGINE.capabilities - {Capability.WATCH, Capability.HOST_BIND_SOURCES},
    refusals={Capability.WATCH: "watch needs the engine on this machine"},
    refusal_hints={
        Capability.WATCH: "bind mounts and file events are local: a remote engine's containers "
        "cannot see this machine's files change; run `stackup up` to deploy, or watch against "
        "a local engine"
    },
    placed=None,
)


def podman_kind(kind: TargetKind, release: str) -> TargetKind:
    """`kind` (local or remote) over a Podman engine (`release`: "Podman 4.3"): without
    in-place update, since Podman has no `POST /containers/{id}/update`. Its refusal is the
    reason a plan gives for recreating instead."""
    return dataclasses.replace(
        kind,
        capabilities=kind.capabilities - {Capability.IN_PLACE_UPDATE},
        refusals={
            **kind.refusals,
            Capability.IN_PLACE_UPDATE: f"{release} cannot update a running container; recreating",
        },
        placed=None,
    )


def engine_kind(engine: Engine) -> TargetKind:
    """The kind of the target over `engine`: the local one's, or a remote one's; on Podman,
    that kind without what Podman lacks."""
    kind = ENGINE if engine_is_local(engine) else REMOTE_ENGINE
    if isinstance(engine, PodmanEngine):
        kind = podman_kind(kind, engine.release)
    return kind


def in_place_refusal(kind: TargetKind) -> str:
    """Why `kind` recreates what an in-place update would apply; "" when it updates."""
    if kind.supports(Capability.IN_PLACE_UPDATE):
        return ""
    return kind.refusals.get(Capability.IN_PLACE_UPDATE, "the engine cannot update in place")


def _state(c: ObservedContainer) -> str:
    """`exited (3)`: how it ended, as `docker ps` shows it."""
    code = c.exit_code
    return f"{c.state} ({code})" if code is not None else c.state


class EngineTarget:
    name = ENGINE.name

    def __init__(self, engine: Engine, host_ports: HostPorts | None = None) -> None:
        self.engine = engine
        self.kind: TargetKind = engine_kind(engine)
        # Whether a process holds a host port: probed on this machine only for a local engine.
        self.host_ports = host_ports if host_ports is not None else host_ports_of(engine)

    def lock_engine(self) -> LockEngine:
        return self.engine

    def plan(self, loaded: LoadedStack, options: ReconcileOptions, *, adopt: bool = False) -> Plan:
        remote = remote_files(loaded, self.engine)
        options = plan_options(loaded, self.engine, options, remote)
        if adopt:
            names = desired_names(loaded.stack, options.services, options.scale)
            found = self.engine.unmanaged_containers(names)
            options = dataclasses.replace(options, adopt={c.name: c for c in found})
        plan = _reconciled(loaded, self.engine, options, remote=remote)
        return with_bind_source_blockers(loaded, plan, dict(options.bind_sources or {}))

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
        self._check_bind_mounts_over_images(loaded, plan)

    def _check_bind_mounts_over_images(self, loaded: LoadedStack, plan: Plan) -> None:
        """A bind source (a missing one is the directory the engine makes) must be of the kind
        the image holds at the target: a directory over a file, or a file over a directory,
        fails in the runtime once the container is created. Read from each image the plan's
        new containers run, once per image, for all its targets; an image this plan builds
        or pulls is read when `up` checks the plan made after it is there."""
        if not self.kind.supports(Capability.HOST_BIND_SOURCES):
            return  # its bind sources are on its own host
        created = created_images(plan)
        fetched = {op.name for op in plan.operations if op.kind == Kind.IMAGE}
        services = [s for s, image in created.items() if image not in fetched]
        mounts = bindsources.bind_sources(loaded.stack, services)
        if not mounts:
            return
        kinds = bindsources.host_kinds(m.source for m in mounts)
        targets = bindsources.image_targets(loaded.stack, services, kinds)
        wanted: dict[str, set[str]] = {}
        for service, paths in targets.items():
            wanted.setdefault(created[service], set()).update(paths)
        inside = {
            image: self.engine.image_path_kinds(image, sorted(paths))
            for image, paths in sorted(wanted.items())
        }
        image_kinds = {
            (service, path): inside[created[service]][path]
            for service, paths in targets.items()
            for path in paths
            if path in inside[created[service]]  # else unknown: an image the engine lacks
        }
        problems = bindsources.errors(
            loaded.stack, loaded.source, loaded.project_directory, kinds, services, image_kinds
        )
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ApplyError(problems[0] + more, hint="nothing was created")

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
        return run(plan, EngineSteps(self.engine), on_event, execute_options, cancel)

    def after_down(self, project: str) -> None:
        # The reload records of the containers removed (stackup.planning.configstate) go
        # with them: only those of the containers still there are kept.
        left = self.engine.observe(project).containers
        configfiles.prune_records(configfiles.store_dir(project), (c.id for c in left))

    def _health(self, c: ObservedContainer) -> str:
        """The container's health; on Podman with its age ("healthy, checked 3m ago"): Podman
        runs no checks without systemd, so it is as old as stackup's last run of the check."""
        if c.health and isinstance(self.engine, PodmanEngine):
            return f"{c.health}, {self.engine.health_checked(c.id)}"
        return c.health or ""

    def ps(self, project: str, services: tuple[str, ...], show_all: bool) -> Listing:
        rows = tuple(
            {
                "service": c.service,
                "name": c.name,
                "state": _state(c),
                "exit_code": c.exit_code,
                "health": self._health(c),
                "status": c.status,
                "image": c.image,
                "ports": list(c.ports),
                "id": c.id[:12],
            }
            for c in self.engine.observe(project).containers
            if (not services or c.service in services) and (show_all or c.state == "running")
        )
        columns = (
            ("SERVICE", "service"),
            ("NAME", "name"),
            ("STATE", "state"),
            ("HEALTH", "health"),
            ("PORTS", "ports"),
        )
        return Listing(columns, rows)

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
            return lambda: self.engine.logs(name, follow=follow, tail=tail, timestamps=timestamps)

        return Logs(
            tuple(
                LogStream(c.name, lines(c.name))
                for c in self.engine.observe(project).containers
                if (not services or c.service in services) and not c.is_temporary
            ),
            coloured=True,
        )

    def wait_ready(self, loaded: LoadedStack, services: tuple[str, ...], timeout: float) -> None:
        wait_until_healthy(self.engine, loaded.stack, services, timeout=timeout)
