"""(stack, graph, observed, options) → Plan. Pure: no I/O, no prints, no questions.

Every decision about what `up` does is made here and written into the plan with its reason:
which containers to create, recreate (and why, field by field), update in place, start, or
remove; which networks and volumes to create or replace; what to wait for before starting
what. The executor only carries the steps out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import networkx as nx
from pydantic import JsonValue

from stackup.engine.docker import convert, payloads
from stackup.engine.interface import NetworkAttachment
from stackup.engine.observed import (
    LiveConfig,
    Observed,
    ObservedContainer,
    ObservedNetwork,
    ObservedVolume,
)
from stackup.gcpause import collector_paused
from stackup.model import labels as L
from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Service, Stack
from stackup.planning import configstate as CS
from stackup.planning import graph as G
from stackup.planning import salt as S
from stackup.planning.desired import (
    UPDATABLE,
    DesiredContainer,
    container_name,
    desired_containers,
    desired_network,
    desired_volume,
    image_key,
    temporary_name,
)
from stackup.planning.fielddiff import diff_fields
from stackup.planning.plan import (
    Action,
    CheckInThrowaway,
    Connect,
    CreateContainer,
    CreateNetwork,
    CreateVolume,
    Disconnect,
    Exec,
    FieldChange,
    Kind,
    Operation,
    Plan,
    RemoveContainer,
    RemoveNetwork,
    RemoveVolume,
    RenameContainer,
    StartContainer,
    Step,
    StopContainer,
    UpdateContainer,
    WaitFor,
)
from stackup.targets.engine.throwaway import check_spec
from stackup.watch import reload as R


@dataclass(frozen=True)
class ReconcileOptions:
    services: tuple[str, ...] = ()  # empty: every service
    remove_orphans: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    renew_anon_volumes: bool = False
    scale: Mapping[str, int] = field(default_factory=dict)
    salt: str = (
        S.UNSET
    )  # for a project that has no resource carrying a salt yet (stackup.planning.salt)
    file_objects: Mapping[str, bytes] = field(default_factory=dict)
    with_dependencies: bool = True
    # Config files on the host and what each container last applied (stackup.planning.configstate);
    # None: not read (a plan from the stack alone), so no config reloads are planned.
    configs: CS.ConfigSnapshot | None = None


def reconcile(
    stack: Stack,
    graph: nx.DiGraph[str],
    observed: Observed,
    options: ReconcileOptions | None = None,
) -> Plan:
    with collector_paused():  # stackup.gcpause: planning allocates many acyclic values
        return _Reconciler(stack, graph, observed, options or ReconcileOptions()).plan()


def containers_needing_live_config(
    stack: Stack, observed: Observed, options: ReconcileOptions | None = None
) -> list[str]:
    """IDs of the containers whose live settings reconcile compares with the file: every
    container of a service this plan is for. Neither the label's hash nor its spec can
    rule one out, since a `docker update` changes neither."""
    options = options or ReconcileOptions()
    wanted = set(options.services) if options.services and not options.with_dependencies else None
    return sorted(
        c.id
        for c in observed.containers
        if c.service is not None
        and c.service in stack.services
        and (wanted is None or c.service in wanted)
        and c.project == stack.name
        and not c.is_temporary
        and not c.labels.get(L.ONEOFF)
    )


@dataclass
class _ServiceOutcome:
    op_ids: list[str] = field(default_factory=list)
    recreated: bool = False


class _Reconciler:
    def __init__(
        self, stack: Stack, graph: nx.DiGraph[str], observed: Observed, options: ReconcileOptions
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
        self.outcome: dict[str, _ServiceOutcome] = defaultdict(_ServiceOutcome)
        self.replaced: set[str] = set()  # container names recreated or removed by this plan
        self.desired: dict[str, DesiredContainer] = {}
        self.used_temporaries: set[str] = set()
        self.selected: set[str] = set()
        self._deps: dict[str, list[tuple[str, G.ServiceEdge]]] = {}
        ours = [c for c in observed.containers if c.project == stack.name]
        self.by_service: dict[str, list[ObservedContainer]] = defaultdict(list)
        self.temporaries: dict[str, ObservedContainer] = {}
        self.orphans: list[ObservedContainer] = []
        for c in sorted(ours, key=lambda c: c.name):
            if c.is_temporary:
                self.temporaries[c.name] = c
            elif c.labels.get(L.ONEOFF):
                continue
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
        ops = tuple(self.ops)
        return Plan(
            project=self.stack.name,
            operations=ops,
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
                        diff_fields(_without_labels(have.spec), _without_labels(want.canonical))
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
                        diff_fields(_without_labels(have.spec), _without_labels(want.canonical))
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
        holders.update(existing)
        carried = (
            {}
            if self.options.renew_anon_volumes
            else {n: _anonymous_volumes(c) for n, c in holders.items()}
        )
        wanted = desired_containers(
            self.stack, name, replicas, self.salt, self.options.file_objects, carried
        )
        for d in wanted:
            self.desired[d.name] = d
            self._container(name, d, existing.get(d.number))
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
                            StopContainer(c.name, _stop_timeout(self.stack, name)),
                            RemoveContainer(c.name),
                        ),
                    )
                )

    def _container(
        self, service: str, want: DesiredContainer, have: ObservedContainer | None
    ) -> None:
        op_id = f"container:{want.name}"
        want = self._with_config_label(service, want)
        drift = (
            CS.drift(self.stack, service, have.id, have.labels, self.options.configs)
            if have is not None
            else CS.Drift()
        )
        temp = self.temporaries.get(temporary_name(want.name))
        if temp is not None:
            self.used_temporaries.add(temp.name)
        after = self._after(service)
        waits = self._waits(service)
        start: tuple[Step, ...] = (
            *waits,
            StartContainer(want.name),
            *post_start(self.stack.services[service], want.name),
        )
        cleanup: tuple[Step, ...] = (RemoveContainer(temp.name),) if temp is not None else ()
        volume_forced = have is not None and have.name in self.replaced
        if have is None or volume_forced:
            if temp is not None and temp.spec_hash == want.spec_hash and not volume_forced:
                # A recreate was interrupted after the old container was removed: finish it.
                self._add_service_op(
                    service,
                    Operation(
                        id=op_id,
                        action=Action.CREATE,
                        kind=Kind.CONTAINER,
                        name=want.name,
                        service=service,
                        reason="finishing an interrupted recreate",
                        steps=(RenameContainer(temp.name, want.name), *start),
                        after=after,
                    ),
                    recreated=True,
                )
                return
            reason = self._missing_reason(service, want)
            forced_fields: list[FieldChange] = []
            if have is not None and volume_forced:
                reason = "a volume it uses is recreated"
                # Its own changes are applied by the same recreate: show them too.
                if have.spec_hash != want.spec_hash:
                    forced_fields = diff_fields(have.spec, want.canonical)
                    reason += "; " + _describe(forced_fields)
            self._add_service_op(
                service,
                Operation(
                    id=op_id,
                    action=Action.RECREATE if volume_forced else Action.CREATE,
                    kind=Kind.CONTAINER,
                    name=want.name,
                    service=service,
                    reason=reason,
                    fields=tuple(forced_fields),
                    steps=(*cleanup, CreateContainer(want.spec), *start),
                    after=after,
                ),
                recreated=True,
            )
            return

        # Equal hashes mean equal specs: skip parsing the label (most containers, most plans).
        fields = [] if have.spec_hash == want.spec_hash else diff_fields(have.spec, want.canonical)
        if have.live is not None:
            # The label keeps the values the container was created with; an in-place update
            # (ours, or `docker update` by hand) changes only the container. So these four
            # are compared with what it runs with now, whatever the label says.
            structural = [f for f in fields if _top(f.path) not in UPDATABLE]
            live_drift = _live_drift(want.spec.service, have.live)
            updatable = [f for f in live_drift if _in_place(f)]
            structural += [f for f in live_drift if not _in_place(f)]
            fields = [*(f for f in fields if _top(f.path) not in UPDATABLE), *live_drift]
        else:  # a snapshot without live settings (a review against a fake): the label only
            updatable = [f for f in fields if _top(f.path) in UPDATABLE and _in_place(f)]
            structural = [f for f in fields if f not in updatable]
        reasons = self._recreate_reasons(service, want, have, structural)
        if drift.renamed:
            reasons.append(
                f"{self._shown(drift.renamed)} was saved by rename; a single-file bind mount "
                "shows the new file only to a new container"
            )
        check = self._check_renamed(service, want, drift)
        if check and reasons:
            command = " ".join(check[0].spec.service.command or ())
            reasons[-1] += f" ({command} checks it first, in a throwaway container)"
        if reasons and self.options.no_recreate:
            self.warnings.append(f"{want.name} is not recreated (--no-recreate): {reasons[0]}")
            reasons = []
        if reasons:
            self.replaced.add(have.name)
            tmp = temporary_name(want.name)
            new_spec = replace(
                want.spec, name=tmp, labels={**want.spec.labels, L.REPLACES: have.id}
            )
            # The old container is only stopped until the new one has started (under its
            # temporary name): when the start fails, the old one is started again as it was.
            # Removed first, as before, a taken port left the service down.
            stop_at = len(check) + len(cleanup) + 1
            recreate_steps = (
                *check,
                *cleanup,
                CreateContainer(new_spec),
                StopContainer(have.name, _stop_timeout(self.stack, service)),
                *waits,
                StartContainer(tmp),
                RemoveContainer(have.name),
                RenameContainer(tmp, want.name),
            )
            self._add_service_op(
                service,
                Operation(
                    id=op_id,
                    action=Action.RECREATE,
                    kind=Kind.CONTAINER,
                    name=want.name,
                    service=service,
                    reason="; ".join(reasons),
                    fields=tuple(fields),  # a recreate applies every change, in-place ones too
                    steps=recreate_steps,
                    after=after,
                    restore=(
                        RemoveContainer(tmp),
                        *((StartContainer(have.name),) if _converged_state(have, False) else ()),
                    ),
                    restore_from=stop_at,
                    restore_to=stop_at + len(waits) + 2,
                ),
                recreated=True,
            )
            return
        steps: list[Step] = list(cleanup)
        action: Action | None = None
        reason = ""
        changed: list[FieldChange] = []
        if updatable:
            action, reason, changed = (
                Action.UPDATE,
                "updated in place: " + _names(updatable),
                updatable,
            )
            steps.append(UpdateContainer(want.name, want.spec.service))
        missing_nets = [a for a in want.spec.networks if a.network not in have.networks]
        for att in missing_nets:
            if att.network in self.recreated_networks:
                continue
            steps.append(Connect(want.name, att))
            action = action or Action.CONNECT
            reason = reason or f"disconnected from network {att.network} outside stackup"
        if not _converged_state(have, self._completes(service)):
            steps.extend(start)
            if action is None:
                action = Action.START
                reason = _stopped_reason(have)
        if action is None and temp is not None:
            action, reason = Action.REMOVE, "leftover from an interrupted recreate"
            self._add(
                Operation(
                    id=f"container:{temp.name}",
                    action=action,
                    kind=Kind.CONTAINER,
                    name=temp.name,
                    service=service,
                    reason=reason,
                    steps=cleanup,
                )
            )
            return
        if action is not None:
            self._add_service_op(
                service,
                Operation(
                    id=op_id,
                    action=action,
                    kind=Kind.CONTAINER,
                    name=want.name,
                    service=service,
                    reason=reason,
                    fields=tuple(changed),
                    steps=tuple(steps),
                    after=after,
                ),
                recreated=False,
            )
        if drift.edited and have.state == "running":
            self._reload(service, have, drift, after=(op_id,) if action is not None else after)

    def _reload(
        self, service: str, have: ObservedContainer, drift: CS.Drift, after: tuple[str, ...]
    ) -> None:
        """An in-place edit of a config the running container sees through its bind mount:
        validate it in the container, then reload, then record it (the same ↻ operation
        `watch` runs). A failing validation sends nothing: the old config keeps serving."""
        policy = R.reload_policy(self.stack.services[service])
        snap = self.options.configs
        if policy is None or snap is None:
            return
        record = CS.RecordApplied(
            snap.store,
            have.id,
            tuple(sorted(CS.current_states(self.stack, service, snap).items())),
        )
        (op,) = R.reload_operations(
            service,
            [have.name],
            policy,
            f"{self._shown(drift.edited)} changed since it was last applied; {_reload_how(policy)}",
            {have.name: record},
        )
        self._add_service_op(service, replace(op, after=after), recreated=False)

    def _check_renamed(
        self, service: str, want: DesiredContainer, drift: CS.Drift
    ) -> tuple[CheckInThrowaway, ...]:
        """A config saved by rename reaches the service only through a new container: check
        it first in a throwaway one (`nginx -t`), so a broken file stops the recreate before
        the running container is touched."""
        policy = R.reload_policy(self.stack.services[service])
        if not drift.renamed or policy is None or not policy.validate_:
            return ()
        return (
            CheckInThrowaway(check_spec(want.spec, self.stack.name, service, policy.validate_)),
        )

    def _with_config_label(self, service: str, want: DesiredContainer) -> DesiredContainer:
        """A new container records the config files it is created with (stackup.planning.configstate);
        the label is outside the spec hash: a config edit alone is not a new definition."""
        value = CS.label_value(self.stack, service, self.options.configs)
        if value is None:
            return want
        spec = replace(want.spec, labels={**want.spec.labels, CS.LABEL: value})
        return replace(want, spec=spec)

    def _shown(self, sources: tuple[str, ...]) -> str:
        return CS.shown(sources, self.options.configs)

    def _recreate_reasons(
        self,
        service: str,
        want: DesiredContainer,
        have: ObservedContainer,
        structural: list[FieldChange],
    ) -> list[str]:
        reasons = []
        if self.options.force_recreate:
            reasons.append("--force-recreate")
        if structural:
            reasons.append(_describe(structural))
        image_id = self.observed.images.get(image_key(want.spec.image))
        # Only a tag that stayed the same in the file can have "moved"; a changed `image`
        # field already says why.
        same_ref = not any(f.path == "image" for f in structural)
        if same_ref and image_id and have.image_id and image_id != have.image_id:
            reasons.append(
                f"image {want.spec.image} now resolves to {_short(image_id)} (was {_short(have.image_id)})"
            )
        for dep, edge in self._dependencies(service):
            if self.outcome[dep].recreated and (
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

    def _missing_reason(self, service: str, want: DesiredContainer) -> str:
        if self.by_service.get(service):
            return f"container {want.name} is missing (scaled up, or removed outside stackup)"
        known = any(c.project == self.stack.name for c in self.observed.containers) or any(
            n.project == self.stack.name for n in self.observed.networks.values()
        )
        if known:
            return f"container {want.name} is missing (new service, or removed outside stackup)"
        return "new service"

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

    def _add_service_op(self, service: str, op: Operation, *, recreated: bool) -> None:
        self._add(self._gated(service, op))
        outcome = self.outcome[service]
        outcome.op_ids.append(op.id)
        outcome.recreated = outcome.recreated or recreated


# ---------------------------------------------------------------------- helpers


def post_start(service: Service, container: str) -> tuple[Exec, ...]:
    """`post_start` hooks, run in order once the container has started, as `docker exec`."""
    return tuple(
        Exec(
            container,
            tuple(hook.command),
            "post_start",
            user=hook.user,
            working_dir=hook.working_dir,
            environment=tuple(f"{k}={v}" for k, v in hook.environment.items() if v is not None),
            privileged=hook.privileged,
        )
        for hook in service.post_start or ()
    )


def _without_labels(spec: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """A network's or volume's spec without our own labels (they hold the spec itself)."""
    out = dict(spec)
    labels = spec.get("labels")
    if isinstance(labels, dict):
        out["labels"] = {k: v for k, v in labels.items() if not k.startswith(L.PREFIX)}
    return out


_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def _anonymous_volumes(c: ObservedContainer) -> dict[str, str]:
    """Every anonymous volume the container has, by mount target, so a recreate keeps them:
    those the file declares (`- /data`) and those the image declares (`VOLUME /var/lib/db`),
    which the file never mentions. Named volumes are mounted by name anyway."""
    return {
        m.destination: m.name
        for m in c.mounts
        if m.type == "volume" and m.name and _ANONYMOUS.match(m.name)
    }


def _converged_state(c: ObservedContainer, one_shot: bool) -> bool:
    if c.state in ("running", "restarting"):
        return True
    # A job that others wait on has done its work when it exited 0.
    return one_shot and c.state == "exited" and c.exit_code == 0


def _stopped_reason(c: ObservedContainer) -> str:
    if c.state == "exited":
        code = c.exit_code
        return (
            f"not running (exited with code {code})" if code is not None else "not running (exited)"
        )
    return f"not running ({c.state})"


def _stop_timeout(stack: Stack, service: str) -> float | None:
    grace = stack.services[service].stop_grace_period
    return grace.total_seconds() if grace is not None else None


def _reload_how(policy: ReloadPolicy) -> str:
    how = " ".join(policy.validate_) + ", then " if policy.validate_ else ""
    if policy.signal:
        return how + f"send {policy.signal}"
    return how + " ".join(policy.exec_ or ())


def _describe(changes: list[FieldChange]) -> str:
    names = _names(changes)
    return f"changed: {names}"


def _names(changes: list[FieldChange]) -> str:
    paths = [c.path for c in changes]
    if len(paths) > 3:
        return ", ".join(paths[:3]) + f" and {len(paths) - 3} more"
    return ", ".join(paths)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _top(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def _in_place(change: FieldChange) -> bool:
    """`docker update` sets a restart policy or a pids limit to anything, but cannot take a
    memory or CPU limit away (zero means "leave as is"): removing one recreates."""
    return change.after is not None or change.path in ("restart", "pids_limit")


def _live_drift(service: Service, live: LiveConfig) -> list[FieldChange]:
    """The in-place-updatable settings on which the running container differs from the file,
    before (live) → after (file), in the canonical spec's units (bytes, CPUs, a count)."""
    wanted = LiveConfig(
        restart=payloads.restart_text(convert.restart_policy(service)),
        nano_cpus=convert.nano_cpus(service),
        memory=convert.memory_limit(service),
        pids_limit=convert.pids_limit(service) or None,
    )
    out = []
    if live.restart != wanted.restart:
        out.append(FieldChange("restart", live.restart, wanted.restart))
    if live.nano_cpus != wanted.nano_cpus:
        out.append(FieldChange("cpus", _cpus(live.nano_cpus), _cpus(wanted.nano_cpus)))
    if live.memory != wanted.memory:
        out.append(FieldChange("mem_limit", live.memory or None, wanted.memory or None))
    if (live.pids_limit or None) != wanted.pids_limit:
        out.append(FieldChange("pids_limit", live.pids_limit or None, wanted.pids_limit))
    return out


def _cpus(nano: int) -> str | None:
    return f"{nano / 1e9:g}" if nano else None
