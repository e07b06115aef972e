"""What every reaction of a watch acts through: the stack as last loaded, the engine (replaced
when it comes back after going away), the project's lock (held once per burst, however deep
the calls that ask for it), the plans made and applied, and the events reported to the UI.

The watcher (`stackup.watch.loop`) and develop.watch's actions (`stackup.watch.develop`) each
hold the one session of a watch; neither reaches into the other."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stackup.engine.observed import ObservedContainer
from stackup.loading.loader import LoadedStack
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.throwaway_specs import VALIDATION_TWIN_LABEL
from stackup.targets.engine.execute import Event, Outcome, execute
from stackup.targets.engine.lock import project_lock
from stackup.usecases import deploy
from stackup.watch.events import WatchConfig, WatchedEngine, WatchEvent, WatchUI


class WatchSession:
    def __init__(self, config: WatchConfig, ui: WatchUI) -> None:
        self.config = config
        self.ui = ui
        self.loaded: LoadedStack = config.load()
        self.engine: WatchedEngine = config.connect()
        self._lock_depth = 0  # how deep this thread is in `locked` (the lock is taken once)

    # ------------------------------------------------------------------ the lock

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the project's lock: a `stackup up` of the same project waits for it, and it
        for `up`. Taken once; a call inside a held lock (a burst's apply) just goes on."""
        if self._lock_depth:  # already held by this burst
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with project_lock(self.engine, self.loaded.stack.name, on_wait=self._say_lock):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    # ------------------------------------------------------------------ the engine

    def running(self, service: str) -> list[ObservedContainer]:
        """The running containers of `service` (not a leftover of a recreate, not a
        validation twin), by name."""
        observed = self.engine.observe(self.loaded.stack.name)
        return sorted(
            (
                c
                for c in observed.containers
                if c.service == service
                and c.state == "running"
                and not c.is_temporary
                and VALIDATION_TWIN_LABEL not in c.labels
            ),
            key=lambda c: c.name,
        )

    def plan(self, options: ReconcileOptions) -> Plan:
        return deploy.plan(self.loaded, self.engine, options)

    def apply(self, plan: Plan, options: ReconcileOptions | None = None) -> Outcome:
        """Show and apply `plan`, made with `options` (needed again when it builds or pulls
        images: what follows them is planned anew, `deploy.apply_plan`)."""
        self.ui.show_plan(plan)
        options = options or dataclasses.replace(self.config.options, services=self.selected())
        with self.locked(), self.ui.progress() as show:
            services = {op.id: op.service for op in plan.operations}

            def on_event(event: Event) -> None:
                if event.status == "failed" and event.message.startswith("validate command "):
                    return  # told once, at the host file and line, by the watcher
                if event.status == "started" and event.op_id in services:
                    # The plan just shown says why; operations planned after its image
                    # operations (`apply_staged`) were not shown and keep their reason.
                    event = dataclasses.replace(event, message=event.message.split(":", 1)[0])
                show(event)
                if event.status == "step" and "passed in a throwaway container" in event.message:
                    service = services.get(event.op_id)
                    self.say("validated", f"{service or event.name}: {event.message}", service)

            outcome = deploy.apply_plan(self.loaded, self.engine, plan, options, on_event).outcome
        self.report_failures(outcome)
        _stop_if_interrupted(outcome)
        if outcome.ok:
            self.say("applied", f"applied {len(outcome.done)} operation(s)")
        return outcome

    def execute(
        self, plan: Plan, on_event: Callable[[Event], None] = lambda event: None
    ) -> Outcome:
        """Carry out a plan of the watch's own (a reload, a sync) without showing it as a
        table: its steps are reported by `on_event`, if at all."""
        with self.locked():
            outcome = execute(plan, self.engine, on_event)
        self.report_failures(outcome)
        _stop_if_interrupted(outcome)
        return outcome

    def report_failures(self, outcome: Outcome) -> None:
        """A failed operation may mean the engine went away: find out (raises if so)."""
        if outcome.failed:
            self.engine.list_projects()
            for op_id, message in sorted(outcome.failed.items()):
                # A failed validation is told by the watcher, with the host file and line.
                if not op_id.startswith("reload:") and not message.startswith("validate command "):
                    self.say("error", f"{op_id.split(':', 1)[-1]}: {message}")

    # ------------------------------------------------------------------ the stack

    def selected(self) -> tuple[str, ...]:
        stack = self.loaded.stack
        chosen = [s for s in self.config.services if s in stack.services]
        return tuple(sorted(chosen or stack.services))

    def base(self) -> Path:
        return Path.cwd()

    def show(self, path: Path) -> str:
        base = self.base()
        return path.relative_to(base).as_posix() or "." if path.is_relative_to(base) else str(path)

    # ------------------------------------------------------------------ reporting

    def say(
        self,
        kind: str,
        text: str,
        service: str | None = None,
        details: tuple[str, ...] = (),
        at: float | None = None,
    ) -> None:
        self.ui.event(
            WatchEvent(kind, text, service, details, at if at is not None else time.monotonic())
        )

    def _say_lock(self, message: str) -> None:
        self.say("plan", message)


def _stop_if_interrupted(outcome: Outcome) -> None:
    """The executor takes a Ctrl-C (or the CLI's SIGTERM, raised as the same interrupt) as a
    cancel, lets the running operations finish and says so in the outcome: the watch stops
    then, as it does when the interrupt comes between bursts."""
    if outcome.interrupted:
        raise KeyboardInterrupt
