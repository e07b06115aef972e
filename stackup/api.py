"""The public API and the use cases: plan a loaded stack against an engine, apply a plan;
`up`, `down` and `watch` whole, callable without the CLI (which only shows and asks).

loaded = stackup.load(LoadOptions(files=(Path("stack.yaml"),)))
engine = DockerEngine.from_env()
plan = stackup.plan(loaded, engine)
outcome = stackup.apply(plan, engine)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from stackup.engine.interface import Engine, PullEvent
from stackup.engine.observed import Observed
from stackup.errors import ApplyError, PlanError
from stackup.loading.compat import engine_errors
from stackup.loading.loader import LoadedStack
from stackup.planning import configstate
from stackup.planning import salt as S
from stackup.planning.desired import desired_names, read_file_objects
from stackup.planning.graph import ResourceGraph, build_graph
from stackup.planning.options import ReconcileOptions, containers_needing_live_config
from stackup.planning.plan import Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.render import plan_json
from stackup.planning.teardown import plan_down
from stackup.targets.engine.execute import Event, ExecuteOptions, Outcome, execute
from stackup.targets.engine.images import (
    ImageBuilder,
    build_images,
    images_to_build,
    images_to_pull,
    pull_images,
)
from stackup.targets.engine.lock import project_lock
from stackup.targets.engine.preflight import check as preflight_check

if TYPE_CHECKING:
    from stackup.watch.events import WatchConfig, WatchUI


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


def plan(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions | None = None,
    graph: ResourceGraph | None = None,
) -> Plan:
    options = plan_options(loaded, engine, options)
    graph = graph if graph is not None else build_graph(loaded.stack, loaded.source)
    return reconcile(loaded.stack, graph, observe(loaded, engine, options), options)


def apply(
    plan: Plan,
    engine: Engine,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
) -> Outcome:
    return execute(plan, engine, on_event, options)


# ----------------------------------------------------------------------------- use cases


@dataclass(frozen=True)
class UpRequest:
    """What `stackup up` is asked to do, without the CLI's words for it."""

    options: ReconcileOptions = field(default_factory=ReconcileOptions)
    pull: str = "missing"  # always | missing | never
    build: bool = False  # build every `build:` service, not only those without an image
    saved_plan: Mapping[str, object] | None = None  # `diff -o`'s JSON: apply only if current
    saved_plan_file: str = "the saved file"  # named in the refusal
    dry_run: bool = False
    parallel: int = 32
    wait_timeout: float = 300.0
    wait_lock: bool = True
    # Replace containers made outside stackup (docker run) that hold the stack's container
    # names with managed ones, keeping their volumes; the UI confirms (`up --adopt --yes`).
    adopt: bool = False


class ApplyUI(Protocol):
    """The caller's side of a use case that applies a plan: shows the plan and the progress."""

    def lock_wait(self, message: str) -> None: ...

    def planned(self, plan: Plan) -> None: ...

    def applying(self, plan: Plan) -> AbstractContextManager[Callable[[Event], None]]:
        """Entered around the apply; gives the sink of the executor's progress events."""
        ...


class UpUI(ApplyUI, Protocol):
    """`up`'s side besides: build and pull output, and the one question it asks."""

    def building(self, service: str, tag: str) -> None: ...

    def build_output(self, service: str, line: str) -> None: ...

    def pulling(self, image: str) -> None: ...

    def pull_progress(self, image: str, event: PullEvent) -> None: ...

    def pulled(self, image: str, image_id: str) -> None: ...

    def confirm_data_loss(self, plan: Plan) -> bool: ...

    def confirm_adoption(self, plan: Plan) -> bool: ...


@dataclass(frozen=True)
class Applied:
    plan: Plan
    outcome: Outcome


def up(
    loaded: LoadedStack,
    engine: Engine,
    request: UpRequest,
    ui: UpUI,
    cancel: threading.Event | None = None,
) -> Applied:
    """Converge the engine to the stack, under the project's lock: build and pull what is
    needed, plan against the images the containers will really get, refuse what is in the
    way (a saved plan no longer current, a taken port, unconfirmed data loss), then apply.
    Raises `PlanError`/`ApplyError` before anything is applied; a failure while applying is
    in the outcome."""
    with project_lock(
        engine.engine_id(), loaded.stack.name, wait=request.wait_lock, on_wait=ui.lock_wait
    ):
        plan = _plan_with_images(loaded, engine, request, ui)
        if request.saved_plan is not None:
            check_saved_plan(request.saved_plan, plan, request.saved_plan_file)
        ui.planned(plan)
        if request.dry_run:
            return Applied(plan, Outcome())
        preflight(plan, engine, loaded)
        if plan.destroys_data and not ui.confirm_data_loss(plan):
            names = ", ".join(op.name for op in plan.destroys_data)
            raise PlanError(
                f"the plan deletes the data in {names}; nothing was applied",
                hint="review `stackup diff`, then run `stackup up --yes` to accept",
            )
        if plan.adoptions and not ui.confirm_adoption(plan):
            names = ", ".join(str(op.adopts) for op in plan.adoptions)
            raise PlanError(
                f"the plan replaces {names}, made outside stackup; nothing was applied",
                hint="review the plan, then run `stackup up --adopt --yes` to accept",
            )
        if not plan.operations:
            return Applied(plan, Outcome())
        options = ExecuteOptions(
            parallel=request.parallel,
            wait_timeout=request.wait_timeout,
            allow_data_loss=True,  # confirmed above
        )
        with ui.applying(plan) as on_event:
            outcome = execute(plan, engine, on_event, options, cancel or threading.Event())
    return Applied(plan, outcome)


def _plan_with_images(loaded: LoadedStack, engine: Engine, request: UpRequest, ui: UpUI) -> Plan:
    """Plan after building and pulling what is needed (observing again if images changed),
    so the plan compares the image IDs the containers will really get."""
    options = plan_options(loaded, engine, request.options)
    if request.adopt:
        names = desired_names(loaded.stack, options.services, options.scale)
        found = engine.unmanaged_containers(names)
        options = dataclasses.replace(options, adopt={c.name: c for c in found})
    observed = observe(loaded, engine, options)
    selected = options.services or tuple(loaded.stack.services)
    to_build = images_to_build(loaded, selected, observed.images, always=request.build)
    changed = False
    if to_build:
        if not isinstance(engine, ImageBuilder):
            raise ApplyError(f"this engine cannot build images (needed by {', '.join(to_build)})")
        changed = bool(build_images(loaded, engine, to_build, ui.build_output, ui.building))
    to_pull = images_to_pull(loaded, selected, observed.images, request.pull)
    if to_pull:
        pull_images(engine, to_pull, ui.pull_progress, ui.pulling, ui.pulled)
        changed = True
    if changed:
        observed = observe(loaded, engine, options)
    return reconcile(loaded.stack, build_graph(loaded.stack, loaded.source), observed, options)


def check_saved_plan(saved: Mapping[str, object], plan: Plan, file: str) -> None:
    """`up --plan`: apply only if planning now gives exactly the saved plan, from the same
    engine state."""
    now = plan_json(plan)
    if saved.get("fingerprint") != now["fingerprint"]:
        raise PlanError(
            f"the engine's state changed since the plan in {file} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )
    if saved.get("operations") != now["operations"] or saved.get("project") != now["project"]:
        raise PlanError(
            f"the stack file changed since the plan in {file} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )


def preflight(plan: Plan, engine: Engine, loaded: LoadedStack) -> None:
    """Refuse before starting anything when something is in the way: keys newer than the
    engine, a blocker in the plan, a host port another process holds."""
    api_version = getattr(engine, "api_version", None)
    if isinstance(api_version, tuple):
        errors = engine_errors(loaded.stack, loaded.source, api_version, plan.services)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ApplyError(
                errors[0] + more,
                hint="upgrade the engine, or remove the key; nothing was started",
            )
    preflight_check(plan, engine, loaded.stack)


@dataclass(frozen=True)
class DownRequest:
    """`stackup down`: the project's containers and networks, and with `volumes` its named
    volumes (never external ones). `services` are the file's services when a file is at hand
    (containers of other services are orphans, kept unless `remove_orphans`); None works from
    labels alone."""

    services: frozenset[str] | None = None
    external_volumes: frozenset[str] = frozenset()
    volumes: bool = False
    remove_orphans: bool = False
    timeout: float | None = None
    wait_lock: bool = True


def down(
    project: str,
    engine: Engine,
    request: DownRequest,
    ui: ApplyUI,
    cancel: threading.Event | None = None,
) -> Applied:
    with project_lock(engine.engine_id(), project, wait=request.wait_lock, on_wait=ui.lock_wait):
        observed = engine.observe(project)
        orphans: frozenset[str] = frozenset()
        if request.services is not None and not request.remove_orphans:
            orphans = frozenset(
                c.service
                for c in observed.containers
                if c.service and c.service not in request.services
            )
        plan = plan_down(
            observed,
            volumes=request.volumes,
            timeout=request.timeout,
            keep_services=orphans,
            keep_volumes=request.external_volumes,
        )
        ui.planned(plan)
        if not plan.operations:
            return Applied(plan, Outcome())
        # Stops mostly wait on the container (its grace period): all at once, as Compose does
        # (its limit is 64). Only `volumes` plans volume removals: the request is the consent.
        options = ExecuteOptions(parallel=64, allow_data_loss=True)
        with ui.applying(plan) as on_event:
            outcome = execute(plan, engine, on_event, options, cancel or threading.Event())
    return Applied(plan, outcome)


def watch(config: WatchConfig, ui: WatchUI, stop: threading.Event | None = None) -> None:
    """Keep a stack live until `stop` is set (or Ctrl-C): each burst of file events is
    classified (pure, `stackup.watch.reload`), then reloads, syncs or a re-plan are applied
    (`stackup.watch.loop`)."""
    from stackup.watch.loop import run_watch

    run_watch(config, ui, stop)
