"""`stackup down`, `start`, `stop`, `restart`: plans built from labels, run by the executor;
and `stackup unlock`, which breaks the project's lock."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from stackup import usecases
from stackup.cli.common import global_options, target_choice
from stackup.cli.interrupt import cancel_on_sigint
from stackup.cli.options import check_services
from stackup.cli.progress import Progress
from stackup.errors import StackFileError
from stackup.escape import terminal
from stackup.usecases import Capability

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from stackup.loading.loader import LoadedStack
    from stackup.planning.plan import Plan
    from stackup.usecases import Event, LockHolder, Outcome


def _project() -> tuple[str, frozenset[str] | None, frozenset[str], LoadedStack | None]:
    """The project name and, when a stack file is at hand, its service names, the volumes it
    declares external and the stack itself (for its target). With `-p NAME` and no file, down
    works from labels alone."""

    opts = global_options()
    try:
        loaded = opts.load()
    except StackFileError:
        if opts.project_name and not opts.files:
            return opts.project_name, None, frozenset(), None
        raise
    external = frozenset(v.name or k for k, v in loaded.stack.volumes.items() if v.external)
    return loaded.stack.name, frozenset(loaded.stack.services), external, loaded


@click.command("down")
@click.option(
    "-v",
    "--volumes",
    is_flag=True,
    help=(
        "Also remove named volumes the stack created (never external ones), the project's "
        "releases (`stackup history`) and, on a remote engine, its files on the engine's host."
    ),
)
@click.option(
    "--remove-orphans",
    is_flag=True,
    help="Also remove containers of services no longer in the file.",
)
@click.option(
    "-t",
    "--timeout",
    type=float,
    default=None,
    help="Seconds to wait for a container to stop before killing it.",
)
@click.option(
    "--no-wait-lock", is_flag=True, help="Fail at once if another stackup is applying this project."
)
@click.option(
    "--progress", type=click.Choice(["auto", "tty", "plain", "quiet", "json"]), default="auto"
)
def down(
    volumes: bool, remove_orphans: bool, timeout: float | None, no_wait_lock: bool, progress: str
) -> None:
    """Stop and remove the stack's containers and networks (and, with -v, its volumes)."""

    project, services, external, loaded = _project()
    chosen = target_choice(loaded)
    request = usecases.DownRequest(
        services=services,
        external_volumes=external,
        volumes=volumes,
        remove_orphans=remove_orphans,
        timeout=timeout,
        wait_lock=not no_wait_lock,
    )
    cancel = threading.Event()
    applied = usecases.down(project, chosen, request, ClickApplyUI(progress, cancel), cancel)
    _report(applied.outcome)
    if chosen.kind.removed and applied.plan.operations:
        click.echo(chosen.kind.removed.format(project=project))


@click.command("unlock")
@click.option("-y", "--yes", is_flag=True, help="Break the lock without asking.")
def unlock(yes: bool) -> None:
    """Show who holds the project's lock on the engine, and break it (after asking).

    Break a lock only when its holder is gone (killed, or its machine lost): an `up` whose
    lease is broken under it fails when it is done, saying so. A lock nobody renews also
    expires on its own (STACKUP_LOCK_TTL seconds after its last renewal, 30 by default).
    """
    project, _, _, loaded = _project()

    def confirm(holder: LockHolder) -> bool:
        click.echo(f"project {terminal(project)} is locked ({terminal(holder.text)})")
        if yes:
            return True
        asked = sys.stdin.isatty()  # nobody to ask: only --yes breaks it
        return asked and click.confirm("Break this lock? Only if that stackup is gone")

    result = usecases.unlock(project, target_choice(loaded), confirm)
    if result.holder is None:
        click.echo(f"project {terminal(project)} is not locked")
    elif not result.broken:
        click.echo("error: the lock was left in place", err=True)
        if not sys.stdin.isatty():
            click.echo("  hint: `stackup unlock --yes` breaks it without asking", err=True)
        sys.exit(1)
    else:
        click.echo(f"broke the lock on project {terminal(project)}")


class ClickApplyUI:
    """A plan's warnings, or that there is nothing to do, then live progress."""

    def __init__(self, progress: str, cancel: threading.Event) -> None:
        self.progress, self.cancel = progress, cancel

    def lock_wait(self, message: str) -> None:
        click.echo(message, err=True)

    def planned(self, plan: Plan) -> None:

        for warning in plan.warnings:
            click.echo(f"warning: {terminal(warning)}", err=True)
        if not plan.operations:
            click.echo(f"nothing to do for project {terminal(plan.project)}")

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:

        with Progress(self.progress) as show, cancel_on_sigint(self.cancel):
            yield show


def _report(outcome: Outcome) -> None:
    if outcome.failed:
        for op_id, message in sorted(outcome.failed.items()):
            click.echo(f"error: {op_id.split(':', 1)[1]}: {message}", err=True)
        sys.exit(1)
    if outcome.interrupted:
        sys.exit(130)


def _lifecycle(action: str, services: tuple[str, ...], timeout: float | None) -> None:

    loaded = global_options().load()
    chosen = target_choice(loaded)
    chosen.kind.require(Capability.LIFECYCLE, action)
    check_services(loaded, services)
    cancel = threading.Event()
    ui = ClickApplyUI("auto", cancel)
    applied = usecases.lifecycle(loaded, chosen, action, services, timeout, ui, cancel)
    _report(applied.outcome)


@click.command("stop")
@click.option("-t", "--timeout", type=float, default=None)
@click.argument("services", nargs=-1)
def stop(timeout: float | None, services: tuple[str, ...]) -> None:
    """Stop containers without removing them."""
    _lifecycle("stop", services, timeout)


@click.command("start")
@click.argument("services", nargs=-1)
def start(services: tuple[str, ...]) -> None:
    """Start existing, stopped containers."""
    _lifecycle("start", services, None)


@click.command("restart")
@click.option("-t", "--timeout", type=float, default=None)
@click.argument("services", nargs=-1)
def restart(timeout: float | None, services: tuple[str, ...]) -> None:
    """Restart containers."""
    _lifecycle("restart", services, timeout)
