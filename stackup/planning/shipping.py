"""The project's files on a remote engine's host: bind-mount sources inside the project
directory travel with the plan to one stable directory per project on the engine's host,
`/var/lib/stackup/<project>/files/<path relative to the project>`, and the containers mount
them from there.

Pure, like the rest of planning: the target reads the facts (`ShipFacts`: the files here with
their sha256, and the manifests the last shipping left on the engine's host, through the
engine) and carries out the steps (`ShipFiles`, `RewriteInPlace`; `stackup.targets.engine.
shipping`). Only what differs from the manifest travels; the manifest is written last, so a
shipping that failed half-way is done again by the next plan.

A file mounted on its own is pinned by its inode in every running container that mounts it:
writing a new file in its place (as extracting an archive does) leaves those containers
reading the old one. Such a file is rewritten through one of those containers instead
(`RewriteInPlace`: the same inode, so an nginx config edit reaches the reload that follows).
Files removed here are removed there: through a running container that mounts the directory
(`rm -f`), else by shipping the directory again whole (`ShipFiles.replace`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from stackup.engine.observed import Observed
from stackup.model import labels
from stackup.model.spec import Stack
from stackup.planning.configstate import ConfigSnapshot
from stackup.planning.plan import (
    Action,
    FileState,
    Kind,
    Operation,
    Plan,
    RemoveOnHost,
    RewriteInPlace,
    ShipFiles,
    Step,
)

REMOTE_ROOT = "/var/lib/stackup"
MANIFESTS = "manifests"
FILES = "files"
# At most this many file names listed under a shipping operation.
SHOWN_FILES = 20


def project_root(project: str) -> str:
    """The project's directory on the engine's host: `files/` (what containers mount) and
    `manifests/` (what was shipped, one JSON file per source)."""
    return f"{REMOTE_ROOT}/{project}"


@dataclass(frozen=True, slots=True)
class Shipped:
    """One bind source that travels: where it is here, and where containers mount it there."""

    local: str  # absolute path on this machine
    relative: str  # posix path relative to the project directory ("." for the directory itself)
    remote: str  # absolute path on the engine's host
    secret: bool = False  # a secret's file: mode 0400 there, its size not shown

    @property
    def mode(self) -> int | None:
        """The files' mode there: a secret is readable by its owner only; None: the mode here."""
        return 0o400 if self.secret else None

    @property
    def shown(self) -> str:
        return "." if self.relative == "." else f"./{self.relative}"

    @property
    def destination(self) -> str:
        """The source's path relative to `project_root`."""
        return FILES if self.relative == "." else f"{FILES}/{self.relative}"


@dataclass(frozen=True, slots=True)
class LocalFile:
    digest: str  # sha256 of the content
    size: int
    # The file read here when it ships: a link's target inside the project ("": the file at
    # its own path under the source).
    path: str = ""


# Why an entry of a source here is not shipped (`ShipFacts.skipped`), as one entry and many.
SKIP_REASONS = {
    "out": ("a link out of the project directory", "links out of the project directory"),
    "directory": ("a link to a directory", "links to directories"),
    "broken": ("a broken link", "broken links"),
    "special": ("not a regular file", "not regular files"),
    "unreadable": ("an unreadable directory", "unreadable directories"),
    # The untrusted mode (stackup.loading.hostpaths) reads nothing of the repository's .git.
    "untrusted": ("not read in the untrusted mode", "not read in the untrusted mode"),
}
# At most this many names listed per reason in a warning.
SHOWN_SKIPPED = 10


@dataclass(frozen=True)
class ShipFacts:
    """The host facts shipping is planned from, read by the target before planning."""

    host: str  # the engine's host, as the user named it (the ssh alias)
    # Per source (by `Shipped.relative`), its files here by path relative to the source ("" for
    # a source that is a single file); a source missing here is absent.
    local: Mapping[str, Mapping[str, LocalFile]] = field(default_factory=dict)
    # Per source, what its manifest on the engine's host lists (path → sha256); a source
    # never shipped is absent.
    remote: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Per source, the entries here that are not shipped, with why (a key of `SKIP_REASONS`);
    # the path "" is the source itself (only "out": it leads out of the project by a link).
    skipped: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Relocated:
    """A stack whose bind sources inside the project are the shipped copies on the engine's
    host, the sources that travel, and a warning per bind source that stays a remote path."""

    stack: Stack
    sources: tuple[Shipped, ...]
    warnings: tuple[str, ...]


def inside(path: str, directory: str) -> str | None:
    """`path` relative to `directory` (posix), or None when it is outside."""
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    if path == directory:
        return "."
    if not path.startswith(directory.rstrip("/") + "/"):
        return None
    return os.path.relpath(path, directory).replace(os.sep, "/")


def relocate(stack: Stack, project_directory: str) -> Relocated:
    """Bind sources, and the files of `secrets:` and `configs:`, inside `project_directory`
    rewritten to their copies under `project_root(stack.name)/files`; the others are paths on
    the engine's host: left as they are, with a warning each."""
    root = project_root(stack.name)
    sources: dict[str, Shipped] = {}
    warnings: list[str] = []

    def shipped(path: str, where: str, secret: bool = False) -> str:
        relative = inside(path, project_directory)
        if relative is None:
            warnings.append(
                f"{where}: {path} is outside the project directory: on the remote engine it "
                "is a path on the engine's host, not shipped"
            )
            return path
        remote = root + "/" + (FILES if relative == "." else f"{FILES}/{relative}")
        sources[relative] = Shipped(os.path.normpath(path), relative, remote, secret)
        return remote

    services = {}
    for name, service in stack.services.items():
        volumes = [
            volume.model_copy(
                update={"source": shipped(volume.source, f"services.{name}.volumes[{index}]")}
            )
            if volume.type == "bind" and volume.source
            else volume
            for index, volume in enumerate(service.volumes)
        ]
        services[name] = service.model_copy(update={"volumes": volumes})
    tables = {}
    for kind in ("secrets", "configs"):
        tables[kind] = {
            key: obj.model_copy(
                update={"file": shipped(obj.file, f"{kind}.{key}.file", kind == "secrets")}
            )
            if obj.file is not None and not obj.external
            else obj
            for key, obj in getattr(stack, kind).items()
        }
    relocated = stack.model_copy(update={"services": services, **tables})
    return Relocated(
        relocated, tuple(sorted(sources.values(), key=lambda s: s.relative)), tuple(warnings)
    )


def remote_configs(
    snap: ConfigSnapshot, sources: Iterable[Shipped], project: str
) -> ConfigSnapshot:
    """The config files' host facts (read here, from the local files) keyed by the shipped
    copies' paths that the relocated stack mounts. Without inodes: a copy is always rewritten
    in place, so an edit here (by rename or not) is an edit the container sees."""
    by_local = {s.local: s for s in sources}
    host = {
        by_local[path].remote: FileState(state.digest)
        for path, state in snap.host.items()
        if path in by_local
    }
    return replace(snap, host=host, base=f"{project_root(project)}/{FILES}")


def manifest_name(source: Shipped) -> str:
    """The manifest file of a source under `project_root/manifests`."""
    return hashlib.sha256(source.relative.encode()).hexdigest()[:24] + ".json.gz"


def manifest_json(source: Shipped, files: Mapping[str, LocalFile]) -> bytes:
    """The manifest of a source, gzipped: every plan reads it back and every shipping of the
    source writes it whole (a sha256 per file: ~84 KB of JSON for 1,000 files, half that)."""
    data = {"source": source.relative, "files": {p: f.digest for p, f in sorted(files.items())}}
    text = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(text, mtime=0)


# The largest manifest read back, unpacked (~84 bytes a file: over 700,000 files).
MANIFEST_LIMIT = 64 << 20


def manifests_from(found: Mapping[str, bytes]) -> dict[str, dict[str, str]]:
    """The manifests read from the engine's host (file name → content), by source; a torn or
    foreign one is skipped (its source is shipped whole again). What the engine's host holds
    is not trusted: a manifest that unpacks past `MANIFEST_LIMIT`, or names a path that is
    not a plain one under its source (`..`, absolute, empty parts), is foreign."""
    out: dict[str, dict[str, str]] = {}
    for content in found.values():
        try:
            unpacker = zlib.decompressobj(wbits=31)  # gzip
            text = unpacker.decompress(content, MANIFEST_LIMIT)
            if not unpacker.eof:  # torn, or larger than the limit unpacked
                continue
            data = json.loads(text)
        except (zlib.error, ValueError, RecursionError):  # nested past the decoder's stack
            continue
        if not isinstance(data, dict) or not _plain(data.get("source"), "."):
            continue
        files = data.get("files")
        if not isinstance(files, dict):
            continue
        # "": the source is a file, and then its only entry.
        paths_ok = set(files) == {""} or all(_plain(k, None) for k in files)
        if paths_ok and all(isinstance(v, str) for v in files.values()):
            out[data["source"]] = dict(files)
    return out


def _plain(path: object, itself: str | None) -> bool:
    """Whether `path` is a relative path without `.`, `..` or empty parts, or `itself`."""
    if not isinstance(path, str):
        return False
    if path == itself:
        return True
    return "\0" not in path and all(p not in ("", ".", "..") for p in path.split("/"))


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _counts(changed: int, added: int, removed: int, size: int | None) -> str:
    parts = [
        f"{n} {what}"
        for n, what in ((changed, "changed"), (added, "added"), (removed, "removed"))
        if n
    ]
    return ", ".join([*parts, _size(size)] if size is not None else parts)


def operation_id(source: Shipped) -> str:
    return f"files:{source.relative}"


def mounted_paths(stack: Stack, service: str) -> set[str]:
    """The host paths `service` mounts: its bind sources and its secrets' and configs' files."""
    spec = stack.services[service]
    paths = {v.source for v in spec.volumes if v.type == "bind" and v.source}
    for refs, table in ((spec.secrets, stack.secrets), (spec.configs, stack.configs)):
        paths.update(
            obj.file for ref in refs if (obj := table.get(ref.source)) and obj.file is not None
        )
    return paths


def ship_operations(
    relocated: Relocated,
    facts: ShipFacts,
    observed: Observed,
    services: Iterable[str],
    salt: str,
) -> tuple[Operation, ...]:
    """One `⇪` operation per source of `services` whose files differ from its manifest on the
    engine's host (a source missing here ships nothing: the engine makes an empty directory,
    as locally). A secret's digest is keyed with the project's `salt` (stackup.planning.salt),
    as everywhere a secret's content is hashed: its manifest is readable on the engine's host,
    and a plan pins the manifest's own digest."""
    wanted = set().union(*(mounted_paths(relocated.stack, s) for s in services))
    ops = []
    for source in relocated.sources:
        local = facts.local.get(source.relative)
        if source.remote not in wanted:
            continue
        if local is None:
            continue
        if source.secret:
            local = {
                p: replace(f, digest=labels.sensitive_digest(f.digest, salt))
                for p, f in local.items()
            }
        op = _ship(
            relocated.stack.name,
            source,
            local,
            facts.remote.get(source.relative, {}),
            facts.host,
            observed,
        )
        if op is not None:
            ops.append(op)
    return tuple(ops)


def _ship(
    project: str,
    source: Shipped,
    local: Mapping[str, LocalFile],
    remote: Mapping[str, str],
    host: str,
    observed: Observed,
) -> Operation | None:
    added = sorted(p for p in local if p not in remote)
    changed = sorted(p for p in local if p in remote and remote[p] != local[p].digest)
    removed = sorted(p for p in remote if p not in local)
    if not (added or changed or removed):
        return None
    root = project_root(project)
    # The running containers that mount this source, by their images: what must change in
    # place (a single file's inode, removals in a mounted directory) is changed through a
    # throwaway container of one of those images (the engine has it; the containers' own
    # mounts may be read-only).
    mounted = sorted(
        {
            c.image_id
            for c in observed.containers
            if c.state == "running"
            for m in c.mounts
            if m.type == "bind" and m.source == source.remote
        }
    )
    steps: list[Step] = []
    single = set(local) == {""}
    writes = [*changed, *added]
    if single and mounted:
        steps.append(RewriteInPlace(project, mounted[0], source.remote, _here(source, local, "")))
    elif removed and not mounted:
        # Nothing shows this directory now: it is shipped again whole, replacing the old.
        steps.append(
            ShipFiles(
                root,
                tuple(
                    (_here(source, local, p), _join(source.destination, p)) for p in sorted(local)
                ),
                replace=(source.destination,),
                mode=source.mode,
            )
        )
    elif writes:
        steps.append(
            ShipFiles(
                root,
                tuple((_here(source, local, p), _join(source.destination, p)) for p in writes),
                mode=source.mode,
            )
        )
    if removed and mounted:
        steps.append(RemoveOnHost(project, mounted[0], source.remote, tuple(removed)))
    steps.append(
        ShipFiles(
            root, contents=((f"{MANIFESTS}/{manifest_name(source)}", manifest_json(source, local)),)
        )
    )
    size = sum(local[p].size for p in writes)
    details = [
        *(f"~ {p or posixpath.basename(source.relative)}" for p in changed),
        *(f"+ {p or posixpath.basename(source.relative)}" for p in added),
        *(f"- {p}" for p in removed),
    ]
    if len(details) > SHOWN_FILES:
        details = [*details[:SHOWN_FILES], f"… and {len(details) - SHOWN_FILES} more"]
    return Operation(
        id=operation_id(source),
        action=Action.SHIP,
        kind=Kind.FILES,
        name=f"{source.shown} → {host}",
        # A secret's size says something of it: not shown (nor, ever, its content).
        reason=_counts(len(changed), len(added), len(removed), None if source.secret else size),
        steps=tuple(steps),
        details=(f"to {source.remote}", *details),
    )


def _join(base: str, path: str) -> str:
    return base if not path else f"{base.rstrip('/')}/{path}"


def _here(source: Shipped, local: Mapping[str, LocalFile], path: str) -> str:
    """The file here that `path` of `source` ships from."""
    return local[path].path or _join(source.local, path)


def skipped_warnings(relocated: Relocated, facts: ShipFacts) -> tuple[str, ...]:
    """A warning per source with entries here that are not shipped, naming them by why."""
    warnings = []
    for source in relocated.sources:
        skipped = facts.skipped.get(source.relative, ())
        if not skipped:
            continue
        if ("", "out") in skipped:
            warnings.append(
                f"{source.shown}: leads by a symbolic link out of the project directory: "
                "not shipped"
            )
            continue
        groups = []
        for reason, (one, many) in SKIP_REASONS.items():
            names = sorted(p for p, why in skipped if why == reason)
            if names:
                shown = ", ".join(names[:SHOWN_SKIPPED])
                if len(names) > SHOWN_SKIPPED:
                    shown += f" … and {len(names) - SHOWN_SKIPPED} more"
                groups.append(f"{shown} ({one if len(names) == 1 else many})")
        count = f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}"
        warnings.append(f"{source.shown}: {count} not shipped: {', '.join(groups)}")
    return tuple(warnings)


def with_shipping(
    plan: Plan, relocated: Relocated, ops: tuple[Operation, ...], warnings: tuple[str, ...] = ()
) -> Plan:
    """`plan` with the shipping operations first, the warnings about bind sources that stay
    remote paths and `warnings` (`skipped_warnings`); every operation of a service that mounts
    a shipped source runs after its shipping (a new container mounts the new files; a reload
    validates them)."""
    if not ops and not relocated.warnings and not warnings:
        return plan
    by_remote = {s.remote: operation_id(s) for s in relocated.sources}
    shipped = {op.id for op in ops}
    needs: dict[str, tuple[str, ...]] = {}
    for name in relocated.stack.services:
        paths = mounted_paths(relocated.stack, name)
        ids = sorted({by_remote[p] for p in paths if p in by_remote and by_remote[p] in shipped})
        if ids:
            needs[name] = tuple(ids)
    operations = tuple(
        replace(op, after=(*op.after, *needs[op.service]))
        if op.service in needs and op.kind != Kind.IMAGE
        else op
        for op in plan.operations
    )
    return replace(
        plan,
        operations=(*ops, *operations),
        warnings=(*plan.warnings, *relocated.warnings, *warnings),
    )
