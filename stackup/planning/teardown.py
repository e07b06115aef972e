"""Plans that take a project down, built from labels alone (`stackup -p NAME down` needs no
stack file): containers first, in parallel, then networks, then, only when asked, the named
volumes stackup created. External resources carry no label of ours and are never touched."""

from __future__ import annotations

from stackup.engine.observed import Observed
from stackup.model import labels as L
from stackup.planning.plan import (
    Action,
    Kind,
    Operation,
    Plan,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    StartContainer,
    StopContainer,
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
    ops: list[Operation] = []
    warnings: list[str] = []
    containers = [
        c
        for c in observed.containers
        if (services is None or c.service in services) and c.service not in keep_services
    ]
    for c in containers:
        ops.append(
            Operation(
                id=f"container:{c.name}",
                action=Action.REMOVE,
                kind=Kind.CONTAINER,
                name=c.name,
                service=c.service,
                reason="down",
                steps=(
                    *(
                        (StopContainer(c.name, timeout),)
                        if c.state in ("running", "restarting", "paused")
                        else ()
                    ),
                    RemoveContainer(c.name, volumes=volumes),
                ),
            )
        )
    if keep_services:
        names = ", ".join(sorted(c.name for c in observed.containers if c.service in keep_services))
        warnings.append(f"orphan containers left running: {names} (--remove-orphans removes them)")
    container_ops = tuple(op.id for op in ops)
    remaining = [c for c in observed.containers if c not in containers]
    for net in sorted(observed.networks.values(), key=lambda n: n.name):
        if net.project != observed.project or any(net.name in c.networks for c in remaining):
            continue
        ops.append(
            Operation(
                id=f"network:{net.name}",
                action=Action.REMOVE,
                kind=Kind.NETWORK,
                name=net.name,
                reason="down",
                steps=(RemoveNetwork(net.name),),
                after=container_ops,
            )
        )
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
            ops.append(
                Operation(
                    id=f"volume:{vol.name}",
                    action=Action.REMOVE,
                    kind=Kind.VOLUME,
                    name=vol.name,
                    reason="down --volumes",
                    destroys_data=True,
                    steps=(RemoveVolume(vol.name),),
                    after=container_ops,
                )
            )
    return Plan(observed.project, tuple(ops), tuple(warnings), fingerprint=observed.fingerprint())


def plan_lifecycle(
    observed: Observed, action: str, services: frozenset[str] | None, timeout: float | None
) -> Plan:
    """`stop`, `start` and `restart` of existing containers, as plans like everything else."""
    ops: list[Operation] = []
    for c in observed.containers:
        if services is not None and c.service not in services:
            continue
        if c.is_temporary or c.labels.get(L.ONEOFF):
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
