"""`stackup swarm down`: the project's swarm services, then its networks, configs and secrets,
in the one teardown order of every `down` (`stackup.planning.teardown`)."""

from __future__ import annotations

from stackup.planning.plan import Kind, Plan, RemoveNetwork
from stackup.planning.teardown import Removal, teardown
from stackup.targets.swarm.desired import ObjectKind
from stackup.targets.swarm.plan import SwarmObject, SwarmObserved
from stackup.targets.swarm.steps import RemoveObject, RemoveService, WaitServiceGone


def plan_swarm_down(observed: SwarmObserved) -> Plan:
    """Remove the project's services, then its networks, configs and secrets. Named volumes
    stay: they live on the nodes, with the data."""
    first = [
        Removal(
            Kind.SERVICE,
            s.name,
            service=s.service,
            steps=(RemoveService(s.name), WaitServiceGone(s.name)),
        )
        for s in sorted(observed.services, key=lambda s: s.name)
    ]
    then = [
        Removal(Kind.NETWORK, n.name, steps=(RemoveNetwork(n.name),))
        for n in sorted(observed.networks, key=lambda n: n.name)
    ]
    groups: list[tuple[ObjectKind, Kind, tuple[SwarmObject, ...]]] = [
        ("config", Kind.CONFIG, observed.configs),
        ("secret", Kind.SECRET, observed.secrets),
    ]
    for kind, plan_kind, objs in groups:
        then.extend(
            Removal(plan_kind, obj.name, steps=(RemoveObject(kind, obj.name),))
            for obj in sorted(objs, key=lambda o: o.name)
        )
    return teardown(observed.project, first, then, observed.fingerprint())
