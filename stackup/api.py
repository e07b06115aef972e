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

from stackup.engine.interface import Engine
from stackup.engine.observed import Observed
from stackup.errors import ApplyError, PlanError
from stackup.loading.compat import engine_errors
from stackup.loading.loader import LoadedStack
from stackup.planning import configstate
from stackup.planning import salt as S
from stackup.planning.desired import desired_names, read_file_objects
from stackup.planning.graph import ResourceGraph, build_graph
from stackup.planning.options import ReconcileOptions, containers_needing_live_config
from stackup.planning.plan import Action, Kind, Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.render import plan_json
from stackup.planning.teardown import plan_down
from stackup.targets.engine.execute import Event, ExecuteOptions, Outcome, execute
from stackup.targets.engine.images import check_build_contexts
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

    options: ReconcileOptions = field(default_factory=ReconcileOptions)  # pull, build, ...
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
    """`up`'s side besides: the questions it asks. (Build output and pull progress are
    events of the plan's image operations.)"""

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
    """Converge the engine to the stack, under the project's lock: plan (the images to build
    and pull first, then the containers), refuse what is in the way (a saved plan no longer
    current, a taken port, unconfirmed data loss), then apply. Raises `PlanError`/`ApplyError`
    before anything is applied; a failure while applying is in the outcome."""
    with project_lock(
        engine.engine_id(), loaded.stack.name, wait=request.wait_lock, on_wait=ui.lock_wait
    ):
        options = plan_options(loaded, engine, request.options)
        if request.adopt:
            names = desired_names(loaded.stack, options.services, options.scale)
            found = engine.unmanaged_containers(names)
            options = dataclasses.replace(options, adopt={c.name: c for c in found})
        plan = reconcile(
            loaded.stack,
            build_graph(loaded.stack, loaded.source),
            observe(loaded, engine, options),
            options,
        )
        if request.saved_plan is not None:
            check_saved_plan(request.saved_plan, plan, request.saved_plan_file)
        ui.planned(plan)
        if request.dry_run:
            return Applied(plan, Outcome())
        preflight(plan, engine, loaded)
        _confirm(plan, ui)
        if not plan.operations:
            return Applied(plan, Outcome())
        execute_options = ExecuteOptions(
            parallel=request.parallel,
            wait_timeout=request.wait_timeout,
            allow_data_loss=True,  # confirmed above
        )
        with ui.applying(plan) as on_event:
            return apply_staged(
                loaded,
                engine,
                plan,
                options,
                on_event,
                execute_options,
                cancel or threading.Event(),
                confirm=lambda replan: _confirm(replan, ui),
            )


def _confirm(plan: Plan, ui: UpUI) -> None:
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


def apply_staged(
    loaded: LoadedStack,
    engine: Engine,
    plan: Plan,
    options: ReconcileOptions,
    on_event: Callable[[Event], None],
    execute_options: ExecuteOptions,
    cancel: threading.Event,
    confirm: Callable[[Plan], None] = lambda plan: None,
) -> Applied:
    """Apply `plan` (made with `options`); when it builds or pulls images, in two stages: the
    image operations, then the rest planned again against the images now there. A tag that a
    pull moved recreates its containers, with that reason, as Compose does after a pull.
    `confirm` sees the second plan (its data loss or adoptions) before it runs."""
    images = tuple(op for op in plan.operations if op.kind == Kind.IMAGE)
    if not images:
        return Applied(plan, execute(plan, engine, on_event, execute_options, cancel))
    first = execute(
        dataclasses.replace(plan, operations=images), engine, on_event, execute_options, cancel
    )
    if not first.ok:
        for op in plan.operations:
            if op.kind != Kind.IMAGE:
                first.skipped[op.id] = "not started: an image it needs was not built or pulled"
                on_event(Event(op.id, op.name, "skipped", first.skipped[op.id]))
        return Applied(plan, first)
    options = dataclasses.replace(options, pull=None)
    rest = reconcile(
        loaded.stack,
        build_graph(loaded.stack, loaded.source),
        observe(loaded, engine, options),
        options,
    )
    preflight(rest, engine, loaded)
    confirm(rest)
    second = execute(rest, engine, on_event, execute_options, cancel)
    outcome = Outcome(
        done=first.done + second.done,
        failed={**first.failed, **second.failed},
        skipped={**first.skipped, **second.skipped},
        interrupted=first.interrupted or second.interrupted,
    )
    return Applied(dataclasses.replace(plan, operations=images + rest.operations), outcome)


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
    check_build_contexts(
        loaded, (op.service for op in plan.operations if op.action == Action.BUILD and op.service)
    )


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
