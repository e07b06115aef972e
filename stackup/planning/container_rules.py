"""The rules behind a container's operation, as small pure functions: the steps after a
start (post_start hooks), which state counts as converged, how a change is described, which
changes `docker update` can apply in place, and drift of the live settings."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import JsonValue

from stackup.engine.interface import ContainerSpec
from stackup.engine.observed import (
    LiveConfig,
    ObservedContainer,
)
from stackup.model import effective, labels
from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Service, Stack
from stackup.planning.plan import (
    CheckInThrowaway,
    Exec,
    FieldChange,
)
from stackup.planning.throwaway_specs import pre_start_spec


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


def pre_start(
    stack: Stack, service: str, base: ContainerSpec, container: str
) -> tuple[CheckInThrowaway, ...]:
    """`pre_start` steps, run in order in their own containers after `container` (of spec
    `base`) is created and before it starts; a step that exits non-zero fails the operation
    (the container is not started; a recreate puts the old one back)."""
    hooks = stack.services[service].pre_start or ()
    return tuple(
        CheckInThrowaway(
            pre_start_spec(base, container, stack.name, service, i, hook),
            purpose=f"pre_start[{i}]",
            timeout_s=None,
        )
        for i, hook in enumerate(hooks)
    )


def pre_start_note(steps: int) -> str:
    """Said in the reason of a new container that runs `pre_start` steps before it starts."""
    if not steps:
        return ""
    return f"; its pre_start step{'s' if steps > 1 else ''} run{'' if steps > 1 else 's'} first"


def without_labels(spec: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """A network's or volume's spec without our own labels (they hold the spec itself)."""
    out = dict(spec)
    declared = spec.get("labels")
    if isinstance(declared, dict):
        out["labels"] = {k: v for k, v in declared.items() if not k.startswith(labels.PREFIX)}
    return out


ANONYMOUS_VOLUME = re.compile(r"^[0-9a-f]{64}$")


def anonymous_volumes(c: ObservedContainer) -> dict[str, str]:
    """Every anonymous volume the container has, by mount target, so a recreate keeps them:
    those the file declares (`- /data`) and those the image declares (`VOLUME /var/lib/db`),
    which the file never mentions. Named volumes are mounted by name anyway."""
    return {
        m.destination: m.name
        for m in c.mounts
        if m.type == "volume" and m.name and ANONYMOUS_VOLUME.match(m.name)
    }


def converged_state(c: ObservedContainer, one_shot: bool) -> bool:
    if c.state in ("running", "restarting"):
        return True
    # A job that others wait on has done its work when it exited 0.
    return one_shot and c.state == "exited" and c.exit_code == 0


def stopped_reason(c: ObservedContainer) -> str:
    if c.state == "exited":
        code = c.exit_code
        return (
            f"not running (exited with code {code})" if code is not None else "not running (exited)"
        )
    return f"not running ({c.state})"


def stop_timeout(stack: Stack, service: str) -> float | None:
    grace = stack.services[service].stop_grace_period
    return grace.total_seconds() if grace is not None else None


def reload_how(policy: ReloadPolicy) -> str:
    how = " ".join(policy.validate_) + ", then " if policy.validate_ else ""
    if policy.signal:
        return how + f"send {policy.signal}"
    return how + " ".join(policy.exec_ or ())


def describe(changes: list[FieldChange]) -> str:
    names = field_names(changes)
    return f"changed: {names}"


def field_names(changes: list[FieldChange]) -> str:
    paths = [c.path for c in changes]
    if len(paths) > 3:
        return ", ".join(paths[:3]) + f" and {len(paths) - 3} more"
    return ", ".join(paths)


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def top_field(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def in_place(change: FieldChange) -> bool:
    """`docker update` sets a restart policy or a pids limit to anything, but cannot take a
    memory or CPU limit away (zero means "leave as is"): removing one recreates."""
    return change.after is not None or change.path in ("restart", "pids_limit")


def live_changes(service: Service, live: LiveConfig) -> list[FieldChange]:
    """The in-place-updatable settings on which the running container differs from the file,
    before (live) → after (file), in the canonical spec's units (bytes, CPUs, a count)."""
    wanted = LiveConfig(
        restart=effective.restart(service).text,
        nano_cpus=effective.nano_cpus(service),
        memory=effective.memory_limit(service),
        pids_limit=effective.pids_limit(service) or None,
    )
    out = []
    if live.restart != wanted.restart:
        out.append(FieldChange("restart", live.restart, wanted.restart))
    if live.nano_cpus != wanted.nano_cpus:
        out.append(FieldChange("cpus", cpus(live.nano_cpus), cpus(wanted.nano_cpus)))
    if live.memory != wanted.memory:
        out.append(FieldChange("mem_limit", live.memory or None, wanted.memory or None))
    if (live.pids_limit or None) != wanted.pids_limit:
        out.append(FieldChange("pids_limit", live.pids_limit or None, wanted.pids_limit))
    return out


def cpus(nano: int) -> str | None:
    return f"{nano / 1e9:g}" if nano else None
