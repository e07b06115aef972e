"""The host side of `stackup.planning.configstate`: the config sources of reloadable services
read on this host, and the reload records kept per container under the user's state
directory (`$XDG_STATE_HOME/stackup/applied/<project>/`, else `~/.local/state/...`), read
before planning and written by a reload's `RecordApplied` step. Planning sees only the
values these return (`ConfigSnapshot`), so it stays free of I/O."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from stackup.model.spec import Stack
from stackup.planning.configstate import (
    ConfigSnapshot,
    applied_states,
    config_mounts,
    record_steps,
    states_from_json,
)
from stackup.planning.plan import FileState, RecordApplied
from stackup.planning.reloads import is_noise

# ----------------------------------------------------------------------------- reading


def file_state(path: Path) -> FileState | None:
    """The state of a config source on the host, or None if it cannot be read."""
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
        out[entry.stem] = states_from_json(data)
    return out


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


def records_for(
    stack: Stack, service: str, containers: Iterable[tuple[str, str]]
) -> dict[str, RecordApplied]:
    """Record steps for reloading `containers` (name, id) of `service` with its config
    sources as they are now (watch's reloads; `up` builds them from its snapshot)."""
    host = {
        m.source: state
        for m in config_mounts(stack, service)
        if (state := file_state(Path(m.source))) is not None
    }
    snap = ConfigSnapshot(host=host, store=str(store_dir(stack.name)))
    return record_steps(stack, service, containers, snap)


# ----------------------------------------------------------------------------- writing

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
