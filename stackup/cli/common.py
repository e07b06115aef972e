"""What every command shares: the global options, and loading the stack from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack
    from stackup.targets.target import Target


@dataclass(frozen=True)
class GlobalOptions:
    files: tuple[Path, ...]
    project_name: str | None
    profiles: tuple[str, ...]
    env_files: tuple[Path, ...]
    project_directory: Path | None
    docker_context: str | None
    target: str | None

    @classmethod
    def from_click(cls, options: dict[str, Any]) -> GlobalOptions:
        return cls(
            files=tuple(Path(f) for f in options.get("files") or ()),
            project_name=options.get("project_name"),
            profiles=tuple(options.get("profiles") or ()),
            env_files=tuple(Path(f) for f in options.get("env_files") or ()),
            project_directory=(
                Path(options["project_directory"]) if options.get("project_directory") else None
            ),
            docker_context=options.get("docker_context"),
            target=options.get("target"),
        )

    def load(self, trust: Trust | None = None, *, bind_sources: bool = False) -> LoadedStack:
        """The stack, after telling the user (on stderr) which of its keys stackup ignores,
        (`bind_sources`: the commands that show or apply what would run) which bind sources
        do not exist, so the engine will create them as empty directories, and, untrusted,
        which variables were left unset."""
        from stackup.escape import terminal
        from stackup.loading.compat import warnings
        from stackup.loading.loader import LoadOptions, load

        trust = trust or Trust()
        loaded = load(
            LoadOptions(
                files=self.files,
                project_name=self.project_name,
                profiles=self.profiles,
                env_files=self.env_files,
                project_directory=self.project_directory,
                untrusted=trust.untrusted,
                passed_env=trust.passed_env,
            )
        )
        from stackup.model.sensitive import redact_text

        SECRETS_SEEN.update(loaded.stack.secret_values)
        swarm = (self.target or loaded.stack.stackup.target) == "swarm"
        found = warnings(loaded.stack, loaded.source, swarm=swarm)
        if bind_sources and not swarm:  # a swarm's nodes, not this host, hold its bind sources
            from stackup.planning import bindsources as B

            services = loaded.stack.services
            mounts = B.bind_sources(loaded.stack, services)
            # Untrusted, nothing outside the repository is looked at, not even whether it exists.
            allowed = (m.source for m in mounts if loaded.host_paths.allows(Path(m.source)))
            kinds = B.host_kinds(allowed)
            base = loaded.project_directory
            found += B.warnings(loaded.stack, loaded.source, base, kinds, services)
        for warning in found:
            # Warnings quote keys and paths of the file: one line each, controls escaped.
            click.echo(f"warning: {terminal(redact_text(str(warning), SECRETS_SEEN))}", err=True)
        warn_unset(loaded)
        return loaded


# The values built from secret variables in the stacks this run loaded: an error raised after
# loading (planning, the engine) is shown without them too (`main` conceals them).
SECRETS_SEEN: set[str] = set()


@dataclass(frozen=True)
class Trust:
    """`--untrusted` (or STACKUP_UNTRUSTED=1, or a review) and the `--env NAME` it lets in."""

    untrusted: bool = False
    passed_env: tuple[str, ...] = ()


def warn_unset(loaded: LoadedStack, side: str = "") -> None:
    if loaded.unset_variables:
        names = ", ".join(loaded.unset_variables)
        click.echo(
            f"warning: untrusted mode{side}: the environment is not read, so these variables "
            f"are unset: {names} (pass --env NAME for one that is safe to read)",
            err=True,
        )


def global_options() -> GlobalOptions:
    obj = click.get_current_context().find_root().obj
    assert isinstance(obj, GlobalOptions)
    return obj


def target(loaded: LoadedStack | None = None) -> str:
    """`--target`, else `x-stackup.target` of the file, else `engine`."""
    opts = global_options()
    if opts.target:
        return opts.target
    if loaded is not None and loaded.stack.stackup.target:
        return loaded.stack.stackup.target
    return "engine"


def open_target(loaded: LoadedStack | None = None, *, wait_timeout: float = 300.0) -> Target:
    """The target the stack deploys to (`target()`), connected: the single engine, or the
    swarm this engine manages."""
    if target(loaded) == "swarm":
        from stackup.cli.swarm_cmd import connect
        from stackup.targets.swarm.target import SwarmTarget

        return SwarmTarget(connect(), wait_timeout)
    from stackup.targets.engine.target import EngineTarget

    return EngineTarget(connect_engine())


def refuse_swarm(loaded: LoadedStack | None = None, command: str = "this command") -> None:
    """For the commands that have no swarm branch (diff, up, down, ps and logs have one)."""
    from stackup.errors import UsageError

    if target(loaded) == "swarm":
        raise UsageError(
            f"{command} is not available with --target swarm",
            hint="use the docker CLI against a swarm manager (`docker service ...`) for now",
        )


def connect_engine() -> Any:
    """The Docker engine, found as the docker CLI finds it (DOCKER_HOST, --context, ...)."""
    from stackup.engine.docker.engine import connect_engine as connect

    return connect(global_options().docker_context)


def use_colour(stream: Any = None) -> bool:
    import os
    import sys

    stream = stream or sys.stdout
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


# Service prefixes of interleaved logs (logs, up --attach), one colour per container.
LOG_COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "red")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, as `docker ps` prints them. Cells (names, images,
    commands from the stack file or the engine) are shown with their controls escaped."""
    from stackup.escape import terminal

    rows = [[terminal(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def write_output(path: str, text: str, what: str = "the output") -> None:
    """Write a file the user named with -o: a missing directory, a directory, a read-only or
    full device is a usage error (exit 1) that names the path, not an internal error."""
    from stackup.errors import UsageError

    try:
        # A surrogate escape (an undecodable byte of an environment value or a path) is written
        # as `\udcxx`, as it is printed, rather than failing the whole write.
        Path(path).write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise UsageError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None
