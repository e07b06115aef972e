"""Plans that take a project down, built from labels alone (`stackup -p NAME down` needs no
stack file), on both targets in one order (`teardown`): containers, or swarm services, first,
in parallel, then networks, the swarm's configs and secrets, and, only when asked, the named
volumes stackup created (never on Swarm: they live on the nodes). External resources carry no
label of ours and are never touched. The swarm's removals are listed by
`stackup.targets.swarm.down`, through `teardown` here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackup.engine.observed import Observed
from stackup.model import labels as label_keys
from stackup.planning.plan import (
    Action,
    Kind,
    Operation,
    Plan,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    StartContainer,
    Step,
    StopContainer,
)


@dataclass(frozen=True)
class Removal:
    """One resource a `down` removes."""

    kind: Kind
    name: str
    steps: tuple[Step, ...]
    service: str | None = None
    reason: str = "down"
    destroys_data: bool = False


def teardown(
    project: str,
    first: Sequence[Removal],
    then: Sequence[Removal],
    fingerprint: str,
    warnings: Sequence[str] = (),
) -> Plan:
    """The order of every `down`, on either target: what runs (containers, or swarm services)
    first, in parallel; then what it used (networks, configs and secrets, volumes), each once
    all of `first` is gone, since the engine refuses to remove what is still in use."""
    first_ops = [_remove(r, after=()) for r in first]
    after = tuple(op.id for op in first_ops)
    ops = [*first_ops, *(_remove(r, after=after) for r in then)]
    return Plan(project, tuple(ops), tuple(warnings), fingerprint=fingerprint)


def _remove(removal: Removal, after: tuple[str, ...]) -> Operation:
    return Operation(
        id=f"{removal.kind.value}:{removal.name}",
        action=Action.REMOVE,
        kind=removal.kind,
        name=removal.name,
        service=removal.service,
        reason=removal.reason,
        destroys_data=removal.destroys_data,
        steps=removal.steps,
        after=after,
    )


def plan_down(
    observed: Observed,
    *,
    volumes: bool = False,
    services: frozenset[str] | None = None,
    timeout: float | None = None,
    keep_services: frozenset[str] = frozenset(),
    keep_volumes: frozenset[str] = frozenset(),
) -> Plan:
    """`services=None` removes every container of the project, orphans included;
    `keep_services` names services whose absence from the file makes them orphans to keep;
    `keep_volumes` names volumes the file now declares external (they are no longer ours)."""
    warnings: list[str] = []
    containers = [
        c
        for c in observed.containers
        if (services is None or c.service in services) and c.service not in keep_services
    ]
    first = [
        Removal(
            Kind.CONTAINER,
            c.name,
            service=c.service,
            steps=(
                *(
                    (StopContainer(c.name, timeout),)
                    if c.state in ("running", "restarting", "paused")
                    else ()
                ),
                RemoveContainer(c.name, volumes=volumes),
            ),
        )
        for c in containers
    ]
    if keep_services:
        names = ", ".join(sorted(c.name for c in observed.containers if c.service in keep_services))
        warnings.append(f"orphan containers left running: {names} (--remove-orphans removes them)")
    remaining = [c for c in observed.containers if c not in containers]
    then = [
        Removal(Kind.NETWORK, net.name, steps=(RemoveNetwork(net.name),))
        for net in sorted(observed.networks.values(), key=lambda n: n.name)
        if net.project == observed.project and not any(net.name in c.networks for c in remaining)
    ]
    if volumes:
        for vol in sorted(observed.volumes.values(), key=lambda v: v.name):
            if vol.project != observed.project:
                continue
            if vol.name in keep_volumes:
                warnings.append(f"volume {vol.name} kept: the stack file declares it external")
                continue
            users = sorted(c.name for c in remaining if any(m.name == vol.name for m in c.mounts))
            if users:  # kept containers still mount it: the engine would refuse anyway
                warnings.append(f"volume {vol.name} kept: still used by {', '.join(users)}")
                continue
            then.append(
                Removal(
                    Kind.VOLUME,
                    vol.name,
                    steps=(RemoveVolume(vol.name),),
                    reason="down --volumes",
                    destroys_data=True,
                )
            )
    return teardown(observed.project, first, then, observed.fingerprint(), warnings)


def plan_lifecycle(
    observed: Observed, action: str, services: frozenset[str] | None, timeout: float | None
) -> Plan:
    """`stop`, `start` and `restart` of existing containers, as plans like everything else."""
    ops: list[Operation] = []
    for c in observed.containers:
        if services is not None and c.service not in services:
            continue
        if c.is_temporary or c.labels.get(label_keys.ONEOFF):
            continue  # a leftover replacement or a `run` container is not the service's
        running = c.state in ("running", "restarting", "paused")
        if action == "stop" and running:
            steps: tuple[StopContainer | StartContainer, ...] = (StopContainer(c.name, timeout),)
            act = Action.STOP
        elif action == "start" and not running:
            steps, act = (StartContainer(c.name),), Action.START
        elif action == "restart":
            steps = ((StopContainer(c.name, timeout),) if running else ()) + (
                StartContainer(c.name),
            )
            act = Action.START
        else:
            continue
        ops.append(
            Operation(
                id=f"container:{c.name}",
                action=act,
                kind=Kind.CONTAINER,
                name=c.name,
                service=c.service,
                reason=action,
                steps=steps,
            )
        )
    return Plan(observed.project, tuple(ops), fingerprint=observed.fingerprint())
