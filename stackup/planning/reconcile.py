"""(stack, graph, observed, options) → Plan. Pure: no I/O, no prints, no questions.

Every decision about what `up` does is made here and written into the plan with its reason:
which containers to create, recreate (and why, field by field), update in place, start, or
remove; which networks and volumes to create or replace; what to wait for before starting
what. The executor only carries the steps out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from stackup.engine.interface import NetworkAttachment
from stackup.engine.observed import (
    Observed,
    ObservedContainer,
    ObservedNetwork,
    ObservedVolume,
)
from stackup.gcpause import collector_paused
from stackup.model import labels as L
from stackup.model.spec import Stack
from stackup.planning import graph as G
from stackup.planning import salt as S
from stackup.planning.container_rules import (
    anonymous_volumes,
    stop_timeout,
    without_labels,
)
from stackup.planning.containers import ContainerDecisions, ServiceOutcome
from stackup.planning.desired import (
    DesiredContainer,
    container_name,
    desired_containers,
    desired_network,
    desired_volume,
)
from stackup.planning.fielddiff import diff_fields
from stackup.planning.images import with_images
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import (
    Action,
    Connect,
    CreateContainer,
    CreateNetwork,
    CreateVolume,
    Disconnect,
    Kind,
    Operation,
    Plan,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    Step,
    StopContainer,
    WaitFor,
)
from stackup.planning.rollout import Replacement
from stackup.planning.rollout_decisions import RolloutDecisions
from stackup.planning.throwaway_specs import VALIDATION_TWIN_LABEL


def reconcile(
    stack: Stack,
    graph: G.ResourceGraph,
    observed: Observed,
    options: ReconcileOptions | None = None,
) -> Plan:
    with collector_paused():  # stackup.gcpause: planning allocates many acyclic values
        return _Reconciler(stack, graph, observed, options or ReconcileOptions()).plan()


class _Reconciler(ContainerDecisions, RolloutDecisions):
    def __init__(
        self, stack: Stack, graph: G.ResourceGraph, observed: Observed, options: ReconcileOptions
    ):
        self.stack = stack
        self.graph = graph
        self.observed = observed
        self.options = options
        self.salt = S.choose(observed.labelled(), options.salt)
        self.ops: list[Operation] = []
        self.warnings: list[str] = []
        self.blockers: list[str] = []
        self.network_op: dict[str, str] = {}  # network key → op id
        self.volume_op: dict[str, str] = {}
        self.recreated_networks: dict[str, str] = {}  # engine name → key
        self.outcome: dict[str, ServiceOutcome] = defaultdict(ServiceOutcome)
        self.replaced: set[str] = set()  # container names recreated or removed by this plan
        self.desired: dict[str, DesiredContainer] = {}
        self.used_temporaries: set[str] = set()
        self.selected: set[str] = set()
        self._deps: dict[str, list[tuple[str, G.ServiceEdge]]] = {}
        ours = [c for c in observed.containers if c.project == stack.name]
        self.by_service: dict[str, list[ObservedContainer]] = defaultdict(list)
        self.temporaries: dict[str, ObservedContainer] = {}
        self.rollouts: dict[str, list[Replacement]] = {}  # deploy.update_config, per service
        self.orphans: list[ObservedContainer] = []
        for c in sorted(ours, key=lambda c: c.name):
            if c.is_temporary:
                self.temporaries[c.name] = c
            elif c.labels.get(L.ONEOFF) or VALIDATION_TWIN_LABEL in c.labels:
                continue  # a one-off run, or a throwaway check an interrupted apply left
            elif c.service is not None and c.service in stack.services:
                self.by_service[c.service].append(c)
            else:
                self.orphans.append(c)

    # ------------------------------------------------------------------ entry

    def plan(self) -> Plan:
        selected = self.selected = self._selected()
        networks = sorted({k for s in selected for k in self.stack.services[s].networks})
        volumes = sorted(
            {
                v.source
                for s in selected
                for v in self.stack.services[s].volumes
                if v.type == "volume" and v.source in self.stack.volumes
            }
        )
        for key in networks:
            self._network(key)
        for key in volumes:
            self._volume(key)
        for name in G.start_order(self.graph):
            if name in selected:
                self._service(name)
        self._finish_network_recreates()
        self._orphans()
        self._foreign()
        return Plan(
            project=self.stack.name,
            operations=with_images(
                self.stack, selected, self.observed.images, self.options, self.ops
            ),
            warnings=tuple(self.warnings),
            blockers=tuple(self.blockers),
            fingerprint=self.observed.fingerprint(),
            services=tuple(sorted(selected)),
        )

    def _selected(self) -> set[str]:
        wanted = self.options.services
        if not wanted:
            return set(self.stack.services)
        if self.options.with_dependencies:
            return G.with_dependencies(self.graph, wanted)
        return set(wanted)

    # ------------------------------------------------------------------ networks and volumes

    def _absent_or_foreign(
        self,
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
                self.warnings.append(
                    f'external {kind.value} "{name}" does not exist; create it with '
                    f"`docker {kind.value} create {name}` before `up`"
                )
            return None
        if have is None:
            op_id = f"{kind.value}:{name}"
            self._add(
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
        if have.project != self.stack.name:
            # Compose warns and uses such a resource; stackup never touches what it did not make.
            self.warnings.append(
                f'{kind.value} "{name}" exists but was not created by stackup for project '
                f'"{self.stack.name}"; it is used as it is (declare it `external: true` to say so)'
            )
        return None

    def _network(self, key: str) -> None:
        want = desired_network(self.stack, key, self.salt)
        have = self.observed.networks.get(want.name)
        op_id = f"network:{want.name}"
        created = self._absent_or_foreign(
            Kind.NETWORK, want.name, want.external, have, CreateNetwork(want.spec)
        )
        if created is not None:
            self.network_op[key] = created
        if want.external or have is None or have.project != self.stack.name:
            return
        if have.spec_hash != want.spec.labels[L.SPEC_HASH]:
            self.recreated_networks[want.name] = key
            self.network_op[key] = op_id
            # Steps are filled in once we know which attached containers survive the plan.
            self._add(
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

    def _finish_network_recreates(self) -> None:
        for name, key in sorted(self.recreated_networks.items()):
            op_id = self.network_op[key]
            op = next(o for o in self.ops if o.id == op_id)
            attached = sorted(
                c.name
                for c in self.observed.containers
                if name in c.networks and c.project == self.stack.name
            )
            kept = [c for c in attached if c not in self.replaced]
            steps: list[Step] = [Disconnect(c, name) for c in attached]
            steps += [RemoveNetwork(name), *[s for s in op.steps if isinstance(s, CreateNetwork)]]
            for cname in kept:
                attachment = self._attachment_for(cname, name)
                if attachment is not None:
                    steps.append(Connect(cname, attachment))
            details = tuple(
                f"disconnects and reconnects {c}" if c in kept else f"disconnects {c} (recreated)"
                for c in attached
            )
            self._replace_op(replace(op, steps=tuple(steps), details=details))

    def _attachment_for(self, cname: str, network: str) -> NetworkAttachment | None:
        if cname not in self.desired:
            owner = next((c for c in self.observed.containers if c.name == cname), None)
            if owner is None or owner.service is None or owner.service not in self.stack.services:
                return None
            for d in desired_containers(
                self.stack, owner.service, owner.number, self.salt, self.options.file_objects
            ):
                self.desired.setdefault(d.name, d)
        want = self.desired.get(cname)
        if want is None:
            return None
        return next((a for a in want.spec.networks if a.network == network), None)

    def _volume(self, key: str) -> None:
        want = desired_volume(self.stack, key, self.salt)
        have = self.observed.volumes.get(want.name)
        op_id = f"volume:{want.name}"
        created = self._absent_or_foreign(
            Kind.VOLUME, want.name, want.external, have, CreateVolume(want.spec)
        )
        if created is not None:
            self.volume_op[key] = created
        if want.external or have is None or have.project != self.stack.name:
            return
        if have.spec_hash != want.spec.labels[L.SPEC_HASH]:
            using = [
                c
                for c in self.observed.containers
                if c.project == self.stack.name and any(m.name == want.name for m in c.mounts)
            ]
            outside = sorted({c.service or c.name for c in using} - self.selected)
            if outside:
                # Recreating the volume removes every container using it; those this plan
                # would not create again must not just disappear.
                self.blockers.append(
                    f'volume "{want.name}" changed, and it is used by {", ".join(outside)}, '
                    "which this plan leaves alone; run `stackup up` for all the services using it"
                )
                return
            users = sorted(c.name for c in using)
            steps: list[Step] = []
            for cname in users:
                steps += [StopContainer(cname), RemoveContainer(cname)]
                self.replaced.add(cname)
            steps += [RemoveVolume(want.name), CreateVolume(want.spec)]
            self.volume_op[key] = op_id
            self._add(
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

    # ------------------------------------------------------------------ services

    def _service(self, name: str) -> None:
        service = self.stack.services[name]
        replicas = self.options.scale.get(name, service.replicas)
        if service.container_name and replicas > 1:
            self.warnings.append(
                f'service "{name}" sets container_name, so it runs one container, not {replicas}'
            )
            replicas = 1
        existing = {c.number: c for c in self.by_service.get(name, [])}
        # A replacement left under its temporary name by an apply killed after the old
        # container was removed is the only holder of the old anonymous volumes: carry them.
        holders = {
            c.number: c
            for c in self.temporaries.values()
            if c.service == name and c.number not in existing
        }
        # `up --adopt`: a container made outside stackup under this slot's name hands its
        # anonymous volumes to the managed one that replaces it.
        adopted = {
            n: self.options.adopt[cname]
            for n in range(1, replicas + 1)
            if n not in existing
            and (cname := container_name(self.stack, name, n)) in self.options.adopt
        }
        holders.update(adopted)
        holders.update(existing)
        carried = (
            {}
            if self.options.renew_anon_volumes
            else {n: anonymous_volumes(c) for n, c in holders.items()}
        )
        wanted = desired_containers(
            self.stack, name, replicas, self.salt, self.options.file_objects, carried
        )
        for d in wanted:
            self.desired[d.name] = d
            if d.number in adopted:
                self._adopt(name, d, adopted[d.number])
            else:
                self._container(name, d, existing.get(d.number))
        self._plan_rollout(name)
        for number in sorted(existing):
            if number > replicas:
                c = existing[number]
                self.replaced.add(c.name)
                self._add(
                    Operation(
                        id=f"container:{c.name}",
                        action=Action.REMOVE,
                        kind=Kind.CONTAINER,
                        name=c.name,
                        service=name,
                        reason=f"scaled down to {replicas}",
                        steps=(
                            StopContainer(c.name, stop_timeout(self.stack, name)),
                            RemoveContainer(c.name),
                        ),
                    )
                )

    def _after(self, service: str) -> tuple[str, ...]:
        spec = self.stack.services[service]
        out = [self.network_op[k] for k in spec.networks if k in self.network_op]
        out += [
            self.volume_op[v.source]
            for v in spec.volumes
            if v.type == "volume" and v.source in self.volume_op
        ]
        for dep, _ in self._dependencies(service):
            out.extend(self.outcome[dep].op_ids)
        return tuple(sorted(set(out)))

    def _waits(self, service: str) -> tuple[Step, ...]:
        steps: list[Step] = []
        for dep, edge in self._dependencies(service):
            if edge.via != "depends_on":
                continue
            dep_service = self.stack.services[dep]
            replicas = self.options.scale.get(dep, dep_service.replicas)
            names = tuple(container_name(self.stack, dep, n) for n in range(1, replicas + 1))
            steps.append(WaitFor(dep, names, edge.condition, edge.required))
        return tuple(steps)

    def _dependents_of(self, service: str) -> list[tuple[str, G.ServiceEdge]]:
        return G.dependents(self.graph, service)

    def _completes(self, service: str) -> bool:
        """A one-shot service: something waits for it to complete successfully."""
        return any(
            e.condition == "service_completed_successfully"
            for _, e in G.dependents(self.graph, service)
        )

    # ------------------------------------------------------------------ orphans, foreign

    def _orphans(self) -> None:
        for c in self.orphans:
            if not self.options.remove_orphans:
                self.warnings.append(
                    f'orphan container {c.name}: service "{c.service}" is no longer in the stack '
                    "(--remove-orphans removes it)"
                )
                continue
            self._add(
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
        for name, c in sorted(self.temporaries.items()):
            # A leftover no wanted container takes over (its service is gone, or scaled below
            # its number) is removed; those of services outside this plan are left for theirs.
            unused = name not in self.used_temporaries
            if unused and (c.service not in self.stack.services or c.service in self.selected):
                self._add(
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

    def _foreign(self) -> None:
        if self.observed.foreign:
            names = ", ".join(sorted(c.name for c in self.observed.foreign))
            self.blockers.append(
                f'Docker Compose project "{self.stack.name}" already has containers ({names}); '
                f"stop it with `docker compose -p {self.stack.name} down` or choose another name with -p"
            )

    # ------------------------------------------------------------------ bookkeeping

    def _dependencies(self, service: str) -> list[tuple[str, G.ServiceEdge]]:
        """`graph.dependencies`, asked three times per service: computed once."""
        found = self._deps.get(service)
        if found is None:
            found = self._deps[service] = G.dependencies(self.graph, service)
        return found

    def _add(self, op: Operation) -> None:
        self.ops.append(op)

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
            for dep, edge in self._dependencies(service)
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

    def _replace_op(self, op: Operation) -> None:
        self.ops = [op if o.id == op.id else o for o in self.ops]

    def _add_service_op(
        self, service: str, op: Operation, *, recreated: bool, gated: bool = True
    ) -> None:
        self._add(self._gated(service, op) if gated else op)
        outcome = self.outcome[service]
        outcome.op_ids.append(op.id)
        outcome.recreated = outcome.recreated or recreated
