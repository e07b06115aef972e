"""The swarm plan's steps: each carries itself out over the engine (`plan.RunnableStep`), so
the executor needs no branch per target."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from stackup.engine.swarm_interface import Convergence as Convergence
from stackup.engine.swarm_interface import SwarmEngine
from stackup.errors import ApplyError
from stackup.poll import poll_until
from stackup.targets.swarm.desired import DesiredObject, DesiredService, ObjectKind


def _swarm(engine: object) -> SwarmEngine:
    if not isinstance(engine, SwarmEngine):
        raise ApplyError("this plan is for Docker Swarm; run it with --target swarm")
    return engine


Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CreateService:
    want: DesiredService

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).create_service(self.want)


@dataclass(frozen=True, slots=True)
class UpdateService:
    want: DesiredService

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).update_service(self.want)


@dataclass(frozen=True, slots=True)
class RemoveService:
    name: str

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).remove_service(self.name)


@dataclass(frozen=True, slots=True)
class WaitServiceGone:
    """A removed service's tasks hold its networks until they are gone."""

    name: str
    timeout: float = 120.0
    poll: float = 0.5

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        swarm = _swarm(engine)
        report(f"waiting for the tasks of {self.name} to stop")

        def gone() -> bool | None:
            return True if swarm.service_gone(self.name) else None

        if poll_until(gone, interval=self.poll, timeout=self.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for {self.name} to stop")
        raise ApplyError(
            f"timed out after {self.timeout:g}s waiting for {self.name}'s tasks to stop"
        )


@dataclass(frozen=True, slots=True)
class CreateObject:
    obj: DesiredObject

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).create_object(self.obj)


@dataclass(frozen=True, slots=True)
class RemoveObject:
    kind: ObjectKind
    name: str

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).remove_object(self.kind, self.name)


@dataclass(frozen=True, slots=True)
class WaitConverged:
    """Until every task of the new spec runs (healthy, where there is a healthcheck: Swarm
    marks a task running only then), or the update is rolled back or paused."""

    service: str
    name: str
    task_hash: str
    replicas: int | None
    previous_update: str | None  # UpdateStatus.StartedAt before this apply: older news is stale
    timeout: float = 300.0
    poll: float = 0.5

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        swarm = _swarm(engine)
        shown = [""]  # the progress last reported, and so the last seen

        def converged() -> bool | None:
            state = swarm.convergence(self)
            if state.failed:
                raise ApplyError(f"service {self.service}: {state.failed}")
            if state.done:
                return True
            if state.progress and state.progress != shown[0]:
                report(f"{self.service}: {state.progress}")
                shown[0] = state.progress
            return None

        if poll_until(converged, interval=self.poll, timeout=self.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for service {self.service}")
        raise ApplyError(
            f"service {self.service} did not converge in {self.timeout:g}s: {shown[0]}"
        )
