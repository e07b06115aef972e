"""Releases: what each `up` or `rollback` that changed something deployed, recorded on the
engine (`ReleaseStore`: on Docker, a never-started container per release), so every client of
that engine — a laptop, a CI job, the server's own socket — reads one history.

A record holds: its number, time, author (user@host), the git commit and whether the work
tree was dirty (when the project is in git), the resolved stack with every secret-looking
value replaced by a keyed digest (`stackup.model.sensitive`: never stored in clear), the image
ID each service ran, and the manifest of the project's bind-mounted files (sha256 per file).
For an engine on another host the record also holds those files' content, so a rollback
ships them back (`stackup.usecases.rollback`); for an engine on this machine the files are
the user's, which a rollback never writes.

Only `up` and `rollback` record (`stackup.usecases.deploy`); `watch` bursts and `run` do not.
The newest `keep` releases are kept (`x-stackup.releases.keep`, `STACKUP_RELEASES_KEEP`,
10 by default); `down --volumes` removes them all.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from stackup.engine.interface import ReleaseEngine, ReleaseStore, StoredRelease
from stackup.errors import UsageError
from stackup.loading.loader import LoadedStack
from stackup.model import labels
from stackup.model.sensitive import mask_tree
from stackup.planning import shipping
from stackup.targets.engine import shipping as ship_facts
from stackup.targets.engine.lock import LockHolder
from stackup.targets.engine.preflight import engine_is_local
from stackup.targets.target import Target

RECORD_FILE = "release.json.gz"  # gzipped: the digests of manifest and index halve
BLOBS = "blobs"  # in records for a remote engine: the shipped files' content, by sha256
DEFAULT_KEEP = 10
KEEP_VARIABLE = "STACKUP_RELEASES_KEEP"
_FORMAT = 1  # of the record file


@dataclass(frozen=True)
class Release:
    """One release as `history` lists it (from the record's labels alone)."""

    number: int
    time: str  # UTC, ISO 8601, by the recording client's clock
    by: str  # user@host
    kind: str  # "up" or "rollback"
    of: int | None  # a rollback: the release it went back to
    commit: str | None  # the project's git commit, when it is in git
    dirty: bool | None  # whether its work tree had changes
    record_id: str

    def as_json(self) -> dict[str, object]:
        return {
            "release": self.number,
            "time": self.time,
            "by": self.by,
            "kind": self.kind,
            "of": self.of,
            "commit": self.commit,
            "dirty": self.dirty,
        }

    @classmethod
    def of_record(cls, stored: StoredRelease) -> Release | None:
        found = stored.labels
        try:
            number = int(found.get(labels.RELEASE, ""))
        except ValueError:
            return None  # not one of ours
        of = found.get(f"{labels.RELEASE}.of", "")
        dirty = found.get(f"{labels.RELEASE}.dirty", "")
        return cls(
            number,
            found.get(f"{labels.RELEASE}.time", ""),
            found.get(f"{labels.RELEASE}.by", "?"),
            found.get(f"{labels.RELEASE}.kind", "up"),
            int(of) if of.isdigit() else None,
            found.get(f"{labels.RELEASE}.commit") or None,
            {"true": True, "false": False}.get(dirty),
            stored.id,
        )


@dataclass(frozen=True)
class Content:
    """What a release deployed, as its record keeps it: the masked stack and its salt, the
    project directory its paths are under, the manifest (source → path → sha256 and size)
    and, for a remote engine, where the files' content is read from when a record must hold
    it (`files_root`: the project directory for `up`, a rollback's private copy)."""

    stack: Mapping[str, Any]
    salt: str
    project_directory: str
    manifest: Mapping[str, Mapping[str, Mapping[str, Any]]]
    files_root: Path | None = None


def store_of(target: Target) -> ReleaseEngine | None:
    """The engine a target keeps releases on, or None (a swarm keeps none)."""
    engine = getattr(target, "engine", None)
    return cast(ReleaseEngine, engine) if isinstance(engine, ReleaseStore) else None


def require_store(target: Target, what: str) -> ReleaseEngine:
    store = store_of(target)
    if store is None:
        raise UsageError(f"{what} needs releases on one engine; --target {target.name} has none")
    return store


def keep_count(loaded: LoadedStack | None) -> int:
    """How many releases are kept: STACKUP_RELEASES_KEEP, else `x-stackup.releases.keep`,
    else 10."""
    raw = os.environ.get(KEEP_VARIABLE, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"{KEEP_VARIABLE}={raw!r}: expected a whole number of at least 1")
        return int(raw)
    if loaded is not None:
        return loaded.stack.stackup.releases.keep
    return DEFAULT_KEEP


def releases(store: ReleaseStore, project: str) -> tuple[Release, ...]:
    """The project's releases, newest first."""
    found = (Release.of_record(r) for r in store.list_releases(project))
    return tuple(sorted((r for r in found if r is not None), key=lambda r: -r.number))


def read_record(store: ReleaseStore, release: Release) -> dict[str, Any]:
    raw = store.read_release(release.record_id, RECORD_FILE).get(RECORD_FILE, b"")
    try:
        data = json.loads(gzip.decompress(raw))
    except (OSError, EOFError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise UsageError(f"release {release.number} is not a record this stackup can read")
    return data


def masked_stack(loaded: LoadedStack, salt: str) -> dict[str, Any]:
    """The resolved stack as plain data, every secret value a digest keyed with `salt` (the
    rules of `config` and the labels; errs wide)."""
    stack = loaded.stack
    data: dict[str, Any] = stack.model_dump(mode="json", by_alias=True)
    extra = {*stack.stackup.sensitive}
    for service in stack.services.values():
        extra.update(service.stackup.sensitive)
    mask_tree(
        data,
        lambda value: labels.sensitive_digest(value, salt),
        extra=sorted(extra),
        tainted=stack.tainted,
        secrets=stack.secret_values,
    )
    return data


def content_of(loaded: LoadedStack, store: ReleaseEngine) -> Content:
    """What `loaded` deploys, read here: the sha256 of its bind-mounted files (and for a
    remote engine, where their content is read from: the record keeps what no kept release
    holds yet)."""
    salt = secrets.token_hex(16)
    directory = str(loaded.project_directory)
    manifest: dict[str, dict[str, dict[str, Any]]] = {}
    for source in shipping.relocate(loaded.stack, directory).sources:
        if not loaded.host_paths.allows(Path(source.local)):
            continue
        found = ship_facts.local_files(
            Path(source.local), loaded.project_directory, loaded.host_paths.allows
        ).files
        if found is not None:
            manifest[source.relative] = {
                path: {"sha256": f.digest, "size": f.size} for path, f in found.items()
            }
    root = None if engine_is_local(store) else loaded.project_directory
    return Content(masked_stack(loaded, salt), salt, directory, manifest, root)


def in_project(relative: str, path: str) -> str:
    """A file's path in the project: its source's, joined with its path in the source."""
    if relative == ".":
        return path
    return f"{relative}/{path}" if path else relative


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """The commit HEAD names and whether the work tree differs from it; (None, None) outside
    git (or without git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if head.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return head.stdout.strip() or None, dirty


def record_name(project: str, number: int) -> str:
    return f"stackup-release-{project}-{number}"


def record(
    store: ReleaseEngine,
    project: str,
    content: Content,
    *,
    keep: int,
    git: tuple[str | None, bool | None],
    kind: str = "up",
    of: int | None = None,
) -> Release:
    """Record a release of what is now deployed (call it under the project's lock, after an
    apply that changed something) and prune the oldest beyond `keep`."""
    images: dict[str, dict[str, str]] = {}
    stack = content.stack
    observed = store.observe(project)
    for c in sorted(observed.containers, key=lambda c: (c.service or "", c.number)):
        service = c.service
        if service is None or service in images or service not in stack["services"]:
            continue
        # The image a build-only service runs is named as Compose names it.
        ref = stack["services"][service].get("image") or f"{project}-{service}"
        images[service] = {"image": ref, "id": c.image_id}
    known = releases(store, project)
    number = (known[0].number + 1) if known else 1
    dropped = known[max(keep - 1, 0) :]
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    holder = LockHolder.here(0)
    commit, dirty = git
    release = Release(
        number,
        now.isoformat().replace("+00:00", "Z"),
        f"{holder.user}@{holder.host}",
        kind,
        of,
        commit,
        dirty,
        "",
    )
    index: dict[str, dict[str, Any]] = {}
    blobs: dict[str, bytes] = {}
    if content.files_root is not None:
        index, blobs = _blobs(store, known, dropped, number, content)
    data = {
        "format": _FORMAT,
        **release.as_json(),
        "project": project,
        "project_directory": content.project_directory,
        "salt": content.salt,
        "stack": stack,
        "images": images,
        "manifest": content.manifest,
        "index": index,
    }
    tags = {
        labels.RELEASE: str(number),
        f"{labels.RELEASE}.time": release.time,
        f"{labels.RELEASE}.by": release.by,
        f"{labels.RELEASE}.kind": kind,
    }
    if of is not None:
        tags[f"{labels.RELEASE}.of"] = str(of)
    if commit is not None:
        tags[f"{labels.RELEASE}.commit"] = commit
    if dirty is not None:
        tags[f"{labels.RELEASE}.dirty"] = "true" if dirty else "false"
    files = {RECORD_FILE: gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0)}
    files.update({f"{BLOBS}/{digest}": body for digest, body in blobs.items()})
    record_id = store.record_release(record_name(project, number), project, tags, files)
    for old in dropped:
        store.drop_release(old.record_id)
    return Release(number, release.time, release.by, kind, of, commit, dirty, record_id)


def _digests(manifest: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Each file's content digest by its path in the project."""
    return {
        in_project(relative, path): str(entry.get("sha256"))
        for relative, files in manifest.items()
        for path, entry in files.items()
    }


def _blobs(
    store: ReleaseEngine,
    known: tuple[Release, ...],
    dropped: tuple[Release, ...],
    number: int,
    content: Content,
) -> tuple[dict[str, dict[str, Any]], dict[str, bytes]]:
    """For a remote engine: the files' content is kept once across the kept releases, by
    sha256 (`blobs/<sha256>` in the record that first needed it). The newest record's index
    says, for every digest a kept release needs, which record holds it and which releases use
    it; a new record holds what no record that stays holds: a file changed since (read here,
    and checked against its digest), or one whose holder is pruned now (moved from it)."""
    gone = {r.number for r in dropped}
    by_number = {r.number: r for r in known}
    index: dict[str, dict[str, Any]] = {}
    if known:
        previous = read_record(store, known[0]).get("index") or {}
        for digest, entry in previous.items():
            users = [u for u in entry.get("users", []) if u not in gone]
            if users:
                index[digest] = {"holder": entry.get("holder"), "users": users}
    wanted = _digests(content.manifest)
    for digest in wanted.values():
        entry = index.setdefault(digest, {"holder": None, "users": []})
        if number not in entry["users"]:
            entry["users"].append(number)
    paths = {digest: path for path, digest in sorted(wanted.items(), reverse=True)}
    blobs: dict[str, bytes] = {}
    moving: dict[int, list[str]] = {}
    for digest, entry in index.items():
        if entry["holder"] in by_number and entry["holder"] not in gone:
            continue
        body = _read_checked(content.files_root, paths.get(digest), digest)
        if body is not None:
            blobs[digest] = body
            entry["holder"] = number
        elif entry["holder"] in by_number:
            moving.setdefault(entry["holder"], []).append(digest)
        else:
            entry["holder"] = None  # lost (removed by hand): a rollback to it says so
    for held_by, digests in sorted(moving.items()):
        found = store.read_release(by_number[held_by].record_id, BLOBS)
        for digest in digests:
            if digest in found:
                blobs[digest] = found[digest]
                index[digest]["holder"] = number
            else:
                index[digest]["holder"] = None
    return index, blobs


def _read_checked(root: Path | None, path: str | None, digest: str) -> bytes | None:
    """The file's content if it still has `digest` (it may have changed since it was
    hashed)."""
    if root is None or path is None:
        return None
    try:
        body = (root / path).read_bytes()
    except OSError:
        return None
    return body if hashlib.sha256(body).hexdigest() == digest else None


@dataclass(frozen=True)
class Leftovers:
    """What `down` removes besides the plan: on a remote engine the project's shipped files
    (the records keep theirs, so a rollback ships them back), removed by a throwaway
    container of one of `images` (the project's own, read before its containers go: they
    have `sh`); with `--volumes`, the releases too."""

    records: tuple[StoredRelease, ...]
    remote: bool
    images: tuple[str, ...]
    project: str = "PROJECT"
    volumes: bool = True  # `down --volumes`: the records go too

    @property
    def note(self) -> str:
        files = f"its files on the engine's host ({shipping.project_root(self.project)})"
        if not self.volumes:
            return f"down also removes {files}; its releases stay" if self.remote else ""
        parts = [f"its {len(self.records)} release(s) (`stackup history`)"] if self.records else []
        if self.remote:
            parts.append(files)
        return f"--volumes also removes {' and '.join(parts)}" if parts else ""


def leftovers(store: ReleaseEngine, project: str, *, volumes: bool = True) -> Leftovers:
    """What `down` (`volumes`: `down --volumes`) removes of `project` besides its plan."""
    remote = not engine_is_local(store)
    if not volumes and not remote:
        return Leftovers((), False, (), project, volumes)
    records = store.list_releases(project) if volumes else ()
    images: list[str] = []
    if remote:
        images = [c.image_id for c in store.observe(project).containers]
        known = releases(store, project)
        if known:  # the project's containers are gone already: the newest release's images
            data = read_record(store, known[0])
            images += [str(i.get("id")) for i in (data.get("images") or {}).values()]
    return Leftovers(records, remote, tuple(dict.fromkeys(images)), project, volumes)


def remove_leftovers(store: ReleaseEngine, project: str, found: Leftovers) -> None:
    for stored in found.records:
        store.drop_release(stored.id)
    if found.remote:
        ship_facts.remove_project_root(store, project, found.images)


def stored_content(
    store: ReleaseEngine, release: Release, data: Mapping[str, Any]
) -> tuple[Content, dict[str, bytes]]:
    """A release's content as its record keeps it, and for a remote engine its files (path in
    the project → content), read from the records that hold them (the newest's index)."""
    manifest = data.get("manifest") or {}
    content = Content(data["stack"], str(data["salt"]), str(data["project_directory"]), manifest)
    if not manifest or engine_is_local(store):
        return content, {}
    newest = releases(store, str(data["project"]))
    index = (read_record(store, newest[0]).get("index") or {}) if newest else {}
    by_number = {r.number: r for r in newest}
    wanted = _digests(manifest)
    holders: dict[int, dict[str, bytes]] = {}
    files: dict[str, bytes] = {}
    for path, digest in sorted(wanted.items()):
        held_by = (index.get(digest) or {}).get("holder")
        if held_by not in by_number:
            continue
        if held_by not in holders:
            holders[held_by] = dict(store.read_release(by_number[held_by].record_id, BLOBS))
        body = holders[held_by].get(digest)
        if body is not None:
            files[path] = body
    return content, files


__all__ = [
    "DEFAULT_KEEP",
    "KEEP_VARIABLE",
    "Content",
    "Release",
    "content_of",
    "git_state",
    "in_project",
    "keep_count",
    "leftovers",
    "read_record",
    "record",
    "releases",
    "remove_leftovers",
    "require_store",
    "store_of",
    "stored_content",
]
