"""The use cases that plan and apply: plan a loaded stack against an engine, apply a plan
(what each burst of `watch` does), `up` and `down` whole, callable without the CLI (which
only shows and asks). Each works through a `Target` (one engine, or a swarm:
stackup.targets.target); an `Engine` given where a target is expected is the single-engine
target over it.

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
from typing import Protocol

from stackup.engine.interface import Engine
from stackup.errors import PlanError, StalePlanError
from stackup.loading.loader import LoadedStack
from stackup.planning.graph import ResourceGraph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.render import plan_json
from stackup.runner import Event, ExecuteOptions, Outcome
from stackup.targets.engine.execute import execute
from stackup.targets.engine.lock import project_lock
from stackup.targets.engine.target import EngineTarget, observe, plan_on, plan_options
from stackup.targets.target import Applied, DownRequest, Target, apply_staged
from stackup.usecases import releases
from stackup.usecases.targets import AnyTarget
from stackup.usecases.targets import as_target as as_target

__all__ = [
    "Applied",
    "DownRequest",
    "EngineTarget",
    "Target",
    "UpRequest",
    "apply",
    "apply_plan",
    "as_target",
    "down",
    "observe",
    "plan",
    "plan_options",
    "up",
]


def plan(
    loaded: LoadedStack,
    engine: Engine,
    options: ReconcileOptions | None = None,
    graph: ResourceGraph | None = None,
) -> Plan:
    """The plan of `loaded` against `engine` (`stackup.targets.engine.target.plan_on`)."""
    return plan_on(loaded, engine, options, graph)


def apply(
    plan: Plan,
    engine: Engine,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
) -> Outcome:
    return execute(plan, engine, on_event, options)


def apply_plan(
    loaded: LoadedStack,
    target: AnyTarget,
    plan: Plan,
    options: ReconcileOptions,
    on_event: Callable[[Event], None] = lambda event: None,
    execute_options: ExecuteOptions | None = None,
    cancel: threading.Event | None = None,
) -> Applied:
    """Apply `plan`, made with `options`: image operations first, then the rest planned
    again against the images (`stackup.targets.target.apply_staged`)."""
    chosen = as_target(target)
    return apply_staged(
        chosen,
        loaded,
        plan,
        lambda: chosen.plan(loaded, dataclasses.replace(options, pull=None)),
        on_event,
        execute_options or ExecuteOptions(),
        cancel or threading.Event(),
    )


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


def up(
    loaded: LoadedStack,
    target: AnyTarget,
    request: UpRequest,
    ui: UpUI,
    cancel: threading.Event | None = None,
) -> Applied:
    """Converge the target to the stack, under the project's lock: plan (the images to build,
    pull or push first, then the rest), refuse what is in the way (a saved plan no longer
    current, a blocker, a taken port, unconfirmed data loss), then apply, and record a release
    when something changed (stackup.usecases.releases). Raises `PlanError`/`ApplyError` before
    anything is applied; a failure while applying is in the outcome."""
    chosen = as_target(target)
    with project_lock(
        chosen.lock_engine(), loaded.stack.name, wait=request.wait_lock, on_wait=ui.lock_wait
    ):
        return converge(loaded, chosen, request, ui, cancel)


@dataclass(frozen=True)
class Recording:
    """How `converge` records the release it applies: `up`'s reads what it deployed here
    (`content`: None), a rollback's is the release it went back to."""

    kind: str = "up"
    of: int | None = None
    content: releases.Content | None = None
    # The commit and dirty flag: `up`'s are read from the project directory.
    git: tuple[str | None, bool | None] | None = None


def converge(
    loaded: LoadedStack,
    chosen: Target,
    request: UpRequest,
    ui: UpUI,
    cancel: threading.Event | None = None,
    *,
    amend: Callable[[Plan], Plan] = lambda plan: plan,
    recording: Recording = Recording(),
) -> Applied:
    """`up`'s work under the project's lock, which the caller holds (`rollback` too): plan
    (`amend`ed: a rollback adds what it does not restore), check, ask, apply, record."""
    plan = amend(chosen.plan(loaded, request.options, adopt=request.adopt))
    if request.saved_plan is not None:
        check_saved_plan(request.saved_plan, plan, request.saved_plan_file)
    ui.planned(plan)
    if request.dry_run:
        if plan.blockers:
            raise PlanError(
                f"{len(plan.blockers)} problem(s) stop this plan (listed above); "
                "nothing would be applied"
            )
        return Applied(plan, Outcome())
    chosen.check(loaded, plan)
    _confirm(plan, ui, command=recording.kind)
    if not plan.operations:
        return Applied(plan, Outcome())
    execute_options = ExecuteOptions(
        parallel=request.parallel,
        wait_timeout=request.wait_timeout,
        allow_data_loss=True,  # confirmed above
    )
    again = dataclasses.replace(request.options, pull=None)
    with ui.applying(plan) as on_event:
        applied = apply_staged(
            chosen,
            loaded,
            plan,
            lambda: amend(chosen.plan(loaded, again, adopt=request.adopt)),
            on_event,
            execute_options,
            cancel or threading.Event(),
            confirm=lambda replan: _confirm_rest(plan, replan, request, ui),
        )
    store = releases.store_of(chosen)
    if store is None or not applied.outcome.ok or not applied.outcome.done:
        return applied
    release = releases.record(
        store,
        loaded.stack.name,
        recording.content or releases.content_of(loaded, store),
        keep=releases.keep_count(loaded),
        git=recording.git or releases.git_state(loaded.project_directory),
        kind=recording.kind,
        of=recording.of,
    )
    return dataclasses.replace(applied, release=release.number)


def _confirm_rest(shown: Plan, rest: Plan, request: UpRequest, ui: UpUI) -> None:
    """The plan made again after the images: a saved plan must still hold for it, and only
    data loss or adoptions the shown plan did not have are asked about."""
    after = "; the images were built, pulled or pushed, nothing else was applied"
    if request.saved_plan is not None:
        saved = request.saved_plan.get("operations")
        kept = [
            (o.get("id"), o.get("action"))
            for o in (saved if isinstance(saved, list) else [])
            if isinstance(o, dict) and o.get("kind") != "image"
        ]
        if kept != [(op.id, op.action.value) for op in rest.operations]:
            raise PlanError(
                f"the images changed the plan saved in {request.saved_plan_file}{after}",
                hint="run `stackup diff -o` again and review the new plan",
            )
    asked = {op.id for op in (*shown.destroys_data, *shown.adoptions)}
    new = tuple(
        op for op in rest.operations if (op.destroys_data or op.adopts) and op.id not in asked
    )
    if new:
        _confirm(dataclasses.replace(rest, operations=new), ui, after)


def _confirm(
    plan: Plan, ui: UpUI, after: str = "; nothing was applied", command: str = "up"
) -> None:
    if plan.destroys_data and not ui.confirm_data_loss(plan):
        names = ", ".join(op.name for op in plan.destroys_data)
        review = "`stackup diff`" if command == "up" else f"`stackup {command} --dry-run`"
        raise PlanError(
            f"the plan deletes the data in {names}{after}",
            hint=f"review {review}, then run `stackup {command} --yes` to accept",
        )
    if plan.adoptions and not ui.confirm_adoption(plan):
        names = ", ".join(str(op.adopts) for op in plan.adoptions)
        raise PlanError(
            f"the plan replaces {names}, made outside stackup{after}",
            hint="review the plan, then run `stackup up --adopt --yes` to accept",
        )


def check_saved_plan(saved: Mapping[str, object], plan: Plan, file: str) -> None:
    """`up --plan`: apply only if planning now gives exactly the saved plan, from the same
    engine state."""
    now = plan_json(plan)
    if saved.get("fingerprint") != now["fingerprint"]:
        raise StalePlanError(
            f"the engine's state changed since the plan in {file} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )
    if saved.get("operations") != now["operations"] or saved.get("project") != now["project"]:
        raise StalePlanError(
            f"the stack file changed since the plan in {file} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )


def down(
    project: str,
    target: AnyTarget,
    request: DownRequest,
    ui: ApplyUI,
    cancel: threading.Event | None = None,
) -> Applied:
    """Remove the project's containers and networks, and its files on a remote engine's host;
    its releases stay (`request.volumes`: its named volumes and releases too: nothing of it
    is left)."""
    chosen = as_target(target)
    with project_lock(chosen.lock_engine(), project, wait=request.wait_lock, on_wait=ui.lock_wait):
        plan = chosen.plan_down(project, request)
        store = releases.store_of(chosen)
        leftovers = (
            releases.leftovers(store, project, volumes=request.volumes)
            if store is not None
            else None
        )
        if leftovers is not None and leftovers.note:
            plan = dataclasses.replace(plan, warnings=(*plan.warnings, leftovers.note))
        ui.planned(plan)
        outcome = Outcome()
        if plan.operations:
            # Stops mostly wait on the container (its grace period): all at once, as Compose
            # does (its limit is 64). Only `volumes` plans volume removals: the request is the
            # consent.
            options = ExecuteOptions(parallel=64, allow_data_loss=True)
            with ui.applying(plan) as on_event:
                outcome = chosen.execute(plan, on_event, options, cancel or threading.Event())
        chosen.after_down(project)
        if store is not None and leftovers is not None and outcome.ok:
            releases.remove_leftovers(store, project, leftovers)
    return Applied(plan, outcome)
