"""The reconciler's decisions on the project's networks and volumes: an external one is only
looked for, a missing one is created, one another tool made is used as it is, and one whose
definition changed is recreated (a network's attached containers disconnected and, those the
plan keeps, reconnected; a volume's users removed first, or the plan blocked when some are
outside it)."""

from __future__ import annotations

from dataclasses import replace

from stackup.engine.interface import NetworkAttachment
from stackup.engine.observed import ObservedNetwork, ObservedVolume
from stackup.model import labels
from stackup.planning.builder import PlanBuilder
from stackup.planning.container_rules import without_labels
from stackup.planning.desired import desired_containers, desired_network, desired_volume
from stackup.planning.fielddiff import diff_fields
from stackup.planning.plan import (
    Action,
    Connect,
    CreateNetwork,
    CreateVolume,
    Disconnect,
    Kind,
    Operation,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    Step,
    StopContainer,
)


def _absent_or_foreign(
    builder: PlanBuilder,
    kind: Kind,
    name: str,
    external: bool,
    have: ObservedNetwork | ObservedVolume | None,
    create: Step,
) -> str | None:
    """What networks and volumes share: an external one is only looked for, a missing
    one is created, one that another tool made is used as it is. Returns the id of the
    create operation added, or None; `have` needs comparing only when it is ours."""
    if external:
        if have is None:
            builder.warnings.append(
                f'external {kind.value} "{name}" does not exist; create it with '
                f"`docker {kind.value} create {name}` before `up`"
            )
        return None
    if have is None:
        op_id = f"{kind.value}:{name}"
        builder.add(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=kind,
                name=name,
                reason=f"new {kind.value}",
                steps=(create,),
            )
        )
        return op_id
    if have.project != builder.stack.name:
        # Compose warns and uses such a resource; stackup never touches what it did not make.
        builder.warnings.append(
            f'{kind.value} "{name}" exists but was not created by stackup for project '
            f'"{builder.stack.name}"; it is used as it is (declare it `external: true` to say so)'
        )
    return None


# ---------------------------------------------------------------------- networks


def plan_network(builder: PlanBuilder, key: str) -> None:
    want = desired_network(builder.stack, key, builder.salt)
    have = builder.observed.networks.get(want.name)
    op_id = f"network:{want.name}"
    created = _absent_or_foreign(
        builder, Kind.NETWORK, want.name, want.external, have, CreateNetwork(want.spec)
    )
    if created is not None:
        builder.network_op[key] = created
    if want.external or have is None or have.project != builder.stack.name:
        return
    if have.spec_hash != want.spec.labels[labels.SPEC_HASH]:
        builder.recreated_networks[want.name] = key
        builder.network_op[key] = op_id
        # Steps are filled in once we know which attached containers survive the plan.
        builder.add(
            Operation(
                id=op_id,
                action=Action.RECREATE,
                kind=Kind.NETWORK,
                name=want.name,
                reason="network definition changed",
                fields=tuple(
                    diff_fields(without_labels(have.spec), without_labels(want.canonical))
                ),
                steps=(RemoveNetwork(want.name), CreateNetwork(want.spec)),
            )
        )


def finish_network_recreates(builder: PlanBuilder) -> None:
    """The steps of each recreated network, now that the plan knows which of the containers
    attached to it it recreates (those come back on the new network by themselves)."""
    for name, key in sorted(builder.recreated_networks.items()):
        op_id = builder.network_op[key]
        op = next(o for o in builder.operations if o.id == op_id)
        attached = sorted(
            c.name
            for c in builder.observed.containers
            if name in c.networks and c.project == builder.stack.name
        )
        kept = [c for c in attached if c not in builder.replaced]
        steps: list[Step] = [Disconnect(c, name) for c in attached]
        steps += [RemoveNetwork(name), *[s for s in op.steps if isinstance(s, CreateNetwork)]]
        for cname in kept:
            attachment = _attachment_for(builder, cname, name)
            if attachment is not None:
                steps.append(Connect(cname, attachment))
        details = tuple(
            f"disconnects and reconnects {c}" if c in kept else f"disconnects {c} (recreated)"
            for c in attached
        )
        builder.replace_operation(replace(op, steps=tuple(steps), details=details))


def _attachment_for(builder: PlanBuilder, cname: str, network: str) -> NetworkAttachment | None:
    if cname not in builder.desired:
        owner = next((c for c in builder.observed.containers if c.name == cname), None)
        if owner is None or owner.service is None or owner.service not in builder.stack.services:
            return None
        for d in desired_containers(
            builder.stack, owner.service, owner.number, builder.salt, builder.options.file_objects
        ):
            builder.desired.setdefault(d.name, d)
    want = builder.desired.get(cname)
    if want is None:
        return None
    return next((a for a in want.spec.networks if a.network == network), None)


# ---------------------------------------------------------------------- volumes


def plan_volume(builder: PlanBuilder, key: str) -> None:
    want = desired_volume(builder.stack, key, builder.salt)
    have = builder.observed.volumes.get(want.name)
    op_id = f"volume:{want.name}"
    created = _absent_or_foreign(
        builder, Kind.VOLUME, want.name, want.external, have, CreateVolume(want.spec)
    )
    if created is not None:
        builder.volume_op[key] = created
    if want.external or have is None or have.project != builder.stack.name:
        return
    if have.spec_hash != want.spec.labels[labels.SPEC_HASH]:
        using = [
            c
            for c in builder.observed.containers
            if c.project == builder.stack.name and any(m.name == want.name for m in c.mounts)
        ]
        outside = sorted({c.service or c.name for c in using} - builder.selected)
        if outside:
            # Recreating the volume removes every container using it; those this plan
            # would not create again must not just disappear.
            builder.blockers.append(
                f'volume "{want.name}" changed, and it is used by {", ".join(outside)}, '
                "which this plan leaves alone; run `stackup up` for all the services using it"
            )
            return
        users = sorted(c.name for c in using)
        steps: list[Step] = []
        for cname in users:
            steps += [StopContainer(cname), RemoveContainer(cname)]
            builder.replaced.add(cname)
        steps += [RemoveVolume(want.name), CreateVolume(want.spec)]
        builder.volume_op[key] = op_id
        builder.add(
            Operation(
                id=op_id,
                action=Action.RECREATE,
                kind=Kind.VOLUME,
                name=want.name,
                reason="volume definition changed: its data will be deleted",
                fields=tuple(
                    diff_fields(without_labels(have.spec), without_labels(want.canonical))
                ),
                destroys_data=True,
                steps=tuple(steps),
                details=tuple(f"removes {c} first (it uses the volume)" for c in users),
            )
        )
