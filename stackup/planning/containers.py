"""A service container's operation: create, finish an interrupted recreate, recreate (the new
container started before the old one is removed, a config saved by rename checked first in a
throwaway container), update in place, connect, start, or reload a config edited in place.
Part of the reconciler (`stackup.planning.reconcile`), mixed into it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stackup.engine.interface import ContainerSpec
from stackup.engine.observed import (
    Observed,
    ObservedContainer,
)
from stackup.model import labels as L
from stackup.model.spec import Stack
from stackup.planning import bindsources as B
from stackup.planning import configstate as CS
from stackup.planning import graph as G
from stackup.planning import reloads as R
from stackup.planning.container_rules import (
    converged_state,
    describe,
    field_names,
    in_place,
    live_changes,
    post_start,
    pre_start,
    pre_start_note,
    reload_how,
    short_id,
    stop_timeout,
    stopped_reason,
    top_field,
)
from stackup.planning.desired import (
    UPDATABLE,
    DesiredContainer,
    image_key,
    temporary_name,
)
from stackup.planning.fielddiff import diff_fields
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import (
    Action,
    CheckInThrowaway,
    Connect,
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
    UpdateContainer,
)
from stackup.planning.rollout import Rollout
from stackup.planning.throwaway_specs import validation_twin_spec


@dataclass
class ServiceOutcome:
    """What the plan does to a service's containers, for the operations that wait on them."""

    op_ids: list[str] = field(default_factory=list)
    recreated: bool = False


class ContainerDecisions:
    """Mixed into `_Reconciler`, whose plan state these read and add to."""

    stack: Stack
    options: ReconcileOptions
    temporaries: dict[str, ObservedContainer]
    used_temporaries: set[str]
    replaced: set[str]
    recreated_networks: dict[str, str]
    warnings: list[str]
    observed: Observed
    outcome: dict[str, ServiceOutcome]
    by_service: dict[str, list[ObservedContainer]]

    if TYPE_CHECKING:

        def _after(self, service: str) -> tuple[str, ...]: ...

        def _waits(self, service: str) -> tuple[Step, ...]: ...

        def _completes(self, service: str) -> bool: ...

        def _dependencies(self, service: str) -> list[tuple[str, G.ServiceEdge]]: ...

        def _add(self, op: Operation) -> None: ...

        def _add_service_op(
            self, service: str, op: Operation, *, recreated: bool, gated: bool = True
        ) -> None: ...

        def _defer_replacement(
            self,
            service: str,
            want: DesiredContainer,
            old: ObservedContainer,
            reason: str,
            fields: tuple[FieldChange, ...],
            head: tuple[Step, ...],
        ) -> bool: ...

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
        # A new container runs the service's pre_start steps first (after its dependencies'
        # conditions); once per service, as Compose: only for its first replica, so a scale-up
        # runs none.
        created_start: tuple[Step, ...] = (
            *waits,
            *self._pre_start(service, want, want.spec, want.name),
            *start[len(waits) :],
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
                    reason += "; " + describe(forced_fields)
            pre_steps = len(created_start) - len(start)
            reason += pre_start_note(pre_steps)
            # A container that does not start is removed, with the empty bind source
            # directories the engine made for it (a later `up` creates it again). One that
            # waits for a dependency that fails, or whose pre_start step fails, stays created,
            # as with Compose.
            started_at = len(cleanup) + 1 + len(waits) + pre_steps
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
                    steps=(*cleanup, CreateContainer(want.spec), *created_start),
                    after=after,
                    restore=(RemoveContainer(want.name), *self._made_directories(service)),
                    restore_from=started_at,
                    restore_to=started_at + 1,
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
            structural = [f for f in fields if top_field(f.path) not in UPDATABLE]
            live_drift = live_changes(want.spec.service, have.live)
            updatable = [f for f in live_drift if in_place(f)]
            structural += [f for f in live_drift if not in_place(f)]
            fields = [*(f for f in fields if top_field(f.path) not in UPDATABLE), *live_drift]
        else:  # a snapshot without live settings (a review against a fake): the label only
            updatable = [f for f in fields if top_field(f.path) in UPDATABLE and in_place(f)]
            structural = [f for f in fields if f not in updatable]
        reasons = self._recreate_reasons(service, want, have, structural)
        check = self._check_renamed(service, want, drift)
        if drift.renamed:
            targets = [
                m.target for m in CS.config_mounts(self.stack, service) if m.source in drift.renamed
            ]
            command = " ".join(check[0].spec.service.command or ()) if check else None
            reasons.append(R.renamed_reason(self._shown(drift.renamed), targets, command))
        if reasons and self.options.no_recreate:
            self.warnings.append(f"{want.name} is not recreated (--no-recreate): {reasons[0]}")
            reasons = []
        if reasons:
            self.replaced.add(have.name)
            # A recreate applies every change, in-place ones too.
            args = (service, want, have, "; ".join(reasons), tuple(fields), (*check, *cleanup))
            if self._defer_replacement(*args):  # deploy.update_config: planned per service
                return
            op = self._replacement(
                service, want, have, reason=args[3], fields=args[4], head=args[5]
            )
            self._add_service_op(service, op, recreated=True)
            return
        steps: list[Step] = list(cleanup)
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
            if att.network in self.recreated_networks:
                continue
            steps.append(Connect(want.name, att))
            action = action or Action.CONNECT
            reason = reason or f"disconnected from network {att.network} outside stackup"
        if not converged_state(have, self._completes(service)):
            steps.extend(start)
            if action is None:
                action = Action.START
                reason = stopped_reason(have)
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

    def _adopt(self, service: str, want: DesiredContainer, old: ObservedContainer) -> None:
        """`up --adopt`: the container `docker run` made under this name is replaced by the
        managed one exactly as a recreate replaces, so its named and anonymous volumes and
        bind mounts carry over, and a failed start puts the old one back."""
        want = self._with_config_label(service, want)
        self.replaced.add(old.name)
        reason = (
            f"adopting {old.name}: it was made outside stackup; a managed container "
            "replaces it and keeps its volumes"
        )
        # An adoption interrupted before the old container was removed left its replacement
        # under the temporary name: removed first (not its volumes), then adopted again.
        temp = self.temporaries.get(temporary_name(want.name))
        cleanup: tuple[Step, ...] = ()
        if temp is not None:
            self.used_temporaries.add(temp.name)
            cleanup = (RemoveContainer(temp.name),)
        op = self._replacement(service, want, old, reason=reason, head=cleanup, adopts=old.name)
        self._add_service_op(service, op, recreated=True)

    def _replacement(
        self,
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
        new_spec = replace(want.spec, name=tmp, labels={**want.spec.labels, L.REPLACES: old.id})
        hooks = self._pre_start(service, want, new_spec, tmp)
        waits = (*self._waits(service), *hooks)
        reason += pre_start_note(len(hooks))
        # post_start hooks run after this start too (Compose runs them after every start);
        # one that fails puts the old container back, as a failed start does.
        gate = (
            *post_start(self.stack.services[service], tmp),
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
                StopContainer(old.name, stop_timeout(self.stack, service)),
                *waits,
                StartContainer(tmp),
                *gate,
                RemoveContainer(old.name),
                RenameContainer(tmp, want.name),
            ),
            after=self._after(service),
            restore=(
                RemoveContainer(tmp),
                *self._made_directories(service),
                *((StartContainer(old.name),) if converged_state(old, False) else ()),
            ),
            restore_from=stop_at,
            restore_to=stop_at + len(waits) + 2 + len(gate),
            adopts=adopts,
        )

    def _made_directories(self, service: str) -> tuple[RemoveEmptyDirectories, ...]:
        """The step removing the missing bind sources the engine creates for `service`'s
        container and for no other container of the stack (the host facts of
        `options.bind_sources`), when they are still empty."""
        kinds = self.options.bind_sources
        if not kinds:
            return ()
        users: dict[str, int] = {}
        for m in B.bind_sources(self.stack, self.stack.services):
            replicas = self.options.scale.get(m.service, self.stack.services[m.service].replicas)
            users[m.source] = users.get(m.source, 0) + max(replicas, 1)
        own = B.bind_sources(self.stack, (service,))
        made = B.made_for(own, kinds, users)
        return (RemoveEmptyDirectories(made),) if made else ()

    def _pre_start(
        self, service: str, want: DesiredContainer, spec: ContainerSpec, container: str
    ) -> tuple[CheckInThrowaway, ...]:
        if want.number != 1:
            return ()
        return pre_start(self.stack, service, spec, container)

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
        records = CS.record_steps(self.stack, service, [(have.name, have.id)], snap)
        (op,) = R.reload_operations(
            service,
            [have.name],
            policy,
            f"{self._shown(drift.edited)} changed since it was last applied; {reload_how(policy)}",
            records,
            confirm=R.confirms_reload(self.stack.services[service]),
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
            CheckInThrowaway(
                validation_twin_spec(want.spec, self.stack.name, service, policy.validate_)
            ),
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
            reasons.append(describe(structural))
        image_id = self.observed.images.get(image_key(want.spec.image))
        # Only a tag that stayed the same in the file can have "moved"; a changed `image`
        # field already says why.
        same_ref = not any(f.path == "image" for f in structural)
        if same_ref and image_id and have.image_id and image_id != have.image_id:
            reasons.append(
                f"image {want.spec.image} now resolves to {short_id(image_id)} (was {short_id(have.image_id)})"
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
