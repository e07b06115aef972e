"""The command line: the one place that prints and exits.

Each command lives in its own module and is imported only when it runs, so `stackup --version`
does not pay for pydantic, docker or rich.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from stackup import __version__

# command name → (module, function); imported lazily by `LazyGroup`.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": (
        "stackup.cli.config_cmd",
        "config",
        "Print the fully resolved stack, or validate it.",
    ),
    "graph": ("stackup.cli.graph_cmd", "graph", "Show the dependency graph and start order."),
    "diff": ("stackup.cli.diff_cmd", "diff", "Show what `up` would change, and why."),
    "up": ("stackup.cli.up_cmd", "up", "Create and start the stack, converging to the file."),
    "down": (
        "stackup.cli.lifecycle_cmd",
        "down",
        "Stop and remove the stack's containers and networks.",
    ),
    "unlock": (
        "stackup.cli.lifecycle_cmd",
        "unlock",
        "Show who holds the project's lock, and break it.",
    ),
    "history": (
        "stackup.cli.releases_cmd",
        "history_",
        "List the releases `up` recorded on the engine.",
    ),
    "rollback": (
        "stackup.cli.releases_cmd",
        "rollback_",
        "Go back to an earlier release (its stack, images and files).",
    ),
    "ps": ("stackup.cli.inspect_cmd", "ps", "List the stack's containers."),
    "ls": ("stackup.cli.inspect_cmd", "ls", "List projects on the engine."),
    "logs": ("stackup.cli.inspect_cmd", "logs", "Show service logs."),
    "exec": ("stackup.cli.run_cmd", "exec_", "Run a command in a running service container."),
    "run": ("stackup.cli.run_cmd", "run", "Run a one-off container of a service."),
    "start": ("stackup.cli.lifecycle_cmd", "start", "Start existing containers."),
    "stop": ("stackup.cli.lifecycle_cmd", "stop", "Stop containers without removing them."),
    "restart": ("stackup.cli.lifecycle_cmd", "restart", "Restart containers."),
    "pull": ("stackup.cli.images_cmd", "pull", "Pull service images."),
    "build": ("stackup.cli.images_cmd", "build", "Build service images."),
    "images": ("stackup.cli.images_cmd", "images", "List images used by the stack."),
    "lint": ("stackup.cli.lint_cmd", "lint", "Check the stack against security rules."),
    "watch": ("stackup.cli.watch_cmd", "watch", "Keep a dev stack live: reload on changes."),
    "import": ("stackup.cli.import_cmd", "import_", "Write a stack file from `docker run` lines."),
    "ui": ("stackup.cli.ui_cmd", "ui", "Serve a local page: services, the plan, Apply, logs."),
}


class _TargetNames(click.Choice[str]):
    """The names of the registered targets (`stackup.targets.registry`), read when `--target`
    is parsed or shown, not when the CLI is imported: the registry imports the targets."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from stackup.usecases.targets import target_names

        return tuple(target_names())

    @choices.setter
    def choices(self, value: object) -> None:
        return None  # click.Choice sets it; the registry holds it


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (module, _, _) in COMMANDS.items() if _exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _exists(entry[0]):
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exists(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`stackup --version`: its version, and the engine it would use (found as every command
    finds it: --context, DOCKER_HOST, …, the default socket, then Podman's)."""
    if not value or ctx.resilient_parsing:
        return
    from stackup.usecases.engines import describe_engine

    click.echo(f"stackup, version {__version__}")
    click.echo(f"engine: {describe_engine(os.environ.get('DOCKER_CONTEXT') or None)}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the engine stackup would use, and exit.",
)
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(),
    help="Stack file (repeatable; later files override earlier ones).",
)
@click.option(
    "-p", "--project-name", help="Project name (default: `name:` in the file, else the directory)."
)
@click.option("--profile", "profiles", multiple=True, help="Enable a profile (repeatable).")
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(),
    help="Read variables for interpolation from this file instead of .env.",
)
@click.option(
    "--project-directory",
    type=click.Path(file_okay=False),
    help="Base directory for relative paths (default: the first file's).",
)
@click.option(
    "--context",
    "docker_context",
    help=(
        "Docker context to use. Without it, as the docker CLI: DOCKER_HOST, then "
        "DOCKER_CONTEXT, then the current context (`docker context use`), then the default "
        "socket."
    ),
)
@click.option(
    "--target",
    type=_TargetNames(),
    default=None,
    help="Deploy to a single engine (default) or to Docker Swarm.",
)
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """stackup: Compose files, planned and applied."""
    from stackup.cli.common import GlobalOptions

    ctx.obj = GlobalOptions.from_click(options)


def main() -> None:
    """Entry point: run the CLI, turning every `StackupError` into its located lines and exit 1."""
    # An undecodable byte of a path or an environment value (a surrogate escape) is printed as
    # `\udcxx` instead of failing the command with UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        # Without standalone mode, click returns (not raises) the code of `ctx.exit(n)`.
        code = cli.main(prog_name="stackup", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # `stackup` alone: the help, which is not an error
        sys.exit(0)
    except click.ClickException as exc:
        from stackup.escape import terminal

        # Click quotes the bad argument (a flag of `import run`, a path) as it was given.
        exc.message = terminal(exc.message)  # type: ignore[misc]
        exc.show()
        # A mistyped flag is an error like any other: 1, never 2 (`diff --exit-code` says
        # "changes pending" with 2, and a CI job must not read a typo as that).
        sys.exit(1 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except MemoryError:
        # Input that expands past memory (anchors, scale) is the user's to fix, not a bug.
        click.echo(
            "error: out of memory: the input expands to more than this machine can hold "
            "(YAML anchors used many times, a huge scale or file)",
            err=True,
        )
        sys.exit(1)
    except Exception as exc:
        from stackup.errors import StackupError

        if isinstance(exc, StackupError):
            if "stackup.cli.common" in sys.modules:  # a stack was (maybe) loaded
                from stackup.cli.common import SECRETS_SEEN

                exc.conceal(SECRETS_SEEN)
            for report in exc.reports():
                click.echo(f"error: {report}", err=True)
            sys.exit(exc.exit_code)
        if os.environ.get("STACKUP_DEBUG"):
            raise
        from stackup.escape import terminal

        click.echo(f"internal error: {type(exc).__name__}: {terminal(str(exc))}", err=True)
        click.echo(
            "  this is a bug in stackup; run with STACKUP_DEBUG=1 for the traceback", err=True
        )
        sys.exit(70)
