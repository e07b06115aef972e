"""`start`, `stop` and `restart`: under the project's lock (names must not change under our
feet), the project observed, a plan built from its labels (stackup.planning.teardown), run."""

from __future__ import annotations

import threading

from stackup.loading.loader import LoadedStack
from stackup.planning.teardown import plan_lifecycle
from stackup.runner import ExecuteOptions, Outcome
from stackup.targets.engine.lock import project_lock
from stackup.targets.target import Applied, Capability
from stackup.usecases.deploy import ApplyUI
from stackup.usecases.targets import AnyTarget, engine_of


def lifecycle(
    loaded: LoadedStack,
    target: AnyTarget,
    action: str,
    services: tuple[str, ...],
    timeout: float | None,
    ui: ApplyUI,
    cancel: threading.Event | None = None,
) -> Applied:
    """`action` ("start", "stop" or "restart") on the containers of `services` (all when
    empty)."""
    opened, engine = engine_of(target, Capability.LIFECYCLE, action)
    project = loaded.stack.name
    with project_lock(opened.lock_engine(), project, on_wait=ui.lock_wait):
        observed = engine.observe(project)
        selected = frozenset(services) if services else None
        plan = plan_lifecycle(observed, action, selected, timeout)
        ui.planned(plan)
        outcome = Outcome()
        if plan.operations:
            with ui.applying(plan) as on_event:
                # Stops mostly wait on the container (its grace period): all at once.
                options = ExecuteOptions(parallel=64, allow_data_loss=True)
                outcome = opened.execute(plan, on_event, options, cancel or threading.Event())
    return Applied(plan, outcome)
