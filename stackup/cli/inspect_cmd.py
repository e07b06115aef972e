"""`stackup ps`, `ls` and `logs`."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stackup.engine.observed import ObservedContainer
    from stackup.loading.loader import LoadedStack


def _project() -> tuple[LoadedStack | None, str]:
    """The stack file and its project; with `-p NAME` and no file found, the project alone
    (its containers are found by label, as `docker compose -p NAME ps` does)."""
    from stackup.cli.common import global_options
    from stackup.errors import StackFileError

    opts = global_options()
    try:
        loaded = opts.load()
    except StackFileError:
        if not (opts.project_name and not opts.files):
            raise
        return None, opts.project_name
    if opts.project_name and not opts.files:
        return loaded, opts.project_name
    return loaded, loaded.stack.name


def _state(c: ObservedContainer) -> str:
    """`exited (3)`: how it ended, as `docker ps` shows it."""
    code = c.exit_code
    return f"{c.state} ({code})" if code is not None else c.state


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show stopped containers too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("services", nargs=-1)
def ps(show_all: bool, fmt: str, services: tuple[str, ...]) -> None:
    """List the stack's containers: service, name, state, health, ports."""
    from stackup.cli.common import connect_engine, print_table, target

    loaded, project = _project()
    if target(loaded) == "swarm":
        from stackup.cli import swarm_cmd

        swarm_cmd.ps(project, services, show_all, fmt)
        return
    engine = connect_engine()
    rows = []
    for c in engine.observe(project).containers:
        if services and c.service not in services:
            continue
        if not show_all and c.state != "running":
            continue
        rows.append(
            {
                "service": c.service,
                "name": c.name,
                "state": _state(c),
                "exit_code": c.exit_code,
                "health": c.health or "",
                "status": c.status,
                "image": c.image,
                "ports": list(c.ports),
                "id": c.id[:12],
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ["SERVICE", "NAME", "STATE", "HEALTH", "PORTS"],
        [
            [
                str(r["service"]),
                str(r["name"]),
                str(r["state"]),
                str(r["health"]),
                ", ".join(r["ports"]),
            ]
            for r in rows
        ],
    )


@click.command("ls")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ls(fmt: str) -> None:
    """List the stackup projects on the engine and their state."""
    from stackup.cli.common import connect_engine, print_table

    projects = connect_engine().list_projects()
    if fmt == "json":
        click.echo(json.dumps(projects, indent=2))
        return
    print_table(
        ["NAME", "STATUS", "CONTAINERS"],
        [[p["name"], p["status"], str(p["containers"])] for p in projects],
    )


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new output.")
@click.option("--tail", type=int, default=None, help="Only the last N lines of each container.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--no-prefix", is_flag=True, help="Do not prefix lines with the container name.")
@click.argument("services", nargs=-1)
def logs(
    follow: bool, tail: int | None, timestamps: bool, no_prefix: bool, services: tuple[str, ...]
) -> None:
    """Show the output of the stack's containers, interleaved, each line prefixed by its
    container's name (`web-1 | ...`). With `-p NAME` it works without a stack file."""
    from stackup.cli.common import LOG_COLOURS, connect_engine, target, use_colour
    from stackup.cli.options import check_services

    loaded, project = _project()
    if loaded is not None:
        check_services(loaded, services)
    if target(loaded) == "swarm":
        from stackup.cli import swarm_cmd

        swarm_cmd.logs(
            project,
            services,
            follow=follow,
            tail=tail,
            timestamps=timestamps,
            no_prefix=no_prefix,
        )
        return
    engine = connect_engine()
    containers = [
        c
        for c in engine.observe(project).containers
        if (not services or c.service in services) and not c.is_temporary
    ]
    width = max((len(c.name) for c in containers), default=0)
    colour = use_colour()
    lock = threading.Lock()

    def stream(c: ObservedContainer, index: int) -> None:
        prefix = "" if no_prefix else f"{c.name:<{width}} | "
        if prefix and colour:
            prefix = click.style(prefix, fg=LOG_COLOURS[index % len(LOG_COLOURS)])
        for line in engine.logs(c.name, follow=follow, tail=tail, timestamps=timestamps):
            with lock:
                click.echo(prefix + line.decode(errors="replace").rstrip("\n"))

    threads = [
        threading.Thread(target=stream, args=(c, i), daemon=True) for i, c in enumerate(containers)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        return
