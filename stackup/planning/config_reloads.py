"""The reconciler's decisions on the config files a container sees through bind mounts
(`stackup.planning.configstate`): a new container records the files it is created with, a
config edited in place is validated and reloaded in the running container, and one saved by
rename (which only a new container sees) is checked in a throwaway container before the
recreate touches the running one."""

from __future__ import annotations

from dataclasses import replace

from stackup.engine.observed import ObservedContainer
from stackup.planning import configstate, reloads
from stackup.planning.builder import PlanBuilder
from stackup.planning.container_rules import reload_how
from stackup.planning.desired import DesiredContainer
from stackup.planning.plan import CheckInThrowaway
from stackup.planning.throwaway_specs import validation_twin_spec


def with_config_label(
    builder: PlanBuilder, service: str, want: DesiredContainer
) -> DesiredContainer:
    """A new container records the config files it is created with (stackup.planning.configstate);
    the label is outside the spec hash: a config edit alone is not a new definition."""
    value = configstate.label_value(builder.stack, service, builder.options.configs)
    if value is None:
        return want
    spec = replace(want.spec, labels={**want.spec.labels, configstate.LABEL: value})
    return replace(want, spec=spec)


def config_drift(builder: PlanBuilder, service: str, have: ObservedContainer) -> configstate.Drift:
    return configstate.drift(builder.stack, service, have.id, have.labels, builder.options.configs)


def check_renamed(
    builder: PlanBuilder, service: str, want: DesiredContainer, drift: configstate.Drift
) -> tuple[CheckInThrowaway, ...]:
    """A config saved by rename reaches the service only through a new container: check
    it first in a throwaway one (`nginx -t`), so a broken file stops the recreate before
    the running container is touched."""
    policy = reloads.reload_policy(builder.stack.services[service])
    if not drift.renamed or policy is None or not policy.validate_:
        return ()
    spec = validation_twin_spec(want.spec, builder.stack.name, service, policy.validate_)
    return (CheckInThrowaway(spec),)


def renamed_reason(
    builder: PlanBuilder,
    service: str,
    drift: configstate.Drift,
    check: tuple[CheckInThrowaway, ...],
) -> str:
    """Why a container is recreated for the configs saved by rename (`drift.renamed`)."""
    targets = [
        m.target
        for m in configstate.config_mounts(builder.stack, service)
        if m.source in drift.renamed
    ]
    command = " ".join(check[0].spec.service.command or ()) if check else None
    return reloads.renamed_reason(shown(builder, drift.renamed), targets, command)


def reload_edited(
    builder: PlanBuilder,
    service: str,
    have: ObservedContainer,
    drift: configstate.Drift,
    after: tuple[str, ...],
) -> None:
    """An in-place edit of a config the running container sees through its bind mount:
    validate it in the container, then reload, then record it (the same ↻ operation
    `watch` runs). A failing validation sends nothing: the old config keeps serving."""
    policy = reloads.reload_policy(builder.stack.services[service])
    snap = builder.options.configs
    if policy is None or snap is None:
        return
    records = configstate.record_steps(builder.stack, service, [(have.name, have.id)], snap)
    (op,) = reloads.reload_operations(
        service,
        [have.name],
        policy,
        f"{shown(builder, drift.edited)} changed since it was last applied; {reload_how(policy)}",
        records,
        confirm=reloads.confirms_reload(builder.stack.services[service]),
    )
    builder.add_service_op(service, replace(op, after=after), recreated=False)


def shown(builder: PlanBuilder, sources: tuple[str, ...]) -> str:
    return configstate.shown(sources, builder.options.configs)
