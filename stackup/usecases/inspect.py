"""`ps` and `logs`: what a target shows of a project (containers on one engine, tasks on a
swarm), through its own operations (`Target.ps`, `Target.logs`)."""

from __future__ import annotations

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
