"""`stackup up`: plan, show, and apply; then optionally wait, attach or watch."""

from __future__ import annotations

import json
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackup import usecases
from stackup.cli.common import global_options, target_choice, use_colour
from stackup.cli.interrupt import cancel_on_sigint
from stackup.cli.options import check_services, reconcile_flags, reconcile_options
from stackup.cli.progress import Progress
from stackup.errors import PlanError
from stackup.escape import terminal
from stackup.lint.catalog import Severity
from stackup.lint.linter import at_or_above, lint
from stackup.planning.plan import Action
from stackup.planning.render import render_json, render_text
from stackup.usecases import Capability
from stackup.watch import reload

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from stackup.loading.loader import LoadedStack
    from stackup.planning.plan import Plan
    from stackup.usecases import Event, Outcome


@click.command("up")
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Accepted for Compose compatibility: up never attaches unless --attach is given.",
)
@click.option("--wait", is_flag=True, help="Return only when every service is running and healthy.")
@click.option(
    "--wait-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for health.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Apply operations that delete volume data, or adopt containers, without asking.",
)
@click.option("--parallel", type=int, default=32, show_default=True, help="Operations run at once.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option(
    "--adopt",
    is_flag=True,
    help="Replace containers made outside stackup (docker run) that have the stack's container "
    "names with managed ones, keeping their volumes (asks, or --yes).",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Apply a plan saved by `diff -o`, if still current.",
)
@click.option(
    "--no-wait-lock", is_flag=True, help="Fail at once if another stackup is applying this project."
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "tty", "plain", "quiet", "json"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse to apply while lint findings at or above --severity remain.",
)
@click.option(
    "--severity",
    type=click.Choice(["low", "medium", "high"]),
    default="medium",
    show_default=True,
    help="Threshold for --strict.",
)
@click.option(
    "--attach", is_flag=True, help="Stay in the foreground streaming logs; Ctrl-C stops the stack."
)
@click.option(
    "--abort-on-container-exit",
    is_flag=True,
    help="With --attach: stop everything when a container exits.",
)
@click.option(
    "--exit-code-from", metavar="SERVICE", help="With --attach: exit with this service's exit code."
)
@click.option(
    "--watch",
    "watch",
    is_flag=True,
    help="After applying, keep watching: reload configs, re-apply the stack file (see `stackup watch`).",
)
@reconcile_flags
@click.argument("services", nargs=-1)
def up(services: tuple[str, ...], **kw: object) -> None:
    """Create and start the stack's containers, converging the engine to the file."""

    loaded = global_options().load(bind_sources=True)
    check_services(loaded, services)
    # On a swarm, up always waits for the services to converge (or roll back): the plan's
    # steps do.
    chosen = target_choice(loaded, wait_timeout=float(str(kw["wait_timeout"])))
    flags = (
        ("--attach", kw["attach"], Capability.ATTACH),
        ("--exit-code-from", kw["exit_code_from"], Capability.ATTACH),
        ("--watch", kw.get("watch"), Capability.WATCH),
        ("--plan", kw["plan_file"], Capability.SAVED_PLAN),
    )
    for flag, given, needs in flags:
        if given and needs in chosen.kind.refusals:
            chosen.kind.require(needs, flag)  # refused in the kind's own words
    asked = [flag for flag, given, needs in flags if given and not chosen.kind.supports(needs)]
    if asked:
        shown = ", ".join(asked[:-1]) + " and " + asked[-1] if len(asked) > 1 else asked[0]
        raise chosen.kind.refusal(shown, hint=False)
    if kw["exit_code_from"]:
        check_services(loaded, (str(kw["exit_code_from"]),))
        kw["attach"] = kw["abort_on_container_exit"] = True
    _lint_gate(loaded, services, strict=bool(kw["strict"]), severity=str(kw["severity"]))
    options = reconcile_options(loaded, services, kw)

    opened = usecases.as_target(chosen)
    request = usecases.UpRequest(
        options=options,
        saved_plan=_read_saved_plan(Path(str(kw["plan_file"]))) if kw["plan_file"] else None,
        saved_plan_file=str(kw["plan_file"] or ""),
        dry_run=bool(kw["dry_run"]),
        parallel=int(str(kw["parallel"])),
        wait_timeout=float(str(kw["wait_timeout"])),
        wait_lock=not kw["no_wait_lock"],
        adopt=bool(kw["adopt"]),
    )
    cancel = threading.Event()
    ui = ClickUpUI(str(kw["progress"]), bool(kw["yes"]), cancel)
    result = usecases.up(loaded, opened, request, ui, cancel)
    if kw["dry_run"]:
        return
    plan, outcome = result.plan, result.outcome
    if outcome.interrupted:
        click.echo(
            f"interrupted: {len(outcome.done)} operation(s) done, {len(outcome.skipped)} not started; "
            "run `stackup up` again to converge",
            err=True,
        )
        sys.exit(130)
    if not outcome.ok:
        _report_failure(outcome, plan, loaded)
    if kw["wait"] and chosen.kind.supports(Capability.WAIT):
        click.echo("waiting for services to be running and healthy ...")
        opened.wait_ready(loaded, plan.services, timeout=float(str(kw["wait_timeout"])))
        click.echo("all services are running and healthy")
    if result.release is not None and kw["progress"] not in ("quiet", "json"):
        click.echo(f"recorded release {result.release} (`stackup history`)")
    _print_urls(loaded, plan.services)
    if kw["watch"]:
        from stackup.cli.watch_cmd import run as run_watch

        run_watch(loaded, services, options, initial_apply=False)
        return
    if kw["attach"]:
        from stackup.cli.attach import attach

        _, engine = usecases.engine_of(opened, Capability.ATTACH, "--attach")
        code = attach(
            engine,
            loaded.stack,
            plan.services,
            abort_on_exit=bool(kw["abort_on_container_exit"]),
            exit_code_from=str(kw["exit_code_from"]) if kw["exit_code_from"] else None,
        )
        sys.exit(code)


def _lint_gate(
    loaded: LoadedStack, services: tuple[str, ...], *, strict: bool, severity: str
) -> None:

    findings = lint(loaded, services)
    for f in at_or_above(findings, Severity.HIGH):
        click.echo(f"warning: {terminal(f.location)}: {f.rule} {terminal(f.message)}", err=True)
    if strict:
        blocking = at_or_above(findings, Severity.parse(severity))
        if blocking:
            click.echo(
                f"error: --strict: {len(blocking)} lint finding(s) at or above {severity}; nothing was applied "
                "(see `stackup lint`)",
                err=True,
            )
            sys.exit(3)


def _read_saved_plan(path: Path) -> dict[str, object]:

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc}") from None
    if not isinstance(saved, dict):
        raise PlanError(f"{path} is not a plan saved by `stackup diff -o`")
    return saved


class ClickUpUI:
    """`up`'s terminal: the plan, the data-loss question, progress (build output and pull
    progress included: they are events of the plan's image operations)."""

    def __init__(self, progress: str, yes: bool, cancel: threading.Event) -> None:
        self.progress, self.yes, self.cancel = progress, yes, cancel

    def lock_wait(self, message: str) -> None:
        click.echo(message, err=True)

    def planned(self, plan: Plan) -> None:
        _show(plan, self.progress)

    def confirm_adoption(self, plan: Plan) -> bool:
        if self.yes:
            return True
        if sys.stdin.isatty() and sys.stdout.isatty():
            names = ", ".join(str(op.adopts) for op in plan.adoptions)
            question = f"Replace {names} (made outside stackup) with managed containers?"
            if click.confirm(question, default=False):
                return True

            raise PlanError("nothing was applied")
        return False

    def confirm_data_loss(self, plan: Plan) -> bool:
        if self.yes:
            return True
        if sys.stdin.isatty() and sys.stdout.isatty():
            names = ", ".join(op.name for op in plan.destroys_data)
            if click.confirm(f"This deletes the data in {names}. Continue?", default=False):
                return True

            raise PlanError("nothing was applied")
        return False

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:

        with Progress(self.progress) as show, cancel_on_sigint(self.cancel):
            yield show


def _show(plan: Plan, progress: str) -> None:

    if progress == "json":
        click.echo(render_json(plan), nl=False)
        return
    if progress != "quiet" or plan.warnings:
        click.echo(render_text(plan, colour=use_colour()), nl=False)


def _report_failure(outcome: Outcome, plan: Plan, loaded: LoadedStack) -> None:

    # A validation fails in a reload (in the container) or at the head of a recreate (in a
    # throwaway container, for a config saved by rename): either way nothing was touched.
    services = {
        op.id: op.service for op in plan.operations if op.action in (Action.RELOAD, Action.RECREATE)
    }
    for op_id, message in sorted(outcome.failed.items()):
        service = services.get(op_id)
        validation = message.startswith("validate command ")
        # A failed validation's output is told once, below, at the host files and lines.
        shown = message.split("\n", 1)[0] if service and validation else message
        click.echo(f"error: {op_id.split(':', 1)[1]}: {shown}", err=True)
        if "is already in use by container" in message and "container name" in message:
            click.echo(
                "  hint: another container has this name; if `docker run` made it, "
                "`stackup up --adopt` replaces it with a managed one, keeping its volumes",
                err=True,
            )
        if service and validation:
            # The same words watch uses: the host file and line, and what still serves.
            targets = reload.watch_targets(loaded, (service,))
            for line in reload.failure_lines(targets, service, message, Path.cwd()):
                click.echo(f"    {line}", err=True)
            click.echo("  nothing was changed; the old config keeps serving", err=True)
    for op_id, message in sorted(outcome.skipped.items()):
        click.echo(f"  {op_id.split(':', 1)[1]}: {message}", err=True)
    sys.exit(1)


def _print_urls(loaded: LoadedStack, services: tuple[str, ...]) -> None:
    for name in sorted(services):
        for port in loaded.stack.services[name].ports:
            if port.published and port.target in (80, 8080, 443) and "-" not in port.published:
                host = port.host_ip or "127.0.0.1"
                if host in ("0.0.0.0", "::"):
                    host = "127.0.0.1"
                scheme = "https" if port.target == 443 else "http"
                click.echo(f"{name}: {scheme}://{host}:{port.published}/")
