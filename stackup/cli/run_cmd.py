"""`stackup exec` and `stackup run`."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from stackup import usecases
from stackup.cli.common import global_options, target_choice
from stackup.cli.options import check_services
from stackup.usecases import Capability


@click.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "-T",
    "--no-tty",
    is_flag=True,
    help="Do not allocate a TTY (default when stdin is not a terminal).",
)
@click.option(
    "-i", "--interactive", "_interactive", is_flag=True, hidden=True,
    help="Accepted for `docker exec -it` habits: a TTY is used when stdin is a terminal.",
)  # fmt: skip
@click.option("-t", "--tty", "_tty", is_flag=True, hidden=True)
@click.option("--index", type=int, default=1, show_default=True, help="Which replica.")
@click.option("-u", "--user", default=None)
@click.option("-w", "--workdir", default=None)
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    no_tty: bool,
    _interactive: bool,
    _tty: bool,
    index: int,
    user: str | None,
    workdir: str | None,
    env: tuple[str, ...],
    service: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND in a running container of SERVICE; its exit code becomes stackup's."""
    if command[:1] == ("--",):  # `stackup exec web -- ls -l`
        command = command[1:]

    loaded = global_options().load()
    chosen = target_choice(loaded)
    chosen.kind.require(Capability.EXEC, "exec")
    check_services(loaded, (service,))
    found, name = usecases.exec_container(chosen, loaded, service, index)
    engine: Any = found  # the Docker engine: its address for the docker CLI, its exec stream
    interactive = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    docker_cli = shutil.which("docker")
    if interactive and docker_cli:
        # A real interactive terminal (raw mode, resize, signals) is what the docker CLI does
        # best; hand the process over to it, pointed at the same engine.
        args = [docker_cli, "-H", engine.base_url, "exec", "-it"]
        for flag, value in (("-u", user), ("-w", workdir)):
            if value:
                args += [flag, value]
        for item in env:
            args += ["-e", item]
        os.execv(docker_cli, [*args, name, *command])
    code = engine.exec_stream(
        name,
        list(command),
        user=user,
        workdir=workdir,
        environment=list(env),
        on_output=lambda data: (sys.stdout.buffer.write(data), sys.stdout.buffer.flush()),
    )
    sys.exit(code)


@click.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits.")
@click.option("--no-deps", is_flag=True, help="Do not start the services it depends on.")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE")
@click.option("--name", default=None, help="Container name (default <project>-<service>-run-<id>).")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    remove: bool,
    no_deps: bool,
    env: tuple[str, ...],
    name: str | None,
    service: str,
    command: tuple[str, ...],
) -> None:
    """Run a one-off container of SERVICE (for jobs and migrations), its dependencies first."""

    loaded = global_options().load()
    chosen = target_choice(loaded)
    chosen.kind.require(Capability.RUN, "run")
    check_services(loaded, (service,))
    code = usecases.run(
        chosen,
        loaded,
        service,
        list(command) or None,
        remove=remove,
        with_dependencies=not no_deps,
        environment=dict(item.partition("=")[::2] for item in env),
        name=name,
        on_output=lambda data: (sys.stdout.buffer.write(data), sys.stdout.buffer.flush()),
        on_message=lambda m: click.echo(m, err=True),
    )
    sys.exit(code)
