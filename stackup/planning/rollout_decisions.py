"""The reconciler's side of a rollout (`stackup.planning.rollout`): the replacements of a
service with `deploy.update_config` are collected while its containers are decided
(`defer_replacement`), then planned together once all of them are known (`plan_rollout`): one
start-first operation for the service, or stop-first operations in batches."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from stackup.engine.observed import ObservedContainer
from stackup.model.settings import ReloadPolicy
from stackup.planning import reloads, rollout
from stackup.planning.builder import PlanBuilder
from stackup.planning.container_rules import post_start, pre_start_note, stop_timeout
from stackup.planning.desired import DesiredContainer, temporary_name
from stackup.planning.plan import Action, FieldChange, Kind, Operation, Sleep, Step, steps_first
from stackup.planning.replacement import pre_start_checks, replacement


def defer_replacement(
    builder: PlanBuilder,
    service: str,
    want: DesiredContainer,
    old: ObservedContainer,
    reason: str,
    fields: tuple[FieldChange, ...],
    head: tuple[Step, ...],
) -> bool:
    """Keep the replacement for `plan_rollout` when the service has `update_config`."""
    if rollout.rollout_policy(builder.stack.services[service]) is None:
        return False
    item = rollout.Replacement(want, old.name, old.id, reason, fields, head)
    builder.rollouts.setdefault(service, []).append(item)
    return True


def plan_rollout(builder: PlanBuilder, service: str) -> None:
    items = builder.rollouts.pop(service, [])
    spec = builder.stack.services[service]
    policy = rollout.rollout_policy(spec)
    if not items or policy is None:
        return
    if policy.order == "start-first":
        _start_first(builder, service, policy, items)
        return
    # The new container has a new address: dependents that cached the old one (nginx)
    # load their config again once it is ready.
    dependents = _reloading_dependents(builder, service)
    when_ready = rollout.reload_steps(_reloaders(builder, dependents), validate=True)
    shown = sorted({s for s, _, _ in dependents})
    previous: tuple[str, ...] = ()
    for index, batch in enumerate(policy.batches(items)):
        ids = []
        for item in batch:
            old = next(c for c in builder.containers.by_service[service] if c.name == item.old_name)
            op = replacement(
                builder,
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
            builder.add_service_op(service, op, recreated=True)
            ids.append(op.id)
        previous = tuple(ids)


def _start_first(
    builder: PlanBuilder,
    service: str,
    policy: rollout.Rollout,
    items: list[rollout.Replacement],
) -> None:
    shared = sorted(
        {
            m.source or m.target
            for m in items[0].want.spec.mounts
            if m.type == "volume" and not m.read_only
        }
    )
    if shared:
        # Swarm does the same; the user chose it, but a database would not survive it.
        builder.warnings.append(
            f"{service}: start-first runs the old and the new containers at once, both "
            f"writing to {', '.join(shared)}; use stop-first for a service that cannot "
            "share its data with another copy of itself"
        )
    dependents = _reloading_dependents(builder, service)
    # The first replica's pre_start steps run once the first batch is created (it holds
    # the first item), before any new container starts; the old ones still serve.
    first = items[0].want
    temp = temporary_name(first.name)
    hooks = pre_start_checks(builder, service, first, replace(first.spec, name=temp), temp)
    built = rollout.start_first_steps(
        service,
        policy,
        items,
        (*builder.waits(service), *hooks),
        _reloaders(builder, dependents),
        stop_timeout(builder.stack, service),
        partial(post_start, builder.stack.services[service]),
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
        after=builder.after(service),
        restore=built.restore,
        restore_from=head,
        restore_to=built.restore_to,
        restore_late=built.restore_late,
        restore_late_from=built.restore_late_from,
        details=(policy.summary(service, sorted({s for s, _, _ in dependents})), *together),
    )
    # Not gated like a single create: the old containers serve until the whole operation
    # is through, so it simply runs after its dependencies' operations.
    builder.add_service_op(service, op, recreated=True, gated=False)


def _reloaders(
    builder: PlanBuilder, dependents: list[tuple[str, str, ReloadPolicy]]
) -> list[rollout.Dependent]:
    return [(c, p, reloads.confirms_reload(builder.stack.services[s])) for s, c, p in dependents]


def _reloading_dependents(
    builder: PlanBuilder, service: str
) -> list[tuple[str, str, ReloadPolicy]]:
    """(service, running container, policy) of each dependent that reloads its config:
    nginx resolves its upstreams when it loads its config, so it must load it again to
    see the new containers (and again to forget the old ones)."""
    out = []
    for dep, edge in builder.dependents(service):
        if edge.via not in ("depends_on", "links"):
            continue
        policy = reloads.reload_policy(builder.stack.services[dep])
        if policy is None:
            continue
        for c in sorted(builder.containers.by_service.get(dep, []), key=lambda c: c.name):
            if c.state == "running":
                out.append((dep, c.name, policy))
    return out
