"""Rollouts on one engine: `deploy.update_config` for the containers a plan replaces.

Without `update_config` a changed container is replaced as it always was (stop-first, one
operation per container, all at once). With it:

* **start-first** (`order: start-first`): the new containers of the service start beside the
  old ones, under their temporary names and with the same network aliases, in batches of
  `parallelism`, `delay` apart. Each must be ready (healthy if it has a healthcheck, else still
  running after `monitor`) within `monitor`. Only then are dependents with a reload policy
  reloaded (nginx resolves `proxy_pass http://app` when it loads its config, so it is told to
  load it again while both versions answer), the old containers stopped, the dependents
  reloaded again (now only the new ones answer the alias), the old ones removed and the new
  ones renamed. Nothing old is touched before every new container is ready, so a failure at
  any point before that removes the new ones and the old ones go on serving: a rollback,
  whatever `failure_action` says. One operation carries the whole service.
* **stop-first** (the default order, and the fallback when start-first cannot work: a fixed
  host port only one container can hold, or a shared network namespace): one operation per
  container as before, gated on the new container being ready within `monitor` (a container
  that is not is removed and the old one started again), then dependents with a reload policy
  reloaded (the new container has a new address), in batches of `parallelism`,
  `delay` apart. `failure_action: pause` (the default) and `rollback` stop the batches after
  a failure; `continue` goes on with the next batches.

`rollback_config` is Swarm's: here a failed update is undone at once (the new container
removed, the old one kept or started again), so it has nothing to tune; the plan says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from stackup.model import labels as label_keys
from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Service
from stackup.planning import reloads as reload_rules
from stackup.planning.desired import DesiredContainer, temporary_name
from stackup.planning.plan import (
    CreateContainer,
    FieldChange,
    RemoveContainer,
    RenameContainer,
    Sleep,
    StartContainer,
    Step,
    StopContainer,
    WaitFor,
)

DEFAULT_MONITOR = 5.0  # Swarm's default `monitor`, for a container without a healthcheck
# A reload signal returns at once; nginx then reads its config and starts new workers, and
# the old workers keep the old upstream addresses until they are done. The old containers are
# stopped only after this pause, so no worker is left with nothing but their addresses.
RELOAD_SETTLE = 1.0

# A dependent that reloads its config: (running container, its policy, whether its reload is
# confirmed in its process list: `reloads.confirms_reload`).
Dependent = tuple[str, ReloadPolicy, bool]


@dataclass(frozen=True)
class Rollout:
    """A service's `update_config`, resolved for the engine target."""

    order: str  # "start-first" or "stop-first"
    parallelism: int  # containers per batch; 0: all at once
    delay: float
    monitor: float | None
    failure_action: str
    healthcheck: bool  # the file declares one (an image's own is honoured at run time too)
    fallback: str | None = None  # why start-first was asked for and cannot be done

    def batches(self, items: Sequence[Replacement]) -> list[list[Replacement]]:
        size = self.parallelism or len(items) or 1
        return [list(items[i : i + size]) for i in range(0, len(items), size)]

    def gate(self, service: str, containers: tuple[str, ...]) -> tuple[Step, ...]:
        """Wait until the new containers are ready: healthy within `monitor`, or, without a
        healthcheck in the file, still running after `monitor` (an image's own healthcheck
        is still waited for)."""
        steps: list[Step] = []
        timeout = self.monitor
        if not self.healthcheck:
            steps.append(
                Sleep(
                    self.monitor if self.monitor is not None else DEFAULT_MONITOR,
                    f"monitoring {', '.join(containers)} (no healthcheck: it must keep running)",
                )
            )
            timeout = None
        steps.append(WaitFor(service, containers, "service_ready", timeout=timeout))
        return tuple(steps)

    def summary(self, service: str, reloaded: Sequence[str]) -> str:
        """One line for the plan: how the service is replaced."""
        if self.order == "start-first":
            ready = "healthy" if self.healthcheck else "running"
            within = f" within {self.monitor:g}s" if self.monitor is not None else ""
            text = f"start-first: the new version starts beside the old one and must be {ready}{within}"
            if reloaded:
                text += f"; {', '.join(reloaded)} reloaded before and after the switch"
            return text + "; on failure the new version is removed and the old one keeps serving"
        text = "stop-first"
        if self.fallback:
            text += f" (start-first is not possible: {self.fallback})"
        text += f"; the new container must be {'healthy' if self.healthcheck else 'running'}"
        text += f" within {self.monitor:g}s" if self.monitor is not None else ""
        text += ", else the old one is started again"
        return text + (f"; then {', '.join(reloaded)} reloaded" if reloaded else "")


@dataclass(frozen=True)
class Replacement:
    """One container a start-first rollout replaces."""

    want: DesiredContainer
    old_name: str
    old_id: str
    reason: str
    fields: tuple[FieldChange, ...]
    head: tuple[Step, ...]


def _has_healthcheck(service: Service) -> bool:
    hc = service.healthcheck
    return hc is not None and not hc.disable and list(hc.test or []) not in (["NONE"], [])


def start_first_blocker(service: Service) -> str | None:
    """Why the old and the new container of `service` cannot run side by side, or None."""
    fixed = sorted(
        {
            f"{p.host_ip + ':' if p.host_ip else ''}{p.published}"
            for p in service.ports
            if p.published
        }
    )
    if fixed:
        which = ", ".join(fixed)
        return f"it publishes host port {which}, which only one container can hold"
    mode = service.network_mode or ""
    if mode == "host" or mode.startswith(("service:", "container:")):
        return (
            f"network_mode {mode} shares one network namespace, so both would need the same ports"
        )
    # A fixed address is one container's: the new one could not be created beside the old.
    if service.mac_address:
        return (
            f"it has the fixed MAC address {service.mac_address}, which only one container can hold"
        )
    for key, attachment in sorted(service.networks.items()):
        for value in (attachment.ipv4_address, attachment.ipv6_address, attachment.mac_address):
            if value:
                return f"it has the fixed address {value} on network {key}, which only one container can hold"
    return None


def rollout_policy(service: Service) -> Rollout | None:
    """The service's rollout, or None for the classic replacement (no `update_config`)."""
    cfg = service.deploy.update_config if service.deploy is not None else None
    if cfg is None:
        return None
    order = cfg.order or "stop-first"
    fallback = start_first_blocker(service) if order == "start-first" else None
    return Rollout(
        order="stop-first" if fallback else order,
        parallelism=cfg.parallelism or 0,
        delay=cfg.delay.total_seconds() if cfg.delay is not None else 0.0,
        monitor=cfg.monitor.total_seconds() if cfg.monitor is not None else None,
        failure_action=cfg.failure_action or "pause",
        healthcheck=_has_healthcheck(service),
        fallback=fallback,
    )


def reload_steps(dependents: Sequence[Dependent], *, validate: bool) -> tuple[Step, ...]:
    """Reload each running dependent container: validate (the first time), then signal or
    exec, done once the new config serves where that can be seen (`reload_rules.confirms_reload`)."""
    return tuple(
        step
        for container, policy, confirm in dependents
        for step in reload_rules.reload_steps(container, policy, validate=validate, confirm=confirm)
    )


@dataclass(frozen=True)
class StartFirstSteps:
    steps: tuple[Step, ...]
    restore: tuple[Step, ...]
    restore_to: int  # steps before this index are undone by `restore` when they fail
    restore_late: tuple[Step, ...] = ()  # also run when the failing step is at or after:
    restore_late_from: int = 0


def start_first_steps(
    service: str,
    policy: Rollout,
    items: Sequence[Replacement],
    waits: tuple[Step, ...],
    dependents: Sequence[Dependent],
    stop_timeout: float | None,
    after_start: Callable[[str], tuple[Step, ...]] = lambda container: (),
) -> StartFirstSteps:
    """The steps of a start-first rollout of `items` (see the module's docstring);
    `after_start(container)`: what runs after each new container's start (post_start)."""
    steps: list[Step] = [s for item in items for s in item.head]
    for index, batch in enumerate(policy.batches(items)):
        if index and policy.delay:
            steps.append(Sleep(policy.delay, f"update_config.delay {policy.delay:g}s"))
        for item in batch:
            spec = item.want.spec
            labels = {**spec.labels, label_keys.REPLACES: item.old_id}
            steps.append(
                CreateContainer(replace(spec, name=temporary_name(spec.name), labels=labels))
            )
        if index == 0:
            steps.extend(waits)
        temps = tuple(temporary_name(item.want.name) for item in batch)
        for temp in temps:
            steps.extend((StartContainer(temp), *after_start(temp)))
        steps.extend(policy.gate(service, temps))
    first_reload = reload_steps(dependents, validate=True)
    reloaded_from = len(steps)
    steps.extend(first_reload)
    if first_reload:
        names = ", ".join(container for container, _, _ in dependents)
        steps.append(Sleep(RELOAD_SETTLE, f"letting {names} load its config again"))
    restore_to = len(steps)
    steps.extend(StopContainer(item.old_name, stop_timeout) for item in items)
    # The old containers' endpoints are gone now: the alias answers with the new ones only.
    steps.extend(reload_steps(dependents, validate=False))
    steps.extend(RemoveContainer(item.old_name) for item in items)
    steps.extend(RenameContainer(temporary_name(item.want.name), item.want.name) for item in items)
    restore: tuple[Step, ...] = tuple(
        RemoveContainer(temporary_name(item.want.name)) for item in items
    )
    # Only when the failure comes at or after the first reload: the dependents may have loaded
    # the new addresses, so they load their config again, with the old containers' only. A
    # version that never got ready fails before it, and its dependents are never signalled.
    late = reload_steps(dependents, validate=False) if first_reload else ()
    return StartFirstSteps(tuple(steps), restore, restore_to, late, reloaded_from)
