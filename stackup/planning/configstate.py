"""Which version of each reloadable config file a container runs, so `diff` and `up` see an
edit made without `watch`.

A bind-mounted config (nginx's `default.conf`) can change on the host while the stack file
does not: the spec hash is the same, yet the process still serves what it loaded. What a
process loaded cannot be read from outside (`cat` in the container shows the file as it is
now, not as it was loaded: an in-place edit is visible through the mount at once), so stackup
records it, per container, for each *config mount* (see `reloads.is_config_mount`): the sha256
of the host source (a directory: of its files) and, for a single-file mount, its inode.

* **At create**, in the label `io.stackup.config-files` (outside the spec hash: a config's
  content is not part of the container's definition). Labels cannot change after create, so:
* **after each successful reload** (by `up` or by `watch`, the same `↻` operation), in one
  small JSON file per container ID under the user's state directory
  (`$XDG_STATE_HOME/stackup/applied/<project>/`, else `~/.local/state/...`); it overrides the
  label. A recreated container has a new ID, so a stale record is never read for it.

A plan compares the host file with that record: the same digest → nothing; another inode on a
single-file mount → the file was saved by rename (`sed -i`, most editors) and the container
still sees the old inode, so only a recreate shows it the new one; another digest only → an
in-place edit the container already sees: validate, then reload (↻).

Planning does no I/O: the host files and the records are read by the target
(`stackup.targets.engine.configfiles`) and handed in as a `ConfigSnapshot`; the executor
carries out a reload's `RecordApplied` step through the same module (`write_record`).

A lost record (the state directory removed) falls back to the label and costs, at worst, one
validated reload that was not needed; a container from before this label has no record and is
left alone until it is recreated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stackup.model.spec import Stack
from stackup.planning.plan import FileState, RecordApplied
from stackup.planning.reloads import is_config_mount, reload_policy

LABEL = "io.stackup.config-files"


@dataclass(frozen=True)
class ConfigSnapshot:
    """What planning is handed before it reconciles: the host's config sources now, and the
    reload records of the project's containers. `store` is where reloads write theirs."""

    host: Mapping[str, FileState] = field(default_factory=dict)  # by host source path
    applied: Mapping[str, Mapping[str, FileState]] = field(default_factory=dict)  # id → target
    store: str = ""
    base: str = ""  # the project directory: reasons name files relative to it


@dataclass(frozen=True, slots=True)
class ConfigMount:
    source: str  # host path
    target: str  # path in the container


@dataclass(frozen=True, slots=True)
class Drift:
    renamed: tuple[str, ...] = ()  # host sources saved by rename: a recreate shows them
    edited: tuple[str, ...] = ()  # host sources edited in place: a reload applies them


def states_from_json(data: object) -> dict[str, FileState]:
    """A record's or a label's content (`{target: {digest, inode}}`), what can be read of it."""
    if not isinstance(data, dict):
        return {}
    out = {}
    for target, value in data.items():
        state = FileState.from_json(value)
        if state is not None:
            out[str(target)] = state
    return out


def config_mounts(stack: Stack, service: str) -> list[ConfigMount]:
    """The bind mounts of `service` that hold a config its reload policy can reload."""
    spec = stack.services[service]
    policy = reload_policy(spec)
    if policy is None:
        return []
    return sorted(
        (
            ConfigMount(os.path.normpath(v.source), v.target)
            for v in spec.volumes
            if v.type == "bind" and v.source and is_config_mount(policy, v.target)
        ),
        key=lambda m: m.target,
    )


def label_value(stack: Stack, service: str, snap: ConfigSnapshot | None) -> str | None:
    """The label a new container of `service` is created with, or None for no label."""
    if snap is None:
        return None
    states = {
        m.target: snap.host[m.source].to_json()
        for m in config_mounts(stack, service)
        if m.source in snap.host
    }
    return json.dumps(states, sort_keys=True, separators=(",", ":")) if states else None


def applied_states(
    container_id: str, labels: Mapping[str, str], snap: ConfigSnapshot
) -> dict[str, FileState]:
    """What the container last applied: its reload record, else its create label."""
    recorded = snap.applied.get(container_id)
    if recorded is not None:
        return dict(recorded)
    raw = labels.get(LABEL)
    if not raw:
        return {}
    try:
        return states_from_json(json.loads(raw))
    except ValueError:
        return {}


def drift(
    stack: Stack,
    service: str,
    container_id: str,
    labels: Mapping[str, str],
    snap: ConfigSnapshot | None,
) -> Drift:
    """How the container's config sources differ from what it last applied."""
    if snap is None:
        return Drift()
    mounts = config_mounts(stack, service)
    if not mounts:
        return Drift()
    applied = applied_states(container_id, labels, snap)
    renamed, edited = [], []
    for m in mounts:
        now, then = snap.host.get(m.source), applied.get(m.target)
        if now is None or then is None:
            continue  # unreadable now, or never recorded: nothing to compare with
        if now.inode is not None and then.inode is not None and now.inode != then.inode:
            renamed.append(m.source)
        elif now.digest != then.digest:
            edited.append(m.source)
    return Drift(tuple(renamed), tuple(edited))


def shown(sources: Iterable[str], snap: ConfigSnapshot | None) -> str:
    base = snap.base.rstrip("/") + "/" if snap is not None and snap.base else None
    return ", ".join(s.removeprefix(base) if base else s for s in sources)


def current_states(stack: Stack, service: str, snap: ConfigSnapshot) -> dict[str, FileState]:
    return {
        m.target: snap.host[m.source]
        for m in config_mounts(stack, service)
        if m.source in snap.host
    }


def record_steps(
    stack: Stack, service: str, containers: Iterable[tuple[str, str]], snap: ConfigSnapshot
) -> dict[str, RecordApplied]:
    """The steps that record, for each of `containers` (name, id) of `service` reloaded, its
    config sources as `snap` saw them, by container name."""
    files = tuple(sorted(current_states(stack, service, snap).items()))
    return {name: RecordApplied(snap.store, cid, files) for name, cid in containers}
