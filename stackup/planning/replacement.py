"""How one container is replaced by another, for the reconciler's container and rollout
decisions (`stackup.planning.containers`, `stackup.planning.rollout_decisions`): the recreate's
steps and the steps that undo it, the `pre_start` checks of a new container, and the removal
of the bind source directories the engine made for one that failed to start."""

from __future__ import annotations

from dataclasses import replace

from stackup.engine.interface import ContainerSpec
from stackup.engine.observed import ObservedContainer
from stackup.model import labels
from stackup.planning import bindsources
from stackup.planning.builder import PlanBuilder
from stackup.planning.container_rules import (
    converged_state,
    post_start,
    pre_start,
    pre_start_note,
    stop_timeout,
)
from stackup.planning.desired import DesiredContainer, temporary_name
from stackup.planning.plan import (
    Action,
    CheckInThrowaway,
    CreateContainer,
    FieldChange,
    Kind,
    Operation,
    RemoveContainer,
    RemoveEmptyDirectories,
    RenameContainer,
    StartContainer,
    Step,
    StopContainer,
)
from stackup.planning.rollout import Rollout


def replacement(
    builder: PlanBuilder,
    service: str,
    want: DesiredContainer,
    old: ObservedContainer,
    *,
    reason: str,
    fields: tuple[FieldChange, ...] = (),
    head: tuple[Step, ...] = (),
    adopts: str | None = None,
    rollout: Rollout | None = None,
    when_ready: tuple[Step, ...] = (),
) -> Operation:
    """Replace `old` by `want`: create it under a temporary name (carrying the old one's
    anonymous volumes by name), stop the old one, start the new, remove the old (not its
    volumes), rename the new. The old container is only stopped until the new one has
    started (and, with a `rollout`, is ready): when the start fails, it is started again
    as it was (removed first, as before, a taken port left the service down).
    `when_ready` runs once it is ready, before the old one is removed (the reload of a
    dependent that must learn the new address)."""
    tmp = temporary_name(want.name)
    new_spec = replace(want.spec, name=tmp, labels={**want.spec.labels, labels.REPLACES: old.id})
    hooks = pre_start_checks(builder, service, want, new_spec, tmp)
    waits = (*builder.waits(service), *hooks)
    reason += pre_start_note(len(hooks))
    # post_start hooks run after this start too (Compose runs them after every start);
    # one that fails puts the old container back, as a failed start does.
    gate = (
        *post_start(builder.stack.services[service], tmp),
        *((*rollout.gate(service, (tmp,)), *when_ready) if rollout is not None else ()),
    )
    stop_at = len(head) + 1
    return Operation(
        id=f"container:{want.name}",
        action=Action.RECREATE,
        kind=Kind.CONTAINER,
        name=want.name,
        service=service,
        reason=reason,
        fields=fields,
        steps=(
            *head,
            CreateContainer(new_spec),
            StopContainer(old.name, stop_timeout(builder.stack, service)),
            *waits,
            StartContainer(tmp),
            *gate,
            RemoveContainer(old.name),
            RenameContainer(tmp, want.name),
        ),
        after=builder.after(service),
        restore=(
            RemoveContainer(tmp),
            *made_directories(builder, service),
            *((StartContainer(old.name),) if converged_state(old, False) else ()),
        ),
        restore_from=stop_at,
        restore_to=stop_at + len(waits) + 2 + len(gate),
        adopts=adopts,
    )


def pre_start_checks(
    builder: PlanBuilder,
    service: str,
    want: DesiredContainer,
    spec: ContainerSpec,
    container: str,
) -> tuple[CheckInThrowaway, ...]:
    """The service's `pre_start` steps for a new container: once per service, as Compose
    does, only for its first replica (a scale-up runs none)."""
    if want.number != 1:
        return ()
    return pre_start(builder.stack, service, spec, container)


def made_directories(builder: PlanBuilder, service: str) -> tuple[RemoveEmptyDirectories, ...]:
    """The step removing the missing bind sources the engine creates for `service`'s
    container and for no other container of the stack (the host facts of
    `options.bind_sources`), when they are still empty."""
    kinds = builder.options.bind_sources
    if not kinds:
        return ()
    stack = builder.stack
    users: dict[str, int] = {}
    for m in bindsources.bind_sources(stack, stack.services):
        replicas = builder.options.scale.get(m.service, stack.services[m.service].replicas)
        users[m.source] = users.get(m.source, 0) + max(replicas, 1)
    own = bindsources.bind_sources(stack, (service,))
    made = bindsources.made_for(own, kinds, users)
    return (RemoveEmptyDirectories(made),) if made else ()
