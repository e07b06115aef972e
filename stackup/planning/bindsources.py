"""Bind mounts whose host source is missing, or whose source and the image's path at the
target are of kinds that cannot be mounted one over the other.

The engine creates a missing bind source as an empty directory (the `Binds` form, as Compose
does for the short syntax and `create_host_path: true`): a typo (`./sitee`) silently serves
an empty site, and a typo'd file (`./default.conff`) becomes a directory the runtime then
fails to mount over the image's file, leaving a `created` container and the stray directory.
So:

* a missing source is a located warning (`config`, `diff`, `up`): the engine will create an
  empty directory;
* a missing source with `create_host_path: false` is a located error before anything is
  created (the engine would refuse it half-way);
* a source (a missing one counts as the directory the engine makes) whose kind differs from
  what the image holds at the target (a directory over a file, a file over a directory) is a
  located error, checked against the image once it is there (after pulls and builds).

Pure but for `host_kinds`, which gathers the host facts (what each source is) before
planning, as `stackup.planning.configstate.snapshot` gathers the config files; what the image
holds comes from the engine (`Engine.image_path_kinds`), gathered by the target.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stackup.errors import dotted
from stackup.loading.source import SourceMap
from stackup.model.spec import Stack

# What is at a path: on the host (`host_kinds`) or in an image (`Engine.image_path_kinds`).
MISSING = "missing"
DIRECTORY = "directory"
FILE = "file"
SYMLINK = "symlink"  # in an image: the runtime resolves it inside the container; not judged
OTHER = "other"  # a socket, a device, a pipe: mounted as they are


@dataclass(frozen=True, slots=True)
class BindSource:
    service: str
    index: int  # in the service's `volumes`
    source: str  # the host path, absolute
    target: str
    create: bool  # `bind.create_host_path`


def bind_sources(stack: Stack, services: Iterable[str]) -> list[BindSource]:
    """The bind mounts of `services`, in name and file order."""
    out = []
    for name in sorted(services):
        for index, volume in enumerate(stack.services[name].volumes):
            if volume.type == "bind" and volume.source:
                create = volume.bind.create_host_path if volume.bind else True
                out.append(BindSource(name, index, volume.source, volume.target, create))
    return out


def host_kinds(sources: Iterable[str]) -> dict[str, str]:
    """What each host path is now (following symlinks, as the engine does)."""
    out: dict[str, str] = {}
    for source in sources:
        if source in out:
            continue
        try:
            mode = os.stat(source).st_mode
        except OSError:
            out[source] = MISSING
            continue
        out[source] = DIRECTORY if stat.S_ISDIR(mode) else FILE if stat.S_ISREG(mode) else OTHER
    return out


def missing(mounts: Iterable[BindSource], kinds: Mapping[str, str]) -> list[BindSource]:
    return [m for m in mounts if kinds.get(m.source) == MISSING]


def warnings(
    stack: Stack,
    source: SourceMap,
    base: Path | str,
    kinds: Mapping[str, str],
    services: Iterable[str],
) -> list[str]:
    """A located warning for each missing source the engine will create as a directory
    (`base`: the project directory, paths under it are shown as `./x`)."""
    return [
        f"{_where(source, m)}: {shown(m.source, base)} does not exist; the engine will "
        "create an empty directory"
        for m in missing(bind_sources(stack, services), kinds)
        if m.create
    ]


def errors(
    stack: Stack,
    source: SourceMap,
    base: Path | str,
    kinds: Mapping[str, str],
    services: Iterable[str],
    image_kinds: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """Located errors for the bind mounts of `services` that cannot be mounted: a missing
    source with `create_host_path: false`, and (given `image_kinds`, what each service's
    image holds at each target, by (service, target)) a source of another kind than the
    image's path at the target."""
    out = []
    for m in bind_sources(stack, services):
        kind = kinds.get(m.source)
        where, path = _where(source, m), shown(m.source, base)
        if kind == MISSING and not m.create:
            out.append(
                f"{where}: {path} does not exist, and `bind.create_host_path` is false; "
                "create it, or correct the path"
            )
            continue
        inside = (image_kinds or {}).get((m.service, m.target))
        if kind is None or inside is None:
            continue
        mounted = DIRECTORY if kind == MISSING else kind
        if {mounted, inside} == {DIRECTORY, FILE}:
            image = stack.services[m.service].image or "the image"
            what = (
                f"{path} does not exist (the engine would create an empty directory)"
                if kind == MISSING
                else f"{path} is a {mounted}"
            )
            out.append(
                f"{where}: {what}, but {image} has a {inside} at {m.target}; a {mounted} "
                f"cannot be mounted over a {inside}: correct the path"
            )
    return out


def image_targets(
    stack: Stack, services: Iterable[str], kinds: Mapping[str, str]
) -> dict[str, set[str]]:
    """The targets to look up in each service's image: those of bind mounts whose source is
    a directory (or will be made one) or a file."""
    out: dict[str, set[str]] = {}
    for m in bind_sources(stack, services):
        if kinds.get(m.source) in (MISSING, DIRECTORY, FILE):
            out.setdefault(m.service, set()).add(m.target)
    return out


def made_for(
    mounts: Iterable[BindSource], kinds: Mapping[str, str], shared: Mapping[str, int]
) -> tuple[str, ...]:
    """The missing sources the engine will create for these mounts alone (no other container
    of the plan mounts them, `shared` counting the creating mounts of each source): what a
    failed start removes again when they are still empty."""
    return tuple(
        sorted({m.source for m in missing(mounts, kinds) if m.create and shared[m.source] == 1})
    )


def shown(path: str, base: Path | str) -> str:
    """A host path as the user wrote it: `./x` under the project directory."""
    rel = os.path.relpath(path, base)
    if rel == ".":
        return "."
    return path if rel.startswith("..") else "./" + rel


def _where(source: SourceMap, m: BindSource) -> str:
    path = ("services", m.service, "volumes", m.index)
    mark = source.key(path)
    return f"{mark}: {dotted(path)}" if mark else dotted(path)
