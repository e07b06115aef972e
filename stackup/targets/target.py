"""Where a stack is deployed, behind one protocol, and what each kind of target supports:
one Docker engine (`stackup.targets.engine.target.EngineTarget`) or a swarm
(`stackup.targets.swarm.target.SwarmTarget`), picked by name from
`stackup.targets.registry`. The use cases (`stackup.usecases`) plan, check, apply and tear
down through it, without asking which target it is.

A target says what it supports (`TargetKind.capabilities`): the use cases and the CLI ask
`TargetKind.require(...)` and never compare a target's name; one lacking a capability
refuses in its own words (as Terraform's backends do), before anything is connected.

Each target plans into the same `Plan` (rendered by the same renderers, run by the same
plan runner, `stackup.runner`, with the target's own step interpreter) and applies in two
stages when the plan has image operations (build, pull, push): those first, then the rest
planned again against what they produced (image IDs, digests).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from stackup.engine.interface import LockEngine
from stackup.errors import UsageError
from stackup.loading.loader import LoadedStack
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Kind, Plan
from stackup.runner import Event, ExecuteOptions, Outcome


class Capability(enum.Enum):
    EXEC = "exec"  # a command in a running container (`stackup exec`)
    RUN = "run"  # a one-off container (`stackup run`)
    LIFECYCLE = "start, stop and restart"  # containers kept, stopped and started again
    WATCH = "watch"  # reloads, syncs and re-plans as files change (`watch`, `up --watch`)
    ATTACH = "attach"  # containers' logs in the foreground (`up --attach`, `--exit-code-from`)
    SAVED_PLAN = "saved plans"  # `up --plan FILE`
    REVIEW = "review"  # `diff --against` / `--base`: plans between two revisions, offline
    WAIT = "wait"  # `up --wait` waits after the apply (a swarm's plan waits itself)
    IN_PLACE_UPDATE = "in-place update"  # restart, cpus, memory, pids changed without recreate
    BUILD = "build"  # images built from `build:` sections
    HOST_BIND_SOURCES = "host bind sources"  # bind sources are on this host (checked here)


@dataclass(frozen=True)
class TargetSettings:
    """What opening a target takes from the command line."""

    docker_context: str | None = None
    wait_timeout: float = 300.0


@dataclass(frozen=True)
class TargetKind:
    """One kind of target: its name for `--target` and `x-stackup.target`, what it supports,
    its words for what it does not, and how to open one."""

    name: str
    capabilities: frozenset[Capability]
    open: Callable[[TargetSettings], Target]
    # Why a capability is missing and what to use instead: the hint of the refusal.
    refusal_hint: str = ""
    # A refusal in words of its own, for a capability the generic sentence says badly, and
    # its hint.
    refusals: Mapping[Capability, str] = field(default_factory=dict)
    refusal_hints: Mapping[Capability, str] = field(default_factory=dict)
    # How `diff` says a plan with blockers would be refused: "N problem(s) {blocked}".
    blocked: str = "stop this plan (listed above)"
    # What `down` says after removing a project ("{project}" is its name), if anything.
    removed: str = ""
    # The keys this kind reads but ignores, located (printed when the stack is loaded).
    key_warnings: Callable[[LoadedStack], list[str]] = lambda loaded: []
    # The kind these settings make of it, known without connecting: an engine on another
    # machine is the engine kind without what needs this machine (watch).
    placed: Callable[[TargetSettings], TargetKind] | None = None

    def at(self, settings: TargetSettings) -> TargetKind:
        """This kind as `settings` place it (`placed`); itself when place changes nothing."""
        return self.placed(settings) if self.placed is not None else self

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def refusal(self, what: str, *, hint: bool = True) -> UsageError:
        verb = "are" if " and " in what else "is"
        return UsageError(
            f"{what} {verb} not available with --target {self.name}",
            hint=(self.refusal_hint or None) if hint else None,
        )

    def require(self, capability: Capability, what: str | None = None) -> None:
        """Refuse, with this kind's words, what needs `capability` (`what`: the command the
        user asked for; the capability's name by default)."""
        if capability in self.capabilities:
            return
        if capability in self.refusals:
            raise UsageError(
                self.refusals[capability], hint=self.refusal_hints.get(capability) or None
            )
        raise self.refusal(what or capability.value)


@dataclass(frozen=True)
class Applied:
    plan: Plan  # what was applied: the plan shown, with the rest as planned again after images
    outcome: Outcome
    release: int | None = None  # the release it recorded (stackup.usecases.releases), if any


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


@dataclass(frozen=True)
class Listing:
    """What `ps` shows of a project on a target: rows (printed as they are with `--format
    json`), and the table's columns as (header, key of the rows)."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[Mapping[str, object], ...]


@dataclass(frozen=True)
class LogStream:
    name: str  # the prefix of its lines
    lines: Callable[[], Iterable[bytes]]  # opened in the thread that follows it


@dataclass(frozen=True)
class Logs:
    streams: tuple[LogStream, ...]
    coloured: bool  # each stream's prefix in a colour of its own, on a terminal


Confirm = Callable[[Plan], None]


@runtime_checkable
class Target(Protocol):
    name: str  # its kind's name, for messages
    kind: TargetKind  # what it supports, and its words for what it does not

    def lock_engine(self) -> LockEngine:
        """The engine the project's lock is held on (`stackup.targets.engine.lock`): its
        lease there, and this host's lock keyed by its ID."""
        ...

    def plan(self, loaded: LoadedStack, options: ReconcileOptions, *, adopt: bool = False) -> Plan:
        """Observe and plan. `adopt`: replace containers made outside stackup that hold the
        stack's names (`up --adopt`)."""
        ...

    def check(self, loaded: LoadedStack, plan: Plan) -> None:
        """Refuse, by raising, what would fail half-way: blockers, keys the engine is too old
        for, a taken port. Nothing has been applied when it raises."""
        ...

    def plan_down(self, project: str, request: DownRequest) -> Plan: ...

    def execute(
        self,
        plan: Plan,
        on_event: Callable[[Event], None],
        execute_options: ExecuteOptions,
        cancel: threading.Event,
    ) -> Outcome: ...

    def after_down(self, project: str) -> None:
        """Forget what this target kept about the containers `down` removed."""
        ...

    def ps(self, project: str, services: tuple[str, ...], show_all: bool) -> Listing: ...

    def logs(
        self,
        project: str,
        services: tuple[str, ...],
        *,
        follow: bool,
        tail: int | None,
        timestamps: bool,
    ) -> Logs: ...

    def wait_ready(self, loaded: LoadedStack, services: tuple[str, ...], timeout: float) -> None:
        """`up --wait` (with `Capability.WAIT`): until the services run and are healthy."""
        ...


def image_stage(plan: Plan) -> Plan:
    """The image operations (build, pull, push) of `plan`, as a plan of their own."""
    images = tuple(op for op in plan.operations if op.kind == Kind.IMAGE)
    return Plan(plan.project, images, services=plan.services)


def skip_after_failed_images(
    plan: Plan, first: Outcome, on_event: Callable[[Event], None]
) -> Outcome:
    """The outcome when an image operation failed: everything else is not started."""
    why = (
        "not started: interrupted"
        if first.interrupted
        else "not started: an image it needs was not built, pulled or pushed"
    )
    for op in plan.operations:
        if op.kind != Kind.IMAGE:
            first.skipped[op.id] = why
            on_event(Event(op.id, op.name, "skipped", why))
    return first


def merged(first: Outcome, second: Outcome) -> Outcome:
    return Outcome(
        done=first.done + second.done,
        failed={**first.failed, **second.failed},
        skipped={**first.skipped, **second.skipped},
        interrupted=first.interrupted or second.interrupted,
    )


def apply_staged(
    target: Target,
    loaded: LoadedStack,
    plan: Plan,
    replan: Callable[[], Plan],
    on_event: Callable[[Event], None],
    execute_options: ExecuteOptions,
    cancel: threading.Event,
    confirm: Confirm = lambda plan: None,
) -> Applied:
    """Apply `plan`; when it has image operations, in two stages: those, then `replan()` (the
    same request planned again, without image operations) against what they produced: a
    pull that moved a tag recreates its containers with that reason, as Compose does after a
    pull; a push gives the swarm the digest to deploy. The second plan is checked, and shown
    to `confirm` (which may refuse it by raising), before it runs."""
    images = image_stage(plan)
    if not images.operations:
        return Applied(plan, target.execute(plan, on_event, execute_options, cancel))
    first = target.execute(images, on_event, execute_options, cancel)
    if not first.ok:
        return Applied(plan, skip_after_failed_images(plan, first, on_event))
    rest = replan()
    target.check(loaded, rest)
    confirm(rest)
    second = target.execute(rest, on_event, execute_options, cancel)
    applied = Plan(
        plan.project,
        images.operations + rest.operations,
        rest.warnings,
        rest.blockers,
        plan.fingerprint,
        plan.services,
    )
    return Applied(applied, merged(first, second))
