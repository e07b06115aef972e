"""The swarm plan's steps: data, like every step. `stackup.targets.swarm.runner` carries them
out over the swarm engine (the plan runner hands it every step of a swarm plan)."""

from __future__ import annotations

from dataclasses import dataclass

from stackup.engine.swarm_interface import Convergence as Convergence
from stackup.planning.plan import TargetStep
from stackup.targets.swarm.desired import DesiredObject, DesiredService, ObjectKind


@dataclass(frozen=True, slots=True)
class CreateService(TargetStep):
    want: DesiredService


@dataclass(frozen=True, slots=True)
class UpdateService(TargetStep):
    want: DesiredService


@dataclass(frozen=True, slots=True)
class RemoveService(TargetStep):
    name: str


@dataclass(frozen=True, slots=True)
class WaitServiceGone(TargetStep):
    """A removed service's tasks hold its networks until they are gone."""

    name: str
    timeout: float = 120.0
    poll: float = 0.5


@dataclass(frozen=True, slots=True)
class CreateObject(TargetStep):
    obj: DesiredObject


@dataclass(frozen=True, slots=True)
class RemoveObject(TargetStep):
    kind: ObjectKind
    name: str


@dataclass(frozen=True, slots=True)
class PushImage(TargetStep):
    """Tag the local image `source` as `target` (when they differ) and push it."""

    source: str
    target: str


@dataclass(frozen=True, slots=True)
class WaitConverged(TargetStep):
    """Until every task of the new spec runs (healthy, where there is a healthcheck: Swarm
    marks a task running only then), or the update is rolled back or paused."""

    service: str
    name: str
    task_hash: str
    replicas: int | None
    previous_update: str | None  # UpdateStatus.StartedAt before this apply: older news is stale
    timeout: float = 300.0
    poll: float = 0.5
