"""`stackup import`: a stack file from what you run today.

stackup import run -o stack.yaml -- docker run -d -p 80:80 -v $PWD/app:/usr/share/nginx/html nginx
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackup.cli.common import connect_engine, write_output
from stackup.errors import UsageError
from stackup.escape import terminal
from stackup.importing.dockerrun import parse_docker_run, split_command_line
from stackup.importing.fromcontainer import docker_run_args
from stackup.importing.writer import dotenv_text, write_stack

if TYPE_CHECKING:
    from stackup.importing.dockerrun import Imported


@click.group("import")
def import_() -> None:
    """Write a stack file from `docker run` lines."""


@import_.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the stack file here (and secret-looking values to a .env beside it); "
    "default: print it.",
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, required=True)
def run(output: str | None, argv: tuple[str, ...]) -> None:
    """Read a `docker run` command line (after `--`) as a service of a stack file.

    Every common flag is read (-p -v --mount -e --env-file --name --network --network-alias
    --restart --health-* --tmpfs --read-only --cap-add/--cap-drop --security-opt -m --cpus
    --pids-limit -u -w --entrypoint --label --log-opt --add-host --dns --hostname --init
    --ulimit --shm-size --stop-signal --stop-timeout --expose --device --privileged and
    more); an unknown flag is an error naming it. A whole line in one argument is split as a
    shell would. A `podman run` line is read as a `docker run` line, with a warning naming
    each podman-only flag or value it ignores (--pod, --userns=keep-id, --pull=newer, ...).
    """

    args = list(argv)
    if len(args) == 1 and " " in args[0]:
        args = split_command_line(args[0])
    _write([parse_docker_run(args)], output)


def _write(imports: list[Imported], output: str | None) -> None:

    target = Path(output) if output else None
    project_dir = str(target.resolve().parent) if target else os.getcwd()
    try:
        written = write_stack(imports, project_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for warning in written.warnings:
        click.echo(f"warning: {terminal(warning)}", err=True)
    if target is None:
        click.echo(written.stack, nl=False)
        if written.dotenv:
            click.echo("# .env (not written without -o):", err=True)
            for key in written.dotenv:
                click.echo(f"#   {key}=…", err=True)
        return
    if target.exists():
        raise UsageError(f"{output} exists; nothing was written", hint="choose another -o path")
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {output}: the directory {target.parent} does not exist")
    env_path = target.parent / ".env"
    if written.dotenv and env_path.exists():
        raise UsageError(
            f"{env_path} exists and the secrets would go there; nothing was written",
            hint="move it aside, or add the values to it yourself",
        )

    write_output(str(target), written.stack, "the stack file")
    if written.dotenv:
        # Created readable by its owner only, from the first byte (not chmod-ed afterwards).
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dotenv_text(written.dotenv))
        click.echo(f"wrote {env_path} (mode 600)", err=True)
    click.echo(f"wrote {output}; run it with `stackup -f {output} up`", err=True)


@import_.command("container")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the stack file here (and secret-looking values to a .env beside it); "
    "default: print it.",
)
@click.argument("names", nargs=-1, required=True)
def container(output: str | None, names: tuple[str, ...]) -> None:
    """Read containers on the engine (running or not) as services of a stack file, one per
    container, named after it, leaving out what the image and the engine set by default."""

    engine = connect_engine()
    imports = []
    for name in names:
        raw = engine.inspect_raw(name)
        image = engine.inspect_image_raw(str(raw.get("Image", "")))
        args = docker_run_args(raw, image)
        # `--network container:<id>`: written with the other container's name, as a user would.
        mode = str((raw.get("HostConfig") or {}).get("NetworkMode") or "")
        if mode.startswith("container:"):
            other = engine.inspect_raw(mode.removeprefix("container:"))
            named = "container:" + str(other.get("Name", "")).lstrip("/")
            args = [named if a == mode else a for a in args]
        imports.append(parse_docker_run(args))
    _write(imports, output)
