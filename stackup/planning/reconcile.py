"""(stack, graph, observed, options) → Plan. Pure: no I/O, no prints, no questions.

Every decision about what `up` does is made here and written into the plan with its reason:
which containers to create, recreate (and why, field by field), update in place, start, or
remove; which networks and volumes to create or replace; what to wait for before starting
what. The executor only carries the steps out.

The plan is decided kind by kind over one `PlanBuilder` (`stackup.planning.builder`): the
networks and volumes the selected services use (`networks_volumes`), then each service in
start order, its containers (`containers`, with `replacement`, `rollout_decisions` and
`config_reloads`), then the networks' recreates once the plan knows which containers survive
them, the orphans, and last the images the containers need (`images`), listed first.
"""

from __future__ import annotations

from stackup.engine.observed import Observed
from stackup.gcpause import collector_paused
from stackup.model.spec import Stack
from stackup.planning.builder import PlanBuilder
from stackup.planning.containers import plan_orphans, plan_service, refuse_compose_project
from stackup.planning.graph import ResourceGraph, start_order
from stackup.planning.images import with_images
from stackup.planning.networks_volumes import finish_network_recreates, plan_network, plan_volume
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan


def reconcile(
    stack: Stack,
    graph: ResourceGraph,
    observed: Observed,
    options: ReconcileOptions | None = None,
) -> Plan:
    with collector_paused():  # stackup.gcpause: planning allocates many acyclic values
        return _plan(PlanBuilder.start(stack, graph, observed, options or ReconcileOptions()))


def _plan(builder: PlanBuilder) -> Plan:
    stack, selected = builder.stack, builder.selected
    networks = sorted({k for s in selected for k in stack.services[s].networks})
    volumes = sorted(
        {
            v.source
            for s in selected
            for v in stack.services[s].volumes
            if v.type == "volume" and v.source in stack.volumes
        }
    )
    for key in networks:
        plan_network(builder, key)
    for key in volumes:
        plan_volume(builder, key)
    for name in start_order(builder.graph):
        if name in selected:
            plan_service(builder, name)
    finish_network_recreates(builder)
    plan_orphans(builder)
    refuse_compose_project(builder)
    return Plan(
        project=stack.name,
        operations=with_images(
            stack, selected, builder.observed.images, builder.options, builder.operations
        ),
        warnings=tuple(builder.warnings),
        blockers=tuple(builder.blockers),
        fingerprint=builder.observed.fingerprint(),
        services=tuple(sorted(selected)),
    )
