"""`stackup history` and `stackup rollback`: the releases `up` records on the engine, and
the way back to one (stackup.usecases.rollback)."""

from __future__ import annotations

import json
import sys
import threading

import click

from stackup.cli.common import print_table, target_choice
from stackup.cli.inspect_cmd import _project
from stackup.cli.up_cmd import ClickUpUI, _report_failure
from stackup.escape import terminal
from stackup.usecases.rollback import RollbackRequest, history, rollback


@click.command("history")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def history_(fmt: str) -> None:
    """List the project's releases on the engine, newest first."""

    loaded, project = _project()
    found = history(project, target_choice(loaded))
    if fmt == "json":
        click.echo(json.dumps([r.as_json() for r in found], indent=2))
        return
    if not found:
        click.echo(f"project {terminal(project)} has no releases on this engine", err=True)
        return
    print_table(
        ["RELEASE", "TIME", "BY", "WHAT", "COMMIT"],
        [
            [
                str(r.number),
                r.time.replace("T", " ").replace("Z", " UTC"),
                terminal(r.by),
                "up" if r.kind == "up" else f"rollback to {r.of}",
                (r.commit[:12] + (" (dirty)" if r.dirty else "")) if r.commit else "-",
            ]
            for r in found
        ],
    )


@click.command("rollback")
@click.argument("release", type=int, required=False)
@click.option("-y", "--yes", is_flag=True, help="Answer yes to the data-loss question.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option("--parallel", type=int, default=32, show_default=True, help="Operations run at once.")
@click.option(
    "--no-wait-lock", is_flag=True, help="Fail at once if another stackup is applying this project."
)
@click.option(
    "--progress", type=click.Choice(["auto", "tty", "plain", "quiet", "json"]), default="auto"
)
def rollback_(
    release: int | None,
    yes: bool,
    dry_run: bool,
    parallel: int,
    no_wait_lock: bool,
    progress: str,
) -> None:
    """Go back to RELEASE (default: the one before the newest): its stack, images and files,
    planned and shown like `up`; named volumes keep their data."""

    loaded, project = _project()
    request = RollbackRequest(
        release=release, dry_run=dry_run, parallel=parallel, wait_lock=not no_wait_lock
    )
    cancel = threading.Event()
    result = rollback(
        project, loaded, target_choice(loaded), request, ClickUpUI(progress, yes, cancel), cancel
    )
    if dry_run:
        return
    outcome = result.outcome
    if outcome.interrupted:
        click.echo("interrupted: run `stackup rollback` again to converge", err=True)
        sys.exit(130)
    if not outcome.ok:
        if loaded is not None:
            _report_failure(outcome, result.plan, loaded)  # up's words; exits 1
        for op_id, message in sorted(outcome.failed.items()):
            click.echo(f"error: {op_id.split(':', 1)[1]}: {terminal(message)}", err=True)
        sys.exit(1)
    if result.release is not None:
        click.echo(f"recorded release {result.release} (rollback)")


__all__ = ["history_", "rollback_"]
