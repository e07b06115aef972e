"""The reconciler's side of a rollout (`stackup.planning.rollout`): the replacements of a
service with `deploy.update_config` are collected while its containers are decided, then
planned together once all of them are known: one start-first operation for the service, or
stop-first operations in batches. Part of the reconciler, mixed into it."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from stackup.engine.interface import ContainerSpec
from stackup.engine.observed import Observed, ObservedContainer
from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Stack
from stackup.planning import graph as G
from stackup.planning import reloads as R
from stackup.planning import rollout as RO
from stackup.planning.container_rules import post_start, pre_start_note, stop_timeout
from stackup.planning.desired import DesiredContainer, temporary_name
from stackup.planning.plan import Action, FieldChange, Kind, Operation, Sleep, Step, steps_first


class RolloutDecisions:
    """Mixed into `_Reconciler` (with `ContainerDecisions`)."""

    stack: Stack
    observed: Observed
    warnings: list[str]
    by_service: dict[str, list[ObservedContainer]]
    rollouts: dict[str, list[RO.Replacement]]

    if TYPE_CHECKING:

        def _after(self, service: str) -> tuple[str, ...]: ...

        def _waits(self, service: str) -> tuple[Step, ...]: ...

        def _add(self, op: Operation) -> None: ...

        def _add_service_op(
            self, service: str, op: Operation, *, recreated: bool, gated: bool = True
        ) -> None: ...

        def _dependents_of(self, service: str) -> list[tuple[str, G.ServiceEdge]]: ...

        def _pre_start(
            self, service: str, want: DesiredContainer, spec: ContainerSpec, container: str
        ) -> tuple[Step, ...]: ...

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
            rollout: RO.Rollout | None = None,
            when_ready: tuple[Step, ...] = (),
        ) -> Operation: ...

    def _defer_replacement(
        self,
        service: str,
        want: DesiredContainer,
        old: ObservedContainer,
        reason: str,
        fields: tuple[FieldChange, ...],
        head: tuple[Step, ...],
    ) -> bool:
        """Keep the replacement for `_plan_rollout` when the service has `update_config`."""
        if RO.rollout_policy(self.stack.services[service]) is None:
            return False
        item = RO.Replacement(want, old.name, old.id, reason, fields, head)
        self.rollouts.setdefault(service, []).append(item)
        return True

    def _plan_rollout(self, service: str) -> None:
        items = self.rollouts.pop(service, [])
        spec = self.stack.services[service]
        policy = RO.rollout_policy(spec)
        if not items or policy is None:
            return
        if policy.order == "start-first":
            self._start_first(service, policy, items)
            return
        # The new container has a new address: dependents that cached the old one (nginx)
        # load their config again once it is ready.
        reloads = self._reloading_dependents(service)
        when_ready = RO.reload_steps(self._reloaders(reloads), validate=True)
        shown = sorted({s for s, _, _ in reloads})
        previous: tuple[str, ...] = ()
        for index, batch in enumerate(policy.batches(items)):
            ids = []
            for item in batch:
                old = next(c for c in self.by_service[service] if c.name == item.old_name)
                op = self._replacement(
                    service,
                    item.want,
                    old,
                    reason=item.reason,
                    fields=item.fields,
                    head=item.head,
                    rollout=policy,
                    when_ready=when_ready,
                )
                if index and policy.delay:
                    wait = Sleep(policy.delay, f"update_config.delay {policy.delay:g}s")
                    op = steps_first(op, (wait,))
                if previous and policy.failure_action == "continue":
                    op = replace(op, follows=previous)
                elif previous:
                    op = replace(op, after=(*op.after, *previous))
                op = replace(op, details=(policy.summary(service, shown), *op.details))
                self._add_service_op(service, op, recreated=True)
                ids.append(op.id)
            previous = tuple(ids)

    def _start_first(self, service: str, policy: RO.Rollout, items: list[RO.Replacement]) -> None:
        shared = sorted(
            {
                m.source or m.target
                for m in items[0].want.spec.mounts
                if m.type == "volume" and not m.read_only
            }
        )
        if shared:
            # Swarm does the same; the user chose it, but a database would not survive it.
            self.warnings.append(
                f"{service}: start-first runs the old and the new containers at once, both "
                f"writing to {', '.join(shared)}; use stop-first for a service that cannot "
                "share its data with another copy of itself"
            )
        reloads = self._reloading_dependents(service)
        # The first replica's pre_start steps run once the first batch is created (it holds
        # the first item), before any new container starts; the old ones still serve.
        first = items[0].want
        temp = temporary_name(first.name)
        hooks = self._pre_start(service, first, replace(first.spec, name=temp), temp)
        built = RO.start_first_steps(
            service,
            policy,
            items,
            (*self._waits(service), *hooks),
            self._reloaders(reloads),
            stop_timeout(self.stack, service),
            partial(post_start, self.stack.services[service]),
        )
        together = (
            (f"replaces {', '.join(item.want.name for item in items)} together",)
            if len(items) > 1
            else ()
        )
        reason = "; ".join(dict.fromkeys(item.reason for item in items))
        reason += pre_start_note(len(hooks))
        fields: list[FieldChange] = []
        for item in items:  # equal, not hashable: a value may be a list
            fields += [f for f in item.fields if f not in fields]
        head = sum(len(item.head) for item in items)
        op = Operation(
            id=f"container:{items[0].want.name}",
            action=Action.RECREATE,
            kind=Kind.CONTAINER,
            name=items[0].want.name,
            service=service,
            reason=reason,
            fields=tuple(fields),
            steps=built.steps,
            after=self._after(service),
            restore=built.restore,
            restore_from=head,
            restore_to=built.restore_to,
            details=(policy.summary(service, sorted({s for s, _, _ in reloads})), *together),
        )
        # Not gated like a single create: the old containers serve until the whole operation
        # is through, so it simply runs after its dependencies' operations.
        self._add_service_op(service, op, recreated=True, gated=False)

    def _reloaders(self, reloads: list[tuple[str, str, ReloadPolicy]]) -> list[RO.Dependent]:
        return [(c, p, R.confirms_reload(self.stack.services[s])) for s, c, p in reloads]

    def _reloading_dependents(self, service: str) -> list[tuple[str, str, ReloadPolicy]]:
        """(service, running container, policy) of each dependent that reloads its config:
        nginx resolves its upstreams when it loads its config, so it must load it again to
        see the new containers (and again to forget the old ones)."""
        out = []
        for dep, edge in self._dependents_of(service):
            if edge.via not in ("depends_on", "links"):
                continue
            policy = R.reload_policy(self.stack.services[dep])
            if policy is None:
                continue
            for c in sorted(self.by_service.get(dep, []), key=lambda c: c.name):
                if c.state == "running":
                    out.append((dep, c.name, policy))
        return out
