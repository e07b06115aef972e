"""`stackup up`: plan, show, and apply; then optionally wait, attach or watch."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackup.cli.options import reconcile_flags

if TYPE_CHECKING:
    from stackup.docker_engine import DockerEngine
    from stackup.execute import Outcome
    from stackup.loader import LoadedStack
    from stackup.plan import Plan


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
    "--yes", "-y", is_flag=True, help="Apply operations that delete volume data without asking."
)
@click.option(
    "--pull",
    type=click.Choice(["always", "missing", "never"]),
    default="missing",
    show_default=True,
    help="When to pull images.",
)
@click.option(
    "--build",
    "do_build",
    is_flag=True,
    help="Build images of services with a `build:` section first.",
)
@click.option("--parallel", type=int, default=32, show_default=True, help="Operations run at once.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
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
    from stackup.cli.common import global_options, target
    from stackup.cli.options import check_services, reconcile_options
    from stackup.errors import UsageError

    loaded = global_options().load()
    check_services(loaded, services)
    if target(loaded) == "swarm":
        if kw["attach"] or kw["exit_code_from"] or kw.get("watch") or kw["plan_file"]:
            raise UsageError(
                "--attach, --exit-code-from, --watch and --plan are not available with --target swarm"
            )
        _lint_gate(loaded, services, strict=bool(kw["strict"]), severity=str(kw["severity"]))
        from stackup.cli import swarm_cmd

        # up on a swarm always waits for the services to converge (or roll back).
        swarm_cmd.up(loaded, services, kw)
        return
    if kw["exit_code_from"]:
        check_services(loaded, (str(kw["exit_code_from"]),))
        kw["attach"] = kw["abort_on_container_exit"] = True
    _lint_gate(loaded, services, strict=bool(kw["strict"]), severity=str(kw["severity"]))
    options = reconcile_options(loaded, services, kw)

    from stackup.cli.common import connect_engine
    from stackup.lock import project_lock

    engine: DockerEngine = connect_engine()
    project = loaded.stack.name
    with project_lock(
        engine.engine_id(),
        project,
        wait=not kw["no_wait_lock"],
        on_wait=lambda message: click.echo(message, err=True),
    ):
        plan = _plan_with_images(loaded, engine, options, str(kw["pull"]), bool(kw["do_build"]))
        if kw["plan_file"]:
            _check_saved_plan(Path(str(kw["plan_file"])), plan)
        _show(plan, str(kw["progress"]))
        if kw["dry_run"]:
            return
        _preflight(plan, engine, loaded)
        _confirm_data_loss(plan, bool(kw["yes"]))
        outcome = _apply(
            plan,
            engine,
            str(kw["progress"]),
            int(str(kw["parallel"])),
            float(str(kw["wait_timeout"])),
        )
    if not outcome.ok:
        _report_failure(outcome, plan, loaded)
    if kw["wait"]:
        from stackup.waits import wait_until_healthy

        click.echo("waiting for services to be running and healthy ...")
        wait_until_healthy(
            engine, loaded.stack, plan.services, timeout=float(str(kw["wait_timeout"]))
        )
        click.echo("all services are running and healthy")
    _print_urls(loaded, plan.services)
    if kw["watch"]:
        from stackup.cli.watch_cmd import run as run_watch

        run_watch(loaded, services, options, initial_apply=False)
        return
    if kw["attach"]:
        from stackup.cli.attach import attach

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
    from stackup.lint import at_or_above, lint
    from stackup.lint_rules import Severity

    findings = lint(loaded, services)
    for f in at_or_above(findings, Severity.HIGH):
        click.echo(f"warning: {f.location}: {f.rule} {f.message}", err=True)
    if strict:
        blocking = at_or_above(findings, Severity.parse(severity))
        if blocking:
            click.echo(
                f"error: --strict: {len(blocking)} lint finding(s) at or above {severity}; nothing was applied "
                "(see `stackup lint`)",
                err=True,
            )
            sys.exit(3)


def _plan_with_images(
    loaded: LoadedStack, engine: DockerEngine, options: object, pull: str, build: bool
) -> Plan:
    """Plan; pull or build what is needed; plan again if images changed, so the plan
    reflects the image IDs the containers will really get."""
    from stackup import api
    from stackup.reconcile import ReconcileOptions

    assert isinstance(options, ReconcileOptions)
    options = api.plan_options(loaded, engine, options)
    observed = api.observe(loaded, engine, options)
    selected = options.services or tuple(loaded.stack.services)
    changed = False
    from stackup.desired import image_key, image_ref

    # With --build every `build:` service is built; without it, as Compose does, only those
    # whose image does not exist yet.
    to_build = [
        s
        for s in sorted(selected)
        if loaded.stack.services[s].build is not None
        and (build or image_key(image_ref(loaded.stack, s)) not in observed.images)
    ]
    if to_build:
        from stackup.cli.images_cmd import build_services

        changed = bool(build_services(loaded, engine, to_build)) or changed
    images = _images_to_pull(loaded, selected, observed.images, pull)
    if images:
        from stackup.cli.images_cmd import pull_images

        pull_images(engine, images)
        changed = True
    if changed:
        observed = api.observe(loaded, engine, options)
    from stackup.graph import build_graph
    from stackup.reconcile import reconcile

    return reconcile(loaded.stack, build_graph(loaded.stack, loaded.source), observed, options)


def _images_to_pull(
    loaded: LoadedStack, selected: tuple[str, ...], local: object, policy: str
) -> list[str]:
    from stackup.compat import is_aged_pull_policy
    from stackup.desired import image_key

    assert isinstance(local, dict)
    out: list[str] = []
    for name in sorted(selected):
        service = loaded.stack.services[name]
        if service.image is None:
            continue
        wanted = service.pull_policy or policy
        if is_aged_pull_policy(wanted):
            wanted = "missing"  # stackup does not track image age (a load-time warning says so)
        if wanted in ("never", "build") or (wanted == "missing" and service.build is not None):
            continue
        missing = image_key(service.image) not in local and service.image not in local
        if wanted == "always" or (wanted in ("missing", "if_not_present") and missing):
            out.append(service.image)
    return sorted(set(out))


def _check_saved_plan(path: Path, plan: Plan) -> None:
    """`up --plan`: apply only if planning now gives exactly the saved plan from the same
    engine state."""
    from stackup.errors import PlanError
    from stackup.render import plan_json

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc}") from None
    now = plan_json(plan)
    if saved.get("fingerprint") != now["fingerprint"]:
        raise PlanError(
            f"the engine's state changed since the plan in {path} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )
    if saved.get("operations") != now["operations"] or saved.get("project") != now["project"]:
        raise PlanError(
            f"the stack file changed since the plan in {path} was made; nothing was applied",
            hint="run `stackup diff -o` again and review the new plan",
        )


def _show(plan: Plan, progress: str) -> None:
    from stackup.cli.common import use_colour
    from stackup.render import render_text

    if progress == "json":
        from stackup.render import render_json

        click.echo(render_json(plan), nl=False)
        return
    if progress != "quiet" or plan.warnings:
        click.echo(render_text(plan, colour=use_colour()), nl=False)


def _preflight(plan: Plan, engine: DockerEngine, loaded: LoadedStack) -> None:
    """Refuse before starting anything when something is in the way."""
    from stackup.compat import engine_errors
    from stackup.errors import ApplyError
    from stackup.preflight import check

    api_version = getattr(engine, "api_version", None)
    if api_version is not None:
        errors = engine_errors(loaded.stack, loaded.source, api_version, plan.services)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ApplyError(
                errors[0] + more,
                hint="upgrade the engine, or remove the key; nothing was started",
            )
    check(plan, engine, loaded.stack)


def _confirm_data_loss(plan: Plan, yes: bool) -> None:
    from stackup.errors import PlanError

    risky = plan.destroys_data
    if not risky or yes:
        return
    names = ", ".join(op.name for op in risky)
    if sys.stdin.isatty() and sys.stdout.isatty():
        if click.confirm(f"This deletes the data in {names}. Continue?", default=False):
            return
        raise PlanError("nothing was applied")
    raise PlanError(
        f"the plan deletes the data in {names}; nothing was applied",
        hint="review `stackup diff`, then run `stackup up --yes` to accept",
    )


def _apply(
    plan: Plan, engine: DockerEngine, progress: str, parallel: int, wait_timeout: float
) -> Outcome:
    from stackup.cli.progress import Progress
    from stackup.execute import ExecuteOptions, Outcome, execute

    if not plan.operations:
        return Outcome()
    from stackup.cli.interrupt import cancel_on_sigint

    with Progress(progress) as show, cancel_on_sigint(threading.Event()) as cancel:
        outcome = execute(
            plan,
            engine,
            show,
            # _confirm_data_loss has asked (or --yes said so) before we get here.
            ExecuteOptions(parallel=parallel, wait_timeout=wait_timeout, allow_data_loss=True),
            cancel,
        )
    if outcome.interrupted:
        click.echo(
            f"interrupted: {len(outcome.done)} operation(s) done, {len(outcome.skipped)} not started; "
            "run `stackup up` again to converge",
            err=True,
        )
        sys.exit(130)
    return outcome


def _report_failure(outcome: Outcome, plan: Plan, loaded: LoadedStack) -> None:
    from stackup import reload as R
    from stackup.plan import Action

    # A validation fails in a reload (in the container) or at the head of a recreate (in a
    # throwaway container, for a config saved by rename): either way nothing was touched.
    services = {
        op.id: op.service for op in plan.operations if op.action in (Action.RELOAD, Action.RECREATE)
    }
    for op_id, message in sorted(outcome.failed.items()):
        click.echo(f"error: {op_id.split(':', 1)[1]}: {message}", err=True)
        service = services.get(op_id)
        if service is not None and message.startswith("validate command "):
            # The same words watch uses: the host file and line, and what still serves.
            targets = R.watch_targets(loaded, (service,))
            for line in R.failure_lines(targets, service, message, Path.cwd()):
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
