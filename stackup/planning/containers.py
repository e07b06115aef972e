"""The reconciler's decisions on a service's containers: each wanted container created,
finished after an interrupted recreate, recreated (the new container started before the old
one is removed, a config saved by rename checked first in a throwaway container), updated in
place, connected, started, or its config edited in place reloaded; containers beyond the
service's scale removed; then the orphans and the leftovers of interrupted recreates."""

from __future__ import annotations

from dataclasses import dataclass

from stackup.engine.observed import ObservedContainer
from stackup.planning import configstate
from stackup.planning.builder import PlanBuilder
from stackup.planning.config_reloads import (
    check_renamed,
    config_drift,
    reload_edited,
    renamed_reason,
    with_config_label,
)
from stackup.planning.container_rules import (
    anonymous_volumes,
    converged_state,
    describe,
    field_names,
    in_place,
    live_changes,
    post_start,
    pre_start_note,
    short_id,
    stop_timeout,
    stopped_reason,
    top_field,
)
from stackup.planning.desired import (
    UPDATABLE,
    DesiredContainer,
    container_name,
    desired_containers,
    image_key,
    temporary_name,
)
from stackup.planning.fielddiff import diff_fields
from stackup.planning.plan import (
    Action,
    Connect,
    CreateContainer,
    FieldChange,
    Kind,
    Operation,
    RemoveContainer,
    RenameContainer,
    StartContainer,
    Step,
    StopContainer,
    UpdateContainer,
)
from stackup.planning.replacement import made_directories, pre_start_checks, replacement
from stackup.planning.rollout_decisions import defer_replacement, plan_rollout


def plan_service(builder: PlanBuilder, name: str) -> None:
    """Every container of service `name`, at its scale; a rollout's replacements together."""
    service = builder.stack.services[name]
    options = builder.options
    replicas = options.scale.get(name, service.replicas)
    if service.container_name and replicas > 1:
        builder.warnings.append(
            f'service "{name}" sets container_name, so it runs one container, not {replicas}'
        )
        replicas = 1
    existing = {c.number: c for c in builder.containers.by_service.get(name, [])}
    # A replacement left under its temporary name by an apply killed after the old
    # container was removed is the only holder of the old anonymous volumes: carry them.
    holders = {
        c.number: c
        for c in builder.containers.temporaries.values()
        if c.service == name and c.number not in existing
    }
    # `up --adopt`: a container made outside stackup under this slot's name hands its
    # anonymous volumes to the managed one that replaces it.
    adopted = {
        n: options.adopt[cname]
        for n in range(1, replicas + 1)
        if n not in existing and (cname := container_name(builder.stack, name, n)) in options.adopt
    }
    holders.update(adopted)
    holders.update(existing)
    carried = (
        {} if options.renew_anon_volumes else {n: anonymous_volumes(c) for n, c in holders.items()}
    )
    wanted = desired_containers(
        builder.stack, name, replicas, builder.salt, options.file_objects, carried
    )
    for d in wanted:
        builder.desired[d.name] = d
        if d.number in adopted:
            _adopt(builder, name, d, adopted[d.number])
        else:
            _container(builder, name, d, existing.get(d.number))
    plan_rollout(builder, name)
    for number in sorted(existing):
        if number > replicas:
            _scale_down(builder, name, existing[number], replicas)


def _scale_down(builder: PlanBuilder, service: str, c: ObservedContainer, replicas: int) -> None:
    builder.replaced.add(c.name)
    builder.add(
        Operation(
            id=f"container:{c.name}",
            action=Action.REMOVE,
            kind=Kind.CONTAINER,
            name=c.name,
            service=service,
            reason=f"scaled down to {replicas}",
            steps=(
                StopContainer(c.name, stop_timeout(builder.stack, service)),
                RemoveContainer(c.name),
            ),
        )
    )


# ---------------------------------------------------------------------- one container


@dataclass(frozen=True)
class _Slot:
    """One wanted container and what the plan knows of its place: the container there now,
    the replacement an interrupted recreate left under its temporary name, and the steps
    that start it."""

    service: str
    want: DesiredContainer
    have: ObservedContainer | None
    temp: ObservedContainer | None
    after: tuple[str, ...]  # the operations it runs after
    waits: tuple[Step, ...]  # its dependencies' conditions
    start: tuple[Step, ...]  # the waits, the start and the post_start steps
    cleanup: tuple[Step, ...]  # removes `temp`

    @property
    def op_id(self) -> str:
        return f"container:{self.want.name}"


def _container(
    builder: PlanBuilder, service: str, want: DesiredContainer, have: ObservedContainer | None
) -> None:
    """One wanted container: created (missing, or its volume recreated), recreated (a
    change needs a new one), or kept and brought to what the file says."""
    want = with_config_label(builder, service, want)
    temp = builder.containers.temporaries.get(temporary_name(want.name))
    if temp is not None:
        builder.used_temporaries.add(temp.name)
    waits = builder.waits(service)
    slot = _Slot(
        service=service,
        want=want,
        have=have,
        temp=temp,
        after=builder.after(service),
        waits=waits,
        start=(
            *waits,
            StartContainer(want.name),
            *post_start(builder.stack.services[service], want.name),
        ),
        cleanup=(RemoveContainer(temp.name),) if temp is not None else (),
    )
    if have is None or have.name in builder.replaced:
        _create(builder, slot)
        return
    drift = config_drift(builder, service, have)
    fields, updatable, structural = _changes(want, have)
    refusal = builder.options.in_place_refusal
    if refusal and updatable:
        # The engine cannot update a container in place (Podman 4.3): what `docker update`
        # would apply needs a new container, and the plan says why.
        structural = [*structural, *updatable]
        updatable = []
    if not _recreate(builder, slot, have, drift, fields, structural):
        _converge(builder, slot, have, drift, updatable)


def _create(builder: PlanBuilder, slot: _Slot) -> None:
    """A container that is missing, or whose volume the plan recreates (removing it first)."""
    service, want, have, temp = slot.service, slot.want, slot.have, slot.temp
    volume_forced = have is not None
    if temp is not None and temp.spec_hash == want.spec_hash and not volume_forced:
        # A recreate was interrupted after the old container was removed: finish it.
        builder.add_service_op(
            service,
            Operation(
                id=slot.op_id,
                action=Action.CREATE,
                kind=Kind.CONTAINER,
                name=want.name,
                service=service,
                reason="finishing an interrupted recreate",
                steps=(RenameContainer(temp.name, want.name), *slot.start),
                after=slot.after,
            ),
            recreated=True,
        )
        return
    # A new container runs the service's pre_start steps first (after its dependencies'
    # conditions).
    hooks = pre_start_checks(builder, service, want, want.spec, want.name)
    created_start = (*slot.waits, *hooks, *slot.start[len(slot.waits) :])
    reason = _missing_reason(builder, service, want)
    forced_fields: list[FieldChange] = []
    if have is not None:
        reason = "a volume it uses is recreated"
        # Its own changes are applied by the same recreate: show them too.
        if have.spec_hash != want.spec_hash:
            forced_fields = diff_fields(have.spec, want.canonical)
            reason += "; " + describe(forced_fields)
    reason += pre_start_note(len(hooks))
    # A container that does not start is removed, with the empty bind source
    # directories the engine made for it (a later `up` creates it again). One that
    # waits for a dependency that fails, or whose pre_start step fails, stays created,
    # as with Compose.
    started_at = len(slot.cleanup) + 1 + len(slot.waits) + len(hooks)
    builder.add_service_op(
        service,
        Operation(
            id=slot.op_id,
            action=Action.RECREATE if volume_forced else Action.CREATE,
            kind=Kind.CONTAINER,
            name=want.name,
            service=service,
            reason=reason,
            fields=tuple(forced_fields),
            steps=(*slot.cleanup, CreateContainer(want.spec), *created_start),
            after=slot.after,
            restore=(RemoveContainer(want.name), *made_directories(builder, service)),
            restore_from=started_at,
            restore_to=started_at + 1,
        ),
        recreated=True,
    )


def _changes(
    want: DesiredContainer, have: ObservedContainer
) -> tuple[list[FieldChange], list[FieldChange], list[FieldChange]]:
    """(every change, those applied in place, those that need a new container)."""
    # Equal hashes mean equal specs: skip parsing the label (most containers, most plans).
    fields = [] if have.spec_hash == want.spec_hash else diff_fields(have.spec, want.canonical)
    if have.live is None:  # a snapshot without live settings (a review against a fake)
        updatable = [f for f in fields if top_field(f.path) in UPDATABLE and in_place(f)]
        return fields, updatable, [f for f in fields if f not in updatable]
    # The label keeps the values the container was created with; an in-place update
    # (ours, or `docker update` by hand) changes only the container. So these four
    # are compared with what it runs with now, whatever the label says.
    labelled = [f for f in fields if top_field(f.path) not in UPDATABLE]
    live_drift = live_changes(want.spec.service, have.live)
    updatable = [f for f in live_drift if in_place(f)]
    structural = [*labelled, *(f for f in live_drift if not in_place(f))]
    return [*labelled, *live_drift], updatable, structural


def _recreate(
    builder: PlanBuilder,
    slot: _Slot,
    have: ObservedContainer,
    drift: configstate.Drift,
    fields: list[FieldChange],
    structural: list[FieldChange],
) -> bool:
    """Replace the container when a change needs a new one; whether it does."""
    service, want = slot.service, slot.want
    reasons = _recreate_reasons(builder, service, want, have, structural)
    check = check_renamed(builder, service, want, drift)
    if drift.renamed:
        reasons.append(renamed_reason(builder, service, drift, check))
    if reasons and builder.options.no_recreate:
        builder.warnings.append(f"{want.name} is not recreated (--no-recreate): {reasons[0]}")
        reasons = []
    if not reasons:
        return False
    builder.replaced.add(have.name)
    # A recreate applies every change, in-place ones too.
    reason, head = "; ".join(reasons), (*check, *slot.cleanup)
    # deploy.update_config: planned per service, once all its containers are decided.
    if defer_replacement(builder, service, want, have, reason, tuple(fields), head):
        return True
    op = replacement(builder, service, want, have, reason=reason, fields=tuple(fields), head=head)
    builder.add_service_op(service, op, recreated=True)
    return True


def _converge(
    builder: PlanBuilder,
    slot: _Slot,
    have: ObservedContainer,
    drift: configstate.Drift,
    updatable: list[FieldChange],
) -> None:
    """Keep the container: update it in place, reconnect it, start it, remove a leftover of
    its interrupted recreate, reload a config edited in place, as each is needed."""
    service, want, temp = slot.service, slot.want, slot.temp
    steps: list[Step] = list(slot.cleanup)
    action: Action | None = None
    reason = ""
    changed: list[FieldChange] = []
    if updatable:
        action, reason, changed = (
            Action.UPDATE,
            "updated in place: " + field_names(updatable),
            updatable,
        )
        steps.append(UpdateContainer(want.name, want.spec.service))
    missing_nets = [a for a in want.spec.networks if a.network not in have.networks]
    for att in missing_nets:
        if att.network in builder.recreated_networks:
            continue
        steps.append(Connect(want.name, att))
        action = action or Action.CONNECT
        reason = reason or f"disconnected from network {att.network} outside stackup"
    if not converged_state(have, builder.completes(service)):
        steps.extend(slot.start)
        if action is None:
            action = Action.START
            reason = stopped_reason(have)
    if action is None and temp is not None:
        action, reason = Action.REMOVE, "leftover from an interrupted recreate"
        builder.add(
            Operation(
                id=f"container:{temp.name}",
                action=action,
                kind=Kind.CONTAINER,
                name=temp.name,
                service=service,
                reason=reason,
                steps=slot.cleanup,
            )
        )
        return
    if action is not None:
        builder.add_service_op(
            service,
            Operation(
                id=slot.op_id,
                action=action,
                kind=Kind.CONTAINER,
                name=want.name,
                service=service,
                reason=reason,
                fields=tuple(changed),
                steps=tuple(steps),
                after=slot.after,
            ),
            recreated=False,
        )
    if drift.edited and have.state == "running":
        after = (slot.op_id,) if action is not None else slot.after
        reload_edited(builder, service, have, drift, after=after)


def _adopt(
    builder: PlanBuilder, service: str, want: DesiredContainer, old: ObservedContainer
) -> None:
    """`up --adopt`: the container `docker run` made under this name is replaced by the
    managed one exactly as a recreate replaces, so its named and anonymous volumes and
    bind mounts carry over, and a failed start puts the old one back."""
    want = with_config_label(builder, service, want)
    builder.replaced.add(old.name)
    reason = (
        f"adopting {old.name}: it was made outside stackup; a managed container "
        "replaces it and keeps its volumes"
    )
    # An adoption interrupted before the old container was removed left its replacement
    # under the temporary name: removed first (not its volumes), then adopted again.
    temp = builder.containers.temporaries.get(temporary_name(want.name))
    cleanup: tuple[Step, ...] = ()
    if temp is not None:
        builder.used_temporaries.add(temp.name)
        cleanup = (RemoveContainer(temp.name),)
    op = replacement(builder, service, want, old, reason=reason, head=cleanup, adopts=old.name)
    builder.add_service_op(service, op, recreated=True)


def _recreate_reasons(
    builder: PlanBuilder,
    service: str,
    want: DesiredContainer,
    have: ObservedContainer,
    structural: list[FieldChange],
) -> list[str]:
    reasons = []
    if builder.options.force_recreate:
        reasons.append("--force-recreate")
    if structural:
        reasons.append(describe(structural))
        refusal = builder.options.in_place_refusal
        if refusal and any(top_field(f.path) in UPDATABLE and in_place(f) for f in structural):
            reasons.append(refusal)
    image_id = builder.observed.images.get(image_key(want.spec.image))
    # Only a tag that stayed the same in the file can have "moved"; a changed `image`
    # field already says why.
    same_ref = not any(f.path == "image" for f in structural)
    if same_ref and image_id and have.image_id and image_id != have.image_id:
        reasons.append(
            f"image {want.spec.image} now resolves to {short_id(image_id)} (was {short_id(have.image_id)})"
        )
    for dep, edge in builder.dependencies(service):
        if builder.outcome[dep].recreated and (
            edge.restart or edge.shares or edge.via in ("network_mode", "volumes_from")
        ):
            why = {
                "depends_on": "its depends_on says restart: true",
                "network_mode": "it shares its network namespace",
                "volumes_from": "it takes volumes from it",
                "links": "it links to it",
            }[edge.shares or edge.via]
            reasons.append(f"{dep} is recreated and {why}")
    return reasons


def _missing_reason(builder: PlanBuilder, service: str, want: DesiredContainer) -> str:
    stack, observed = builder.stack, builder.observed
    if builder.containers.by_service.get(service):
        return f"container {want.name} is missing (scaled up, or removed outside stackup)"
    known = any(c.project == stack.name for c in observed.containers) or any(
        n.project == stack.name for n in observed.networks.values()
    )
    if known:
        return f"container {want.name} is missing (new service, or removed outside stackup)"
    return "new service"


# ---------------------------------------------------------------------- leftovers


def plan_orphans(builder: PlanBuilder) -> None:
    """Containers of services no longer in the stack (removed with --remove-orphans), and
    replacements of interrupted recreates no wanted container takes over."""
    for c in builder.containers.orphans:
        if not builder.options.remove_orphans:
            builder.warnings.append(
                f'orphan container {c.name}: service "{c.service}" is no longer in the stack '
                "(--remove-orphans removes it)"
            )
            continue
        builder.add(
            Operation(
                id=f"container:{c.name}",
                action=Action.REMOVE,
                kind=Kind.CONTAINER,
                name=c.name,
                service=c.service,
                reason=f'orphan: service "{c.service}" is no longer in the stack',
                steps=(StopContainer(c.name), RemoveContainer(c.name)),
            )
        )
    for name, c in sorted(builder.containers.temporaries.items()):
        # A leftover no wanted container takes over (its service is gone, or scaled below
        # its number) is removed; those of services outside this plan are left for theirs.
        unused = name not in builder.used_temporaries
        if unused and (c.service not in builder.stack.services or c.service in builder.selected):
            builder.add(
                Operation(
                    id=f"container:{name}",
                    action=Action.REMOVE,
                    kind=Kind.CONTAINER,
                    name=name,
                    service=c.service,
                    reason="leftover from an interrupted recreate",
                    steps=(RemoveContainer(name),),
                )
            )


def refuse_compose_project(builder: PlanBuilder) -> None:
    """A Docker Compose project of the same name: the plan is blocked, never mixed with it."""
    if builder.observed.foreign:
        names = ", ".join(sorted(c.name for c in builder.observed.foreign))
        name = builder.stack.name
        builder.blockers.append(
            f'Docker Compose project "{name}" already has containers ({names}); '
            f"stop it with `docker compose -p {name} down` or choose another name with -p"
        )
