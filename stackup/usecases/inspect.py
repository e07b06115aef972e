"""`ps` and `logs`: what a target shows of a project (containers on one engine, tasks on a
swarm), through its own operations (`Target.ps`, `Target.logs`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from stackup.engine.interface import ProjectEvents
from stackup.targets.target import Listing, Logs
from stackup.usecases.targets import AnyTarget, as_target


def ps(target: AnyTarget, project: str, services: tuple[str, ...], show_all: bool) -> Listing:
    return as_target(target).ps(project, services, show_all)


def logs(
    target: AnyTarget,
    project: str,
    services: tuple[str, ...],
    *,
    follow: bool,
    tail: int | None,
    timestamps: bool,
) -> Logs:
    return as_target(target).logs(
        project, services, follow=follow, tail=tail, timestamps=timestamps
    )


def follow_changes(
    target: AnyTarget, project: str, on_change: Callable[[], None], stop: threading.Event
) -> bool:
    """Call `on_change` at each change of the project on the target's engine, until `stop`
    or the engine's stream ends: True then. False at once when the target's engine reports
    no events (a swarm, the in-memory engine): the caller polls."""
    engine = getattr(as_target(target), "engine", None)
    if not isinstance(engine, ProjectEvents):
        return False
    engine.follow_project_events(project, on_change, stop)
    return True
