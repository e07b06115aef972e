"""The host side of `stackup.planning.shipping`: the project's files read here (sha256 of
each) and the manifests read from the engine's host before planning, and the shipping steps
carried out (`ShipFiles` through the engine's helper container, `RewriteInPlace` through a
running container)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from stackup.engine.interface import ContainerSpec, Engine, FileCopy, MountSpec, ReleaseEngine
from stackup.errors import ApplyError
from stackup.model import labels
from stackup.model.spec import Service
from stackup.planning.plan import RemoveOnHost, RewriteInPlace, ShipFiles
from stackup.planning.shipping import (
    MANIFESTS,
    REMOTE_ROOT,
    LocalFile,
    ShipFacts,
    Shipped,
    manifests_from,
    project_root,
)
from stackup.targets.engine.throwaway import run_check

# On the throwaway container that changes a shipped file in place.
SHIP_LABEL = "io.stackup.ship"


def engine_host(engine: Engine) -> str:
    """The engine's host as the user named it (`ssh://deploy@prod:22` → `prod`)."""
    endpoint = getattr(engine, "endpoint", None)
    url = str(getattr(endpoint, "base_url", ""))
    return urlsplit(url).hostname or url or "the engine's host"


def _digest(path: Path) -> LocalFile:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return LocalFile(h.hexdigest(), size)


def local_files(source: Path) -> dict[str, LocalFile] | None:
    """The regular files of a source here by path relative to it ("" for a file), or None
    when it is missing or unreadable (symbolic links are followed, as a bind mount would)."""
    try:
        if source.is_file():
            return {"": _digest(source)}
        if not source.is_dir():
            return None
        out = {}
        for root, dirs, files in os.walk(source, followlinks=True):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if path.is_file():
                    out[path.relative_to(source).as_posix()] = _digest(path)
        return out
    except OSError:
        return None


def read_facts(
    engine: Engine,
    project: str,
    sources: Iterable[Shipped],
    may_look: Callable[[Path], bool] | None = None,
) -> ShipFacts:
    local = {}
    for source in sources:
        if may_look is not None and not may_look(Path(source.local)):
            continue
        files = local_files(Path(source.local))
        if files is not None:
            local[source.relative] = files
    remote = (
        manifests_from(engine.read_host_files(project_root(project), MANIFESTS)) if local else {}
    )
    return ShipFacts(engine_host(engine), local, remote)


def ship(engine: Engine, step: ShipFiles) -> int:
    """Write the step's files on the engine's host; returns the bytes of file content sent."""
    buffer = io.BytesIO()
    sent = 0
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in step.replace:
            # An entry that is not a directory replaces a directory with all it holds; the
            # directory entry after it makes it a directory again, empty.
            tar.addfile(tarfile.TarInfo(path))
            directory = tarfile.TarInfo(path)
            directory.type = tarfile.DIRTYPE
            directory.mode = 0o755
            tar.addfile(directory)
        for local, destination in step.files:
            try:
                data = Path(local).read_bytes()
                status = Path(local).stat()
            except OSError as exc:
                raise ApplyError(f"cannot read {local} to ship it: {exc.strerror}") from exc
            # The mode and time of the file here: nginx's ETag and Last-Modified come from them.
            mode = step.mode if step.mode is not None else status.st_mode & 0o7777
            entry = _entry(destination, len(data), mode, status.st_mtime)
            tar.addfile(entry, io.BytesIO(data))
            sent += len(data)
        for destination, content in step.contents:
            tar.addfile(_entry(destination, len(content), 0o644), io.BytesIO(content))
    engine.write_host_files(step.directory, buffer.getvalue())
    return sent


def _entry(name: str, size: int, mode: int, mtime: float = 0.0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = int(mtime)
    return info


_STAGED = "/.stackup-shipped"


def rewrite_in_place(engine: Engine, step: RewriteInPlace) -> int:
    """Copy the file into a throwaway container that bind-mounts the target writable, which
    `cat`s it over the target: the target keeps its inode, so the containers that mount it
    see the new content."""
    try:
        data = Path(step.source).read_bytes()
    except OSError as exc:
        raise ApplyError(f"cannot read {step.source} to ship it: {exc.strerror}") from exc
    _on_host(
        engine,
        step.project,
        step.image,
        step.target,
        f'cat {_STAGED} > "$0"',
        (FileCopy(_STAGED, data, 0o600),),
        f"rewriting {step.target} in place",
    )
    return len(data)


def remove_on_host(engine: Engine, step: RemoveOnHost) -> None:
    _on_host(
        engine,
        step.project,
        step.image,
        step.directory,
        'cd "$0" && rm -f -- "$@"',
        (),
        f"removing {len(step.paths)} file(s) from {step.directory}",
        step.paths,
    )


def remove_project_root(engine: ReleaseEngine, project: str, images: Sequence[str]) -> None:
    """`down --volumes` on a remote engine: the project's directory on the engine's host
    (`project_root`), removed by a throwaway container of the first of `images` the engine
    still has (it runs `rm -rf`: the helper image has no binary). Nothing to do when nothing
    was ever shipped."""
    if not engine.read_host_files(project_root(project), MANIFESTS):
        return
    usable = [image for image in images if engine.image_id(image) is not None]
    if not usable:
        raise ApplyError(
            f"cannot remove {project_root(project)} on the engine's host: none of the "
            "project's images is left to run `rm` in",
            hint=f"remove {project_root(project)} on that host by hand",
        )
    _on_host(
        engine,
        project,
        usable[0],
        REMOTE_ROOT,
        'rm -rf -- "$0/$1"',
        (),
        f"removing {project_root(project)}",
        (project,),
    )


def _on_host(
    engine: Engine,
    project: str,
    image: str,
    host_path: str,
    script: str,
    files: tuple[FileCopy, ...],
    doing: str,
    arguments: tuple[str, ...] = (),
) -> None:
    """Run `sh -c script MOUNT arguments...` in a throwaway container of `image` that
    bind-mounts `host_path` writable at MOUNT, with no network, as root."""
    mount = "/stackup-target"
    service = Service.model_validate(
        {
            "image": image,
            "entrypoint": ["sh", "-c", script],
            "command": [mount, *arguments],
            "user": "0",
        }
    )
    spec = ContainerSpec(
        # One name per path: a leftover of an interrupted run is removed by the next one, and
        # two files rewritten at once (in parallel operations) do not take each other's.
        name=f"{project}-stackup-ship-{hashlib.sha256(host_path.encode()).hexdigest()[:12]}",
        image=image,
        service=service,
        labels={labels.PROJECT: project, SHIP_LABEL: "1"},
        environment={},
        network_mode="none",
        mounts=(MountSpec("bind", mount, host_path, create_host_path=False),),
        files=files,
    )
    result = run_check(engine, spec)
    if result.exit_code != 0:
        raise ApplyError(
            f"{doing} on the engine's host failed (exit {result.exit_code})",
            output=result.output,
            hint=f"it runs `sh` in a throwaway container of {image}, the image of a container "
            "that mounts the file",
        )
