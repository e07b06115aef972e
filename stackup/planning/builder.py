"""The plan as the reconciler (`stackup.planning.reconcile`) decides it: one `PlanBuilder`,
handed to each decision module (`networks_volumes`, `containers`, `replacement`,
`rollout_decisions`, `config_reloads`), which read what is wanted and what is there and add
operations, warnings and blockers to it. What waits for what is decided here, from the
dependency graph and the operations the services' dependencies got.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from stackup.engine.observed import Observed, ObservedContainer
from stackup.model import labels
from stackup.model.spec import Stack
from stackup.planning.desired import DesiredContainer, container_name
from stackup.planning.graph import (
    ResourceGraph,
    ServiceEdge,
    dependencies,
    dependents,
    with_dependencies,
)
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import CreateContainer, Operation, RemoveContainer, Step, WaitFor
from stackup.planning.rollout import Replacement
from stackup.planning.salt import choose as choose_salt
from stackup.planning.throwaway_specs import VALIDATION_TWIN_LABEL


@dataclass
class ServiceOutcome:
    """What the plan does to a service's containers, for the operations that wait on them."""

    op_ids: list[str] = field(default_factory=list)
    recreated: bool = False


@dataclass(frozen=True)
class ProjectContainers:
    """The project's observed containers (one-off runs and throwaway checks left out), in name
    order, by what they are to the plan."""

    by_service: defaultdict[str, list[ObservedContainer]]  # of a service in the stack
    # Replacements an interrupted recreate left under their temporary name, by that name.
    temporaries: dict[str, ObservedContainer]
    orphans: list[ObservedContainer]  # of a service no longer in the stack

    @classmethod
    def of(cls, stack: Stack, observed: Observed) -> ProjectContainers:
        ours = [c for c in observed.containers if c.project == stack.name]
        found = cls(defaultdict(list), {}, [])
        for c in sorted(ours, key=lambda c: c.name):
            if c.is_temporary:
                found.temporaries[c.name] = c
            elif c.labels.get(labels.ONEOFF) or VALIDATION_TWIN_LABEL in c.labels:
                continue  # a one-off run, or a throwaway check an interrupted apply left
            elif c.service is not None and c.service in stack.services:
                found.by_service[c.service].append(c)
            else:
                found.orphans.append(c)
        return found


@dataclass
class PlanBuilder:
    """What is wanted and what is there (read), and what the plan does so far (added to)."""

    stack: Stack
    graph: ResourceGraph
    observed: Observed
    options: ReconcileOptions
    salt: str  # the project's (stackup.planning.salt)
    selected: set[str]  # the services this plan is for (with their dependencies, if asked)
    containers: ProjectContainers

    operations: list[Operation] = field(default_factory=list)  # in the order decided
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # problems that stop the apply
    # The operation a service's container waits for, per network and volume key.
    network_op: dict[str, str] = field(default_factory=dict)
    volume_op: dict[str, str] = field(default_factory=dict)
    # Networks recreated, engine name → key: their steps are finished once the plan knows
    # which attached containers survive it (`networks_volumes.finish_network_recreates`).
    recreated_networks: dict[str, str] = field(default_factory=dict)
    outcome: defaultdict[str, ServiceOutcome] = field(
        default_factory=lambda: defaultdict(ServiceOutcome)
    )
    replaced: set[str] = field(default_factory=set)  # containers recreated or removed by the plan
    desired: dict[str, DesiredContainer] = field(default_factory=dict)  # by container name
    used_temporaries: set[str] = field(default_factory=set)  # taken over by a wanted container
    # Replacements of a service with deploy.update_config, planned together once all are known.
    rollouts: dict[str, list[Replacement]] = field(default_factory=dict)
    _dependencies: dict[str, list[tuple[str, ServiceEdge]]] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        stack: Stack,
        resources: ResourceGraph,
        observed: Observed,
        options: ReconcileOptions,
    ) -> PlanBuilder:
        wanted = options.services
        if not wanted:
            selected = set(stack.services)
        elif options.with_dependencies:
            selected = with_dependencies(resources, wanted)
        else:
            selected = set(wanted)
        return cls(
            stack=stack,
            graph=resources,
            observed=observed,
            options=options,
            salt=choose_salt(observed.labelled(), options.salt),
            selected=selected,
            containers=ProjectContainers.of(stack, observed),
        )

    # ------------------------------------------------------------------ adding

    def add(self, op: Operation) -> None:
        self.operations.append(op)

    def replace_operation(self, op: Operation) -> None:
        self.operations = [op if o.id == op.id else o for o in self.operations]

    def add_service_op(
        self, service: str, op: Operation, *, recreated: bool, gated: bool = True
    ) -> None:
        """Add an operation on a service's containers, noted for the operations of the
        services that depend on it."""
        self.add(self._gated(service, op) if gated else op)
        outcome = self.outcome[service]
        outcome.op_ids.append(op.id)
        outcome.recreated = outcome.recreated or recreated

    def _gated(self, service: str, op: Operation) -> Operation:
        """Let a new container be created before its dependencies have started: their
        operations gate only the steps after the create (stop of the old container, waits,
        start). A container sharing another's namespace still waits for all of it, since
        the engine needs that container to exist when this one is created."""
        creates = [i for i, s in enumerate(op.steps) if isinstance(s, CreateContainer)]
        if not creates:
            return op
        gating = {
            op_id
            for dep, edge in self.dependencies(service)
            if edge.via in ("depends_on", "links") and edge.shares is None
            for op_id in self.outcome[dep].op_ids
        }
        start_after = tuple(a for a in op.after if a in gating)
        if not start_after:
            return op
        created = op.steps[creates[0]]
        assert isinstance(created, CreateContainer)
        temporary = created.spec.name != op.name
        return replace(
            op,
            after=tuple(a for a in op.after if a not in gating),
            start_after=start_after,
            gate=creates[0] + 1,
            abandon=(RemoveContainer(created.spec.name),) if temporary else (),
        )

    # ------------------------------------------------------------------ ordering

    def after(self, service: str) -> tuple[str, ...]:
        """The operations a service's container operation runs after: its networks', its
        volumes' and its dependencies'."""
        spec = self.stack.services[service]
        out = [self.network_op[k] for k in spec.networks if k in self.network_op]
        out += [
            self.volume_op[v.source]
            for v in spec.volumes
            if v.type == "volume" and v.source in self.volume_op
        ]
        for dep, _ in self.dependencies(service):
            out.extend(self.outcome[dep].op_ids)
        return tuple(sorted(set(out)))

    def waits(self, service: str) -> tuple[Step, ...]:
        """The depends_on conditions a service's container waits for before it starts."""
        steps: list[Step] = []
        for dep, edge in self.dependencies(service):
            if edge.via != "depends_on":
                continue
            dep_service = self.stack.services[dep]
            replicas = self.options.scale.get(dep, dep_service.replicas)
            names = tuple(container_name(self.stack, dep, n) for n in range(1, replicas + 1))
            steps.append(WaitFor(dep, names, edge.condition, edge.required))
        return tuple(steps)

    def dependencies(self, service: str) -> list[tuple[str, ServiceEdge]]:
        """`graph.dependencies`, asked three times per service: computed once."""
        found = self._dependencies.get(service)
        if found is None:
            found = self._dependencies[service] = dependencies(self.graph, service)
        return found

    def dependents(self, service: str) -> list[tuple[str, ServiceEdge]]:
        return dependents(self.graph, service)

    def completes(self, service: str) -> bool:
        """A one-shot service: something waits for it to complete successfully."""
        return any(
            e.condition == "service_completed_successfully"
            for _, e in dependents(self.graph, service)
        )
