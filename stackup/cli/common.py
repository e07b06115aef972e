"""What every command shares: the global options, and loading the stack from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from stackup.loading.loader import LoadedStack, LoadOptions
    from stackup.usecases import Logs, LogStream
    from stackup.usecases.targets import TargetChoice


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

    def load_options(self, trust: Trust | None = None) -> LoadOptions:
        """What loading the stack is asked, from the global flags (`ui` loads again with it)."""
        from stackup.loading.loader import LoadOptions

        trust = trust or Trust()
        return LoadOptions(
            files=self.files,
            project_name=self.project_name,
            profiles=self.profiles,
            env_files=self.env_files,
            project_directory=self.project_directory,
            untrusted=trust.untrusted,
            passed_env=trust.passed_env,
        )

    def load(self, trust: Trust | None = None, *, bind_sources: bool = False) -> LoadedStack:
        """The stack, after telling the user (on stderr) which of its keys stackup ignores,
        (`bind_sources`: the commands that show or apply what would run) which bind sources
        do not exist, so the engine will create them as empty directories, and, untrusted,
        which variables were left unset."""
        from stackup.escape import terminal
        from stackup.loading.loader import load
        from stackup.usecases.loaded import load_warnings

        loaded = load(self.load_options(trust))
        from stackup.model.sensitive import redact_text

        SECRETS_SEEN.update(loaded.stack.secret_values)
        found = load_warnings(loaded, target_choice(loaded).kind, bind_sources=bind_sources)
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


def target_choice(
    loaded: LoadedStack | None = None, *, wait_timeout: float = 300.0
) -> TargetChoice:
    """The target the stack deploys to, not connected yet: `--target`, else `x-stackup.target`
    of the file, else the single engine (`stackup.usecases.targets.choose_target`)."""
    from stackup.usecases import TargetSettings
    from stackup.usecases.targets import choose_target

    opts = global_options()
    settings = TargetSettings(docker_context=opts.docker_context, wait_timeout=wait_timeout)
    return choose_target(opts.target, loaded, settings)


def connect_engine() -> Any:
    """The Docker engine, found as the docker CLI finds it (DOCKER_HOST, --context, ...)."""
    from stackup.usecases.engines import connect_engine as connect

    return connect(global_options().docker_context)


def use_colour(stream: Any = None) -> bool:
    import os
    import sys

    stream = stream or sys.stdout
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


# Service prefixes of interleaved logs (logs, up --attach), one colour per container.
LOG_COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "red")


def follow_logs(logs: Logs, *, no_prefix: bool) -> None:
    """Print every stream of `logs` as its lines come, interleaved, each line prefixed by its
    stream's name (`web-1 | ...`, coloured on a terminal when the target colours them); until
    the streams end, or Ctrl-C."""
    import threading

    width = max((len(s.name) for s in logs.streams), default=0)
    colour = logs.coloured and use_colour()
    lock = threading.Lock()

    def stream(source: LogStream, index: int) -> None:
        prefix = "" if no_prefix else f"{source.name:<{width}} | "
        if prefix and colour:
            prefix = click.style(prefix, fg=LOG_COLOURS[index % len(LOG_COLOURS)])
        for line in source.lines():
            with lock:
                click.echo(prefix + line.decode(errors="replace").rstrip("\n"))

    threads = [
        threading.Thread(target=stream, args=(s, i), daemon=True)
        for i, s in enumerate(logs.streams)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        return


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
