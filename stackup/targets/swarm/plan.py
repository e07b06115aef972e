"""The swarm target: the same stack file, planned against Docker Swarm services.

Pure, like `reconcile`: a `Stack` (with its `SourceMap`, for locations) and one
`SwarmObserved` snapshot go in, a `plan.Plan` comes out, with the same actions, reasons,
field-level changes and renderers as the single-engine target. The engine layer is
`stackup.engine.docker.swarm`; the steps (`stackup.targets.swarm.steps`) are data, carried out
over it by `stackup.targets.swarm.runner`. The desired state is built in `stackup.targets.swarm.desired`, the checks of
what Swarm cannot honour are `stackup.targets.swarm.check`, and `down` is `teardown.plan_swarm_down`.

What maps where:
- a service becomes the swarm service `<project>_<service>` (as `docker stack deploy` names
  it); its canonical spec is stored in the service's `io.stackup.spec` label, so the next plan
  says field by field what changed, and replicas or an image changed outside stackup are drift;
- a network becomes an attachable overlay network;
- a config or secret becomes a *version* named `<project>_<key>-<keyed digest>`: Swarm's are
  immutable, so a changed one is created anew, the services are moved to it, and the old one
  is removed once nothing uses it. The digest is an HMAC keyed with the project's salt (never a
  plain content hash, which would let anyone with `docker secret ls` test guesses of a weak
  secret);
- keys Swarm cannot honour are warnings located at their line, keys and combinations that
  cannot work are blockers (errors), located the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from stackup.engine.swarm_interface import SwarmObject as SwarmObject
from stackup.engine.swarm_interface import SwarmObserved as SwarmObserved
from stackup.engine.swarm_interface import SwarmServiceState as SwarmServiceState
from stackup.loading.source import SourceMap
from stackup.model.spec import Stack
from stackup.planning.desired import desired_network
from stackup.planning.fielddiff import diff_fields
from stackup.planning.plan import Action, CreateNetwork, FieldChange, Kind, Operation, Plan
from stackup.planning.salt import choose as choose_salt
from stackup.targets.swarm.check import check
from stackup.targets.swarm.desired import (
    OBJECT_KEY,
    ObjectKind,
    SwarmOptions,
    desired_objects,
    desired_service,
)
from stackup.targets.swarm.desired import TASK_HASH as TASK_HASH
from stackup.targets.swarm.desired import DesiredObject as DesiredObject
from stackup.targets.swarm.desired import (
    DesiredService as DesiredService,
)
from stackup.targets.swarm.desired import (
    strip_digest as strip_digest,
)
from stackup.targets.swarm.steps import Convergence as Convergence
from stackup.targets.swarm.steps import (
    CreateObject,
    CreateService,
    RemoveObject,
    RemoveService,
    UpdateService,
    WaitServiceGone,
)
from stackup.targets.swarm.steps import (
    WaitConverged as WaitConverged,
)

# --------------------------------------------------------------------------- reconcile


def reconcile_swarm(
    stack: Stack, source: SourceMap, observed: SwarmObserved, options: SwarmOptions
) -> Plan:
    """The plan that makes the swarm run `stack`: networks, config and secret versions,
    services (created, or updated with every changed field), then what they no longer use.

    Decided kind by kind over one `SwarmPlanBuilder`, as `reconcile` decides a single
    engine's plan over its `PlanBuilder`."""
    salt = choose_salt(observed.labelled(), options.salt)
    selected = tuple(sorted(options.services or stack.services))
    warnings, errors = check(stack, source, selected, observed.nodes)
    builder = SwarmPlanBuilder(
        stack=stack,
        observed=observed,
        options=options,
        salt=salt,
        selected=selected,
        objects={(o.kind, o.key): o for o in desired_objects(stack, salt, options.file_objects)},
        by_service={s.service: s for s in observed.services if s.service},
        warnings=warnings,
        blockers=errors,
    )
    _plan_networks(builder)
    _plan_objects(builder)
    for name in selected:
        _plan_service(builder, name)
    _plan_orphans(builder)
    _remove_old_versions(builder)
    return Plan(
        project=stack.name,
        operations=tuple(builder.operations),
        warnings=tuple(builder.warnings),
        blockers=tuple(builder.blockers),
        fingerprint=observed.fingerprint(),
        services=selected,
    )


@dataclass
class SwarmPlanBuilder:
    """What is wanted and what the swarm runs (read), and what the plan does so far (added
    to): the swarm's counterpart of `stackup.planning.builder.PlanBuilder`."""

    stack: Stack
    observed: SwarmObserved
    options: SwarmOptions
    salt: str  # the project's (stackup.planning.salt)
    selected: tuple[str, ...]  # the services this plan is for, sorted
    # The config and secret versions, by (kind, key).
    objects: dict[tuple[ObjectKind, str], DesiredObject]
    by_service: dict[str, SwarmServiceState]  # the swarm's services, by the stack's name

    operations: list[Operation] = field(default_factory=list)  # in the order decided
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # what Swarm cannot run, located
    # The operation a service waits for, per network key and per (kind, key) of its objects.
    network_ops: dict[str, str] = field(default_factory=dict)
    object_ops: dict[tuple[str, str], str] = field(default_factory=dict)
    service_ops: list[str] = field(default_factory=list)  # what old versions are removed after
    removed: set[str] = field(default_factory=set)  # orphan services the plan removes

    def add(self, op: Operation) -> None:
        self.operations.append(op)


def _plan_networks(builder: SwarmPlanBuilder) -> None:
    """Each network the selected services use and the swarm lacks, as an attachable overlay
    network when the file leaves the driver to the default."""
    stack = builder.stack
    used_networks = sorted({k for s in builder.selected for k in stack.services[s].networks})
    have_networks = {n.name for n in builder.observed.networks}
    for key in used_networks:
        net = stack.networks[key]
        if net.external:
            continue
        net_want = desired_network(stack, key, builder.salt)
        if net_want.name in have_networks:
            continue
        spec = net_want.spec
        if spec.driver in (None, "bridge"):
            spec = replace(spec, driver="overlay", attachable=True)
        op_id = f"network:{net_want.name}"
        builder.network_ops[key] = op_id
        builder.add(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=Kind.NETWORK,
                name=net_want.name,
                reason="new network"
                + (" (overlay, attachable)" if spec.driver == "overlay" else ""),
                steps=(CreateNetwork(spec),),
            )
        )


def _plan_objects(builder: SwarmPlanBuilder) -> None:
    """Each config and secret version the selected services use and the swarm lacks: new,
    or a changed one's new version."""
    stack, observed = builder.stack, builder.observed
    have_objects = {
        "config": {c.name for c in observed.configs},
        "secret": {s.name for s in observed.secrets},
    }
    used_objects = {
        (kind, ref.source)
        for s in builder.selected
        for kind, refs in (
            ("config", stack.services[s].configs),
            ("secret", stack.services[s].secrets),
        )
        for ref in refs
    }
    for (kind, key), obj in sorted(builder.objects.items()):
        if obj.external or (kind, key) not in used_objects or obj.name in have_objects[kind]:
            continue
        previous = sorted(
            o.name
            for o in (observed.configs if kind == "config" else observed.secrets)
            if o.labels.get(OBJECT_KEY) == key
        )
        op_id = f"{kind}:{obj.name}"
        builder.object_ops[(kind, key)] = op_id
        builder.add(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=Kind.CONFIG if kind == "config" else Kind.SECRET,
                name=obj.name,
                reason=(
                    f"{kind} {key} changed: new version (replaces {', '.join(previous)})"
                    if previous
                    else f"new {kind}"
                ),
                steps=(CreateObject(obj),),
            )
        )


def _plan_service(builder: SwarmPlanBuilder, name: str) -> None:
    """Service `name` created, or updated with every changed field (drift included), then
    waited for until its tasks run the new spec."""
    stack, options = builder.stack, builder.options
    want = desired_service(stack, name, builder.salt, builder.objects, options)
    have = builder.by_service.get(name)
    service = stack.services[name]
    after = tuple(
        sorted(
            {builder.network_ops[k] for k in service.networks if k in builder.network_ops}
            | {
                builder.object_ops[(kind, ref.source)]
                for kind, refs in (("config", service.configs), ("secret", service.secrets))
                for ref in refs
                if (kind, ref.source) in builder.object_ops
            }
        )
    )
    op_id = f"service:{want.name}"
    wait = WaitConverged(
        service=name,
        name=want.name,
        task_hash=want.task_hash,
        replicas=want.replicas,
        previous_update=have.update_started if have else None,
        timeout=options.wait_timeout,
    )
    if have is None:
        builder.add(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=Kind.SERVICE,
                name=want.name,
                service=name,
                reason="new service"
                + (f" ({want.replicas} replicas)" if want.replicas not in (None, 1) else ""),
                steps=(CreateService(want), wait),
                after=after,
            )
        )
        builder.service_ops.append(op_id)
        return
    fields, reasons = _service_changes(want, have)
    if not fields:
        return
    builder.add(
        Operation(
            id=op_id,
            action=Action.UPDATE,
            kind=Kind.SERVICE,
            name=want.name,
            service=name,
            reason="; ".join(reasons),
            fields=tuple(fields),
            steps=(UpdateService(want), wait),
            after=after,
            details=_rollout_details(want, fields),
        )
    )
    builder.service_ops.append(op_id)


def _plan_orphans(builder: SwarmPlanBuilder) -> None:
    """Services no longer in the file: removed with --remove-orphans, else a warning."""
    observed = builder.observed
    orphans = sorted(s.name for s in observed.services if s.service not in builder.stack.services)
    for orphan in orphans:
        if not builder.options.remove_orphans:
            builder.warnings.append(
                f"service {orphan} is no longer in the stack file; `up --remove-orphans` removes it"
            )
            continue
        builder.removed.add(orphan)
        builder.add(
            Operation(
                id=f"service:{orphan}",
                action=Action.REMOVE,
                kind=Kind.SERVICE,
                name=orphan,
                reason="orphan: no longer in the stack file",
                steps=(RemoveService(orphan), WaitServiceGone(orphan)),
            )
        )
        builder.service_ops.append(f"service:{orphan}")


def _remove_old_versions(builder: SwarmPlanBuilder) -> None:
    """The config and secret versions nothing uses once the plan's services are through."""
    observed = builder.observed
    updated = {op.service for op in builder.operations if op.kind is Kind.SERVICE and op.service}
    still_used: set[str] = {o.name for o in builder.objects.values()}
    for s in observed.services:
        if s.name in builder.removed or (s.service in updated):
            continue
        still_used.update(s.configs, s.secrets)
    groups: list[tuple[ObjectKind, tuple[SwarmObject, ...]]] = [
        ("config", observed.configs),
        ("secret", observed.secrets),
    ]
    for kind, existing in groups:
        for old in sorted(existing, key=lambda o: o.name):
            if old.name in still_used:
                continue
            key = old.labels.get(OBJECT_KEY, "?")
            builder.add(
                Operation(
                    id=f"{kind}:{old.name}",
                    action=Action.REMOVE,
                    kind=Kind.CONFIG if kind == "config" else Kind.SECRET,
                    name=old.name,
                    reason=f"old version of {kind} {key}, no longer used",
                    steps=(RemoveObject(kind, old.name),),
                    after=tuple(sorted(builder.service_ops)),
                )
            )


def _service_changes(
    want: DesiredService, have: SwarmServiceState
) -> tuple[list[FieldChange], list[str]]:
    applied = have.applied or {}
    fields = diff_fields(applied, want.canonical)
    reasons: list[str] = []
    if fields:
        paths = [f.path for f in fields]
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        reasons.append(f"changed: {shown}")
    # Drift: what `docker service scale` / `update` changed behind stackup's back.
    applied_deploy = applied.get("deploy")
    applied_replicas = applied_deploy.get("replicas") if isinstance(applied_deploy, dict) else None
    if have.replicas != applied_replicas and have.replicas != want.replicas:
        reasons.append(
            f"replicas scaled outside stackup: {have.replicas}, the file says {want.replicas}"
        )
        if not any(f.path == "deploy.replicas" for f in fields):
            fields.append(FieldChange("deploy.replicas", have.replicas, want.replicas))
    applied_image = applied.get("image")
    if (
        isinstance(applied_image, str)
        and strip_digest(have.image) != strip_digest(applied_image)
        and strip_digest(have.image) != strip_digest(want.image)
    ):
        reasons.append(
            f"image changed outside stackup: {strip_digest(have.image)} running, "
            f"the file says {strip_digest(want.image)}"
        )
        if not any(f.path == "image" for f in fields):
            fields.append(FieldChange("image", strip_digest(have.image), strip_digest(want.image)))
    if not applied and not fields:
        fields.append(FieldChange("io.stackup.spec", None, "(the applied spec)"))
        reasons.append("not created by stackup (no applied spec on it)")
    return sorted(fields, key=lambda f: f.path), reasons


def _rollout_details(want: DesiredService, fields: list[FieldChange]) -> tuple[str, ...]:
    """How Swarm will replace the tasks, when the change replaces them."""
    deploy = want.spec.deploy
    uc = deploy.update_config if deploy else None
    service_only = (
        "deploy.replicas",
        "deploy.labels",
        "deploy.update_config",
        "deploy.rollback_config",
    )
    if uc is None or all(f.path.startswith(service_only) for f in fields):
        return ()
    parts = [f"order {uc.order or 'stop-first'}", f"on failure {uc.failure_action or 'pause'}"]
    if uc.parallelism:
        parts.append(f"{uc.parallelism} at a time")
    return ("rolling update: " + ", ".join(parts),)
