"""`stackup diff`: what `up` would do and why, against the engine or between two revisions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackup import usecases
from stackup.cli.common import global_options, target_choice, use_colour, warn_unset, write_output
from stackup.cli.options import (
    check_services,
    reconcile_flags,
    reconcile_options,
    trust,
    trust_flags,
)
from stackup.errors import UsageError
from stackup.escape import terminal
from stackup.loading.loader import LoadOptions, load
from stackup.planning.render import plan_json, render_json, render_markdown, render_text
from stackup.review import GitRevision, plan_between
from stackup.usecases import Capability

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import JsonValue

    from stackup.cli.common import GlobalOptions, Trust
    from stackup.loading.loader import LoadedStack


@click.command("diff")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option("--exit-code", is_flag=True, help="Exit 2 when changes are pending, 0 when none.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Save the plan (JSON) for `up --plan`."
)
@click.option(
    "--against",
    type=click.Path(dir_okay=False, exists=True),
    help="Compare with another stack file instead of the engine (no Docker needed).",
)
@click.option(
    "--base",
    "base_rev",
    help="Compare with the stack files at this git revision (no Docker needed).",
)
@reconcile_flags
@trust_flags
@click.argument("services", nargs=-1)
def diff(
    fmt: str,
    exit_code: bool,
    output: str | None,
    against: str | None,
    base_rev: str | None,
    services: tuple[str, ...],
    untrusted: bool,
    passed_env: tuple[str, ...],
    **flags: object,
) -> None:
    """Show the plan: every operation `up` would perform, its reason and changed fields.
    With --against or --base (a review, posted where anyone may read it) the stack is
    untrusted: see --untrusted."""

    opts = global_options()
    review = against is not None or base_rev is not None
    trusted = trust(untrusted, passed_env, review=review)
    loaded = opts.load(trusted, bind_sources=True)
    check_services(loaded, services)
    if base_rev is not None and not base_rev.strip():
        raise UsageError(
            "--base needs a git revision (a branch, tag or commit), not an empty string"
        )
    chosen = target_choice(loaded)
    if review:
        chosen.kind.require(Capability.REVIEW, "--against and --base")
    options = reconcile_options(loaded, services, flags)
    if review:
        base, reader = _base(opts, loaded, against, base_rev, trusted)
        plan = plan_between(base, loaded, options, base_reader=reader)
    else:
        plan = usecases.as_target(chosen).plan(loaded, options)
    if fmt == "json":
        click.echo(render_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(plan), nl=False)
    else:
        click.echo(render_text(plan, colour=use_colour()), nl=False)
    if output:
        saved = plan_json(plan)
        saved["options"] = {
            "services": list(services),
            "target": chosen.kind.name,
            **{k: _plain(v) for k, v in flags.items()},
        }

        write_output(output, json.dumps(saved, indent=2) + "\n", "the plan")
        shown = terminal(output)
        click.echo(
            f"saved the plan to {shown}; apply it with `stackup up --plan {shown}`", err=True
        )
    if plan.blockers:  # `up` would refuse this plan: an error, as for `up`
        what = chosen.kind.blocked
        click.echo(f"error: {len(plan.blockers)} problem(s) {what}; nothing was applied", err=True)
        sys.exit(1)
    if exit_code:
        sys.exit(2 if plan.changes else 0)


def _plain(value: object) -> JsonValue:
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _base(
    opts: GlobalOptions,
    loaded: LoadedStack,
    against: str | None,
    base_rev: str | None,
    trusted: Trust,
) -> tuple[LoadedStack, Callable[[Path], str] | None]:
    """The stack to compare with, loaded under the same project name (and trust), and the
    reader of its files when they come from git."""

    common = {
        "project_name": loaded.stack.name,
        "profiles": opts.profiles,
        "env_files": opts.env_files,
        "untrusted": trusted.untrusted,
        "passed_env": trusted.passed_env,
    }
    if against:
        base = load(LoadOptions(files=(Path(against),), **common))  # type: ignore[arg-type]
        warn_unset(base, " (base)")
        return base, None

    assert base_rev is not None
    revision = GitRevision(base_rev, Path.cwd(), follow_links=not trusted.untrusted)
    reader = revision.read
    base = load(
        LoadOptions(
            files=opts.files,
            project_directory=opts.project_directory,
            read_text=reader,
            resolve_links=revision.resolve,
            **common,  # type: ignore[arg-type]
        )
    )
    warn_unset(base, " (base)")
    return base, reader
