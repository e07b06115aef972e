"""The memory target: a `Target` over the in-memory engine, with a step interpreter of its
own that counts what it carries out and hands the engine's primitives to one engine's
interpreter (as a Podman target would: the same primitives over another engine)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from stackup.engine.fake import FakeEngine
from stackup.errors import PlanError
from stackup.loading.loader import LoadedStack
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan, Step
from stackup.planning.teardown import plan_down
from stackup.runner import Event, ExecuteOptions, Outcome, StepRun, run
from stackup.targets.engine.steps import EngineSteps
from stackup.targets.engine.target import plan_on
from stackup.targets.target import (
    DownRequest,
    Listing,
    Logs,
    Target,
    TargetKind,
    TargetSettings,
)

# The stacks of every memory target opened in this process: one engine, as one host has.
ENGINE = FakeEngine({"busybox:latest": "sha256:" + "b0" * 32})


class MemorySteps:
    """This target's `StepInterpreter`."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine_steps = EngineSteps(engine)
        self.carried_out: Counter[str] = Counter()

    def __enter__(self) -> MemorySteps:
        self.engine_steps.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine_steps.__exit__(*exc)

    def run_step(self, step: Step, run: StepRun) -> None:
        self.carried_out[type(step).__name__] += 1
        self.engine_steps.run_step(step, run)


def _open(settings: TargetSettings) -> Target:
    return MemoryTarget(ENGINE)


MEMORY = TargetKind(
    name="memory",
    capabilities=frozenset(),
    open=_open,
    refusal_hint="the memory target keeps stacks as data: no process runs in it",
    blocked="stop this plan in memory",
    removed="forgot project {project}",
)


class MemoryTarget:
    name = MEMORY.name
    kind = MEMORY

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.steps = MemorySteps(engine)

    def lock_engine(self) -> FakeEngine:
        return self.engine

    def plan(self, loaded: LoadedStack, options: ReconcileOptions, *, adopt: bool = False) -> Plan:
        return plan_on(loaded, self.engine, options)

    def check(self, loaded: LoadedStack, plan: Plan) -> None:
        if plan.blockers:
            raise PlanError(f"{len(plan.blockers)} problem(s) stop this plan in memory")

    def plan_down(self, project: str, request: DownRequest) -> Plan:
        return plan_down(self.engine.observe(project), volumes=request.volumes)

    def execute(
        self,
        plan: Plan,
        on_event: Callable[[Event], None],
        execute_options: ExecuteOptions,
        cancel: threading.Event,
    ) -> Outcome:
        return run(plan, self.steps, on_event, execute_options, cancel)

    def after_down(self, project: str) -> None:
        return None

    def ps(self, project: str, services: tuple[str, ...], show_all: bool) -> Listing:
        rows = tuple(
            {"service": c.service, "name": c.name, "state": c.state}
            for c in self.engine.observe(project).containers
            if (not services or c.service in services) and (show_all or c.state == "running")
        )
        return Listing((("SERVICE", "service"), ("NAME", "name"), ("STATE", "state")), rows)

    def logs(
        self,
        project: str,
        services: tuple[str, ...],
        *,
        follow: bool,
        tail: int | None,
        timestamps: bool,
    ) -> Logs:
        return Logs((), coloured=False)

    def wait_ready(self, loaded: LoadedStack, services: tuple[str, ...], timeout: float) -> None:
        return None
