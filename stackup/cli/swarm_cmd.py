"""`ps` and `logs` on `--target swarm`: tasks and service logs instead of containers.

(`diff`, `up` and `down` go through the `Target` protocol: stackup.targets.swarm.target.)
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stackup.engine.docker.swarm import DockerSwarm


def connect() -> DockerSwarm:
    from stackup.cli.common import global_options
    from stackup.engine.docker.swarm import connect_swarm

    engine = connect_swarm(global_options().docker_context)
    engine.require_manager()
    return engine


def ps(project: str, services: tuple[str, ...], show_all: bool, fmt: str) -> None:
    from stackup.cli.common import print_table

    engine = connect()
    observed = engine.observe_swarm(project)
    chosen = {
        s.name: s.service or s.name
        for s in observed.services
        if not services or s.service in services
    }
    rows = []
    for task in sorted(
        engine.tasks(sorted(chosen)),
        key=lambda t: (str(t.get("ServiceID")), int(t.get("Slot") or 0), str(t.get("ID"))),
    ):
        status = task.get("Status") or {}
        if not show_all and task.get("DesiredState") != "running":
            continue
        service_name = next(
            (s.name for s in observed.services if s.id == task.get("ServiceID")), "?"
        )
        slot = task.get("Slot")
        rows.append(
            {
                "service": chosen.get(service_name, service_name),
                "name": f"{service_name}.{slot}"
                if slot
                else f"{service_name}.{task.get('NodeID', '')[:12]}",
                "state": str(status.get("State", "")),
                "desired": str(task.get("DesiredState", "")),
                "error": str(status.get("Err") or ""),
                "node": str(task.get("NodeID", ""))[:12],
                "id": str(task.get("ID", ""))[:12],
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ["SERVICE", "TASK", "STATE", "DESIRED", "NODE", "ERROR"],
        [[r["service"], r["name"], r["state"], r["desired"], r["node"], r["error"]] for r in rows],
    )


def logs(
    project: str,
    services: tuple[str, ...],
    *,
    follow: bool,
    tail: int | None,
    timestamps: bool,
    no_prefix: bool,
) -> None:
    engine = connect()
    names = sorted(
        s.name
        for s in engine.observe_swarm(project).services
        if not services or s.service in services
    )
    width = max((len(n) for n in names), default=0)
    lock = threading.Lock()

    def stream(name: str) -> None:
        prefix = "" if no_prefix else f"{name:<{width}} | "
        for line in engine.service_logs(name, follow=follow, tail=tail, timestamps=timestamps):
            with lock:
                click.echo(prefix + line.decode(errors="replace").rstrip("\n"))

    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        return
