"""Carry out a Plan on one engine: the plan runner (`stackup.runner`) with the engine's step
interpreter (`stackup.targets.engine.steps`). Event, ExecuteOptions and Outcome are the
runner's, named here too for the callers that run a plan over an engine they hold."""

from __future__ import annotations

import threading
from collections.abc import Callable

from stackup.engine.interface import Engine
from stackup.planning.plan import Plan
from stackup.runner import Event, ExecuteOptions, Outcome, run
from stackup.targets.engine.steps import EngineSteps

__all__ = ["Event", "ExecuteOptions", "Outcome", "execute"]


def execute(
    plan: Plan,
    engine: Engine,
    on_event: Callable[[Event], None] = lambda event: None,
    options: ExecuteOptions | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Run every operation of `plan` over `engine` (`stackup.runner.run`)."""
    return run(plan, EngineSteps(engine), on_event, options, cancel)
