"""Which version of each reloadable config file a container runs, so `diff` and `up` see an
edit made without `watch`.

A bind-mounted config (nginx's `default.conf`) can change on the host while the stack file
does not: the spec hash is the same, yet the process still serves what it loaded. What a
process loaded cannot be read from outside (`cat` in the container shows the file as it is
now, not as it was loaded: an in-place edit is visible through the mount at once), so stackup
records it, per container, for each *config mount* (see `reload.is_config_mount`): the sha256
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

A lost record (the state directory removed) falls back to the label and costs, at worst, one
validated reload that was not needed; a container from before this label has no record and is
left alone until it is recreated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue

from stackup.model.spec import Stack

LABEL = "io.stackup.config-files"


@dataclass(frozen=True, slots=True)
class FileState:
    digest: str  # sha256 of the content (a directory: of its files' paths and digests)
    inode: int | None = None  # a single file's inode; None for a directory

    def to_json(self) -> dict[str, JsonValue]:
        return {"digest": self.digest, "inode": self.inode}

    @staticmethod
    def from_json(value: object) -> FileState | None:
        if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
            return None
        inode = value.get("inode")
        return FileState(value["digest"], inode if isinstance(inode, int) else None)


@dataclass(frozen=True)
class ConfigSnapshot:
    """What planning reads before it reconciles: the host's config sources now, and the
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


# ----------------------------------------------------------------------------- reading


def file_state(path: Path) -> FileState | None:
    """The state of a config source on the host, or None if it cannot be read."""
    from stackup.planning.reloads import is_noise

    try:
        if path.is_file():
            return FileState(hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_ino)
        if not path.is_dir():
            return None
        outer = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                f = Path(root) / name
                if is_noise(f) or not f.is_file():
                    continue
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
                outer.update(f"{f.relative_to(path).as_posix()}\0{digest}\n".encode())
        return FileState(outer.hexdigest())
    except OSError:
        return None


def store_dir(project: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stackup" / "applied" / project


def snapshot(
    stack: Stack,
    services: Iterable[str],
    base: Path,
    may_look: Callable[[Path], bool] | None = None,
) -> ConfigSnapshot:
    """Read the config sources of `services` and the project's reload records; a source that
    `may_look` (the host-path policy, stackup.loading.hostpaths) refuses is not looked at."""
    host: dict[str, FileState] = {}
    for name in services:
        for mount in config_mounts(stack, name):
            if may_look is not None and not may_look(Path(mount.source)):
                continue
            state = file_state(Path(mount.source))
            if state is not None:
                host[mount.source] = state
    store = store_dir(stack.name)
    applied = read_records(store) if host else {}
    return ConfigSnapshot(host=host, applied=applied, store=str(store), base=str(base))


def read_records(store: Path) -> dict[str, dict[str, FileState]]:
    out: dict[str, dict[str, FileState]] = {}
    try:
        entries = sorted(store.glob("*.json"))
    except OSError:
        return out
    for entry in entries:
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn or foreign file: the label is the fallback
        out[entry.stem] = _states(data)
    return out


def _states(data: object) -> dict[str, FileState]:
    if not isinstance(data, dict):
        return {}
    out = {}
    for target, value in data.items():
        state = FileState.from_json(value)
        if state is not None:
            out[str(target)] = state
    return out


_write_lock = threading.Lock()


def write_record(store: Path, container_id: str, files: Mapping[str, FileState]) -> None:
    """Record what a container was just reloaded with (written whole, then renamed, so a
    reader never sees half a file)."""
    with _write_lock:
        store.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".record-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({t: s.to_json() for t, s in sorted(files.items())}, out, sort_keys=True)
        os.replace(tmp, store / f"{container_id}.json")


def prune_records(store: Path, keep: Iterable[str]) -> None:
    """Forget the records of containers that are gone (`down`, or replaced by a recreate):
    only the IDs in `keep` stay; the project's directory goes when nothing is left."""
    with _write_lock:
        kept = set(keep)
        try:
            entries = list(store.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.suffix == ".json" and entry.stem not in kept:
                entry.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            store.rmdir()  # only when empty


# ----------------------------------------------------------------------------- deciding


def config_mounts(stack: Stack, service: str) -> list[ConfigMount]:
    """The bind mounts of `service` that hold a config its reload policy can reload."""
    from stackup.planning.reloads import is_config_mount, reload_policy

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
        return _states(json.loads(raw))
    except ValueError:
        return {}


def applied_inode(
    project: str, container_id: str, labels: Mapping[str, str], target: str
) -> int | None:
    """The inode of the single file a container applied at `target` (its reload record, else
    its create label), or None when it was never recorded: a single-file bind mount pins the
    inode the file had when the container was made, so a different one on the host now means
    the file was saved by rename (watch asks this before it asks the container itself)."""
    snap = ConfigSnapshot(applied=read_records(store_dir(project)))
    state = applied_states(container_id, labels, snap).get(target)
    return state.inode if state is not None else None


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


@dataclass(frozen=True, slots=True)
class RecordApplied:
    """A plan step, last in a reload operation: record what the container now runs (the
    executor calls `write_record`)."""

    store: str
    container_id: str
    files: tuple[tuple[str, FileState], ...]


def records_for(
    stack: Stack, service: str, containers: Iterable[tuple[str, str]]
) -> dict[str, RecordApplied]:
    """Record steps for reloading `containers` (name, id) of `service` with its config
    sources as they are now (watch's reloads; `up` builds them from its snapshot)."""
    states = {
        m.target: state
        for m in config_mounts(stack, service)
        if (state := file_state(Path(m.source))) is not None
    }
    store = str(store_dir(stack.name))
    return {
        name: RecordApplied(store, cid, tuple(sorted(states.items()))) for name, cid in containers
    }
