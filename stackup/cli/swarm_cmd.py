"""The `--target swarm` branches of `diff`, `up`, `down`, `ps` and `logs`.

Same shape as the single-engine commands: observe once, plan (`stackup.targets.swarm.plan`), render with the
same renderers, execute with the same executor. What differs is the engine layer
(`stackup.engine.docker.swarm`) and, before `up` plans, pushing local images to `x-stackup.registry`.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stackup.engine.docker.swarm import DockerSwarm
    from stackup.loading.loader import LoadedStack
    from stackup.planning.plan import Plan
    from stackup.targets.swarm.desired import SwarmOptions


def connect() -> DockerSwarm:
    from stackup.cli.common import global_options
    from stackup.engine.docker.swarm import connect_swarm

    engine = connect_swarm(global_options().docker_context)
    engine.require_manager()
    return engine


def _options(
    loaded: LoadedStack,
    services: tuple[str, ...],
    flags: Mapping[str, object],
    digests: Mapping[str, str] | None = None,
) -> SwarmOptions:
    from stackup.errors import UsageError
    from stackup.planning import salt as S
    from stackup.planning.desired import read_file_objects
    from stackup.targets.swarm.desired import SwarmOptions

    for flag in ("force_recreate", "no_recreate", "renew_anon_volumes"):
        if flags.get(flag):
            raise UsageError(f"--{flag.replace('_', '-')} has no meaning with --target swarm")
    if flags.get("scale"):
        raise UsageError("--scale: set deploy.replicas in the file for --target swarm")
    return SwarmOptions(
        services=services,
        remove_orphans=bool(flags.get("remove_orphans")),
        salt=S.fresh(),  # for a project with none on the swarm yet (stackup.planning.salt, rule 3)
        file_objects=read_file_objects(loaded.stack),
        registry=loaded.stack.stackup.registry,
        digests=dict(digests or {}),
        wait_timeout=float(str(flags.get("wait_timeout") or 300.0)),
    )


def _plan(loaded: LoadedStack, engine: DockerSwarm, options: SwarmOptions) -> Plan:
    from stackup.targets.swarm.plan import reconcile_swarm

    return reconcile_swarm(
        loaded.stack, loaded.source, engine.observe_swarm(loaded.stack.name), options
    )


def _render(plan: Plan, fmt: str) -> None:
    from stackup.cli.common import use_colour
    from stackup.planning.render import render_json, render_markdown, render_text

    if fmt == "json":
        click.echo(render_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(plan), nl=False)
    else:
        click.echo(render_text(plan, colour=use_colour()), nl=False)


def _refuse_blockers(plan: Plan) -> None:
    if plan.blockers:
        click.echo(
            f"error: {len(plan.blockers)} problem(s) in the stack file that Swarm cannot run; "
            "nothing was applied",
            err=True,
        )
        sys.exit(1)


# --------------------------------------------------------------------------- diff


def diff(
    loaded: LoadedStack,
    services: tuple[str, ...],
    *,
    fmt: str,
    exit_code: bool,
    output: str | None,
    flags: Mapping[str, object],
) -> None:
    from stackup.planning.render import plan_json

    engine = connect()
    plan = _plan(loaded, engine, _options(loaded, services, flags))
    _render(plan, fmt)
    if output:
        saved = plan_json(plan)
        saved["options"] = {"services": list(services), "target": "swarm"}
        Path(output).write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        click.echo(f"saved the plan to {output}", err=True)
    _refuse_blockers(plan)
    if exit_code:
        sys.exit(2 if plan.changes else 0)


# --------------------------------------------------------------------------- up


def push_images(
    loaded: LoadedStack, engine: DockerSwarm, services: tuple[str, ...]
) -> dict[str, str]:
    """Tag each local image as its registry name and push it; returns image → digest.

    Only with `x-stackup.registry`: a multi-node swarm pulls every image by name on the node
    that runs the task, so an image that exists only here must reach a registry first."""
    from stackup.planning.desired import image_ref
    from stackup.targets.swarm.desired import deployed_image

    registry = loaded.stack.stackup.registry
    if not registry:
        return {}
    digests: dict[str, str] = {}
    for name in sorted(services):
        local = image_ref(loaded.stack, name)
        target = deployed_image(loaded.stack, name, registry)
        if target in digests:
            continue
        if engine.image_id(local) is None:
            continue  # not here: the nodes pull it from the registry as it is
        if target != local:
            engine.tag_image(local, target)
        click.echo(f"pushing {target} ...", err=True)
        digests[target] = engine.push(target)
    return digests


def up(loaded: LoadedStack, services: tuple[str, ...], kw: Mapping[str, object]) -> None:
    from stackup.cli.progress import Progress
    from stackup.targets.engine.execute import ExecuteOptions, execute
    from stackup.targets.swarm.runner import SwarmSteps
    from stackup.targets.engine.lock import project_lock

    engine = connect()
    project = loaded.stack.name
    selected = services or tuple(loaded.stack.services)
    with project_lock(
        engine.engine_id(),
        project,
        wait=not kw.get("no_wait_lock"),
        on_wait=lambda message: click.echo(message, err=True),
    ):
        if kw.get("do_build"):
            from stackup.cli.images_cmd import build_services

            build_services(loaded, engine, [s for s in selected if loaded.stack.services[s].build])
        digests = {} if kw.get("dry_run") else push_images(loaded, engine, selected)
        plan = _plan(loaded, engine, _options(loaded, services, kw, digests))
        progress = str(kw.get("progress") or "auto")
        if progress == "json":
            _render(plan, "json")
        elif progress != "quiet" or plan.warnings or plan.blockers:
            _render(plan, "text")
        _refuse_blockers(plan)
        if kw.get("dry_run") or not plan.operations:
            return
        cancel = threading.Event()
        with Progress(progress) as show:
            outcome = execute(
                plan,
                engine,
                show,
                ExecuteOptions(
                    parallel=int(str(kw.get("parallel") or 8)), target_steps=SwarmSteps(engine)
                ),
                cancel,
            )
    if outcome.interrupted:
        click.echo("interrupted; run `stackup --target swarm up` again to converge", err=True)
        sys.exit(130)
    if not outcome.ok:
        for op_id, message in sorted(outcome.failed.items()):
            click.echo(f"error: {op_id.split(':', 1)[1]}: {message}", err=True)
        for op_id, message in sorted(outcome.skipped.items()):
            click.echo(f"  {op_id.split(':', 1)[1]}: {message}", err=True)
        sys.exit(1)


# --------------------------------------------------------------------------- down, ps, logs


def down(project: str, progress: str = "auto") -> None:
    from stackup.cli.progress import Progress
    from stackup.targets.engine.execute import ExecuteOptions, execute
    from stackup.targets.swarm.runner import SwarmSteps
    from stackup.targets.swarm.down import plan_swarm_down

    engine = connect()
    plan = plan_swarm_down(engine.observe_swarm(project))
    if not plan.operations:
        click.echo(f"nothing to do for project {project}")
        return
    with Progress(progress) as show:
        outcome = execute(
            plan, engine, show, ExecuteOptions(parallel=16, target_steps=SwarmSteps(engine))
        )
    if outcome.failed:
        for op_id, message in sorted(outcome.failed.items()):
            click.echo(f"error: {op_id.split(':', 1)[1]}: {message}", err=True)
        sys.exit(1)
    click.echo(f"removed project {project} from the swarm (named volumes are kept)")


def ps(project: str, services: tuple[str, ...], show_all: bool, fmt: str) -> None:
    from stackup.cli.common import print_table

    engine = connect()
    observed = engine.observe_swarm(project)
    chosen = {
        s.name: s.service or s.name
        for s in observed.services
        if not services or s.service in services
    }
    rows = []
    for task in sorted(
        engine.tasks(sorted(chosen)),
        key=lambda t: (str(t.get("ServiceID")), int(t.get("Slot") or 0), str(t.get("ID"))),
    ):
        status = task.get("Status") or {}
        if not show_all and task.get("DesiredState") != "running":
            continue
        service_name = next(
            (s.name for s in observed.services if s.id == task.get("ServiceID")), "?"
        )
        slot = task.get("Slot")
        rows.append(
            {
                "service": chosen.get(service_name, service_name),
                "name": f"{service_name}.{slot}"
                if slot
                else f"{service_name}.{task.get('NodeID', '')[:12]}",
                "state": str(status.get("State", "")),
                "desired": str(task.get("DesiredState", "")),
                "error": str(status.get("Err") or ""),
                "node": str(task.get("NodeID", ""))[:12],
                "id": str(task.get("ID", ""))[:12],
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    print_table(
        ["SERVICE", "TASK", "STATE", "DESIRED", "NODE", "ERROR"],
        [[r["service"], r["name"], r["state"], r["desired"], r["node"], r["error"]] for r in rows],
    )


def logs(
    project: str,
    services: tuple[str, ...],
    *,
    follow: bool,
    tail: int | None,
    timestamps: bool,
    no_prefix: bool,
) -> None:
    engine = connect()
    names = sorted(
        s.name
        for s in engine.observe_swarm(project).services
        if not services or s.service in services
    )
    width = max((len(n) for n in names), default=0)
    lock = threading.Lock()

    def stream(name: str) -> None:
        prefix = "" if no_prefix else f"{name:<{width}} | "
        for line in engine.service_logs(name, follow=follow, tail=tail, timestamps=timestamps):
            with lock:
                click.echo(prefix + line.decode(errors="replace").rstrip("\n"))

    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        return
