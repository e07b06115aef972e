"""`stackup ps`, `ls` and `logs`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from stackup import usecases
from stackup.cli.common import (
    connect_engine,
    follow_logs,
    global_options,
    print_table,
    target_choice,
)
from stackup.cli.options import check_services
from stackup.errors import StackFileError

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack


def _project() -> tuple[LoadedStack | None, str]:
    """The stack file and its project; with `-p NAME` and no file found, the project alone
    (its containers are found by label, as `docker compose -p NAME ps` does)."""

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


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show stopped containers too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("services", nargs=-1)
def ps(show_all: bool, fmt: str, services: tuple[str, ...]) -> None:
    """List the stack's containers: service, name, state, health, ports."""

    loaded, project = _project()
    listing = usecases.ps(target_choice(loaded), project, services, show_all)
    if fmt == "json":
        click.echo(json.dumps(list(listing.rows), indent=2))
        return
    print_table(
        [header for header, _ in listing.columns],
        [[_cell(row[key]) for _, key in listing.columns] for row in listing.rows],
    )


def _cell(value: object) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


@click.command("ls")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def ls(fmt: str) -> None:
    """List the stackup projects on the engine and their state."""

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

    loaded, project = _project()
    if loaded is not None:
        check_services(loaded, services)
    found = usecases.logs(
        target_choice(loaded),
        project,
        services,
        follow=follow,
        tail=tail,
        timestamps=timestamps,
    )
    follow_logs(found, no_prefix=no_prefix)
