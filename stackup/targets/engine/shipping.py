"""The host side of `stackup.planning.shipping`: the project's files read here (sha256 of
each) and the manifests read from the engine's host before planning, and the shipping steps
carried out (`ShipFiles` through the engine's helper container, `RewriteInPlace` through a
running container)."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from stackup.engine.interface import ContainerSpec, Engine, FileCopy, MountSpec, ReleaseEngine
from stackup.errors import ApplyError
from stackup.loading.hostpaths import resolve_inside
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


def _open_regular(path: str | Path) -> int:
    """A descriptor of the regular file at `path`, never through a link at its last part nor
    of a FIFO or a device (what was planned as a file may have been swapped since: a link out
    of the project, or a FIFO whose read would wait forever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def _read_regular(path: str) -> tuple[bytes, os.stat_result]:
    try:
        with os.fdopen(_open_regular(path), "rb") as f:
            return f.read(), os.fstat(f.fileno())
    except OSError as exc:
        raise ApplyError(f"cannot read {path} to ship it: {exc.strerror}") from exc


def _digest(path: Path, read_as: str = "") -> LocalFile:
    h = hashlib.sha256()
    size = 0
    with os.fdopen(_open_regular(path), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return LocalFile(h.hexdigest(), size, read_as)


@dataclasses.dataclass
class _Tree:
    """What `local_files` found: the files of a source, and the entries not shipped."""

    files: dict[str, LocalFile] | None = None
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def local_files(
    source: Path, project: Path, may_look: Callable[[Path], bool] | None = None
) -> _Tree:
    """The regular files of a source here by path relative to it ("" for a file), read only
    inside the project directory: a bind mount shows a link as a link, which the container
    resolves in its own filesystem, so nothing a link here points to outside the project is
    the container's to see. A link to a file inside the project ships that file; other links
    (out of the project, to a directory, broken) and FIFOs, sockets and devices are skipped,
    each named (`ShipFacts.skipped`). `files` None: the source is missing or unreadable."""
    tree = _Tree()
    if may_look is not None and not may_look(source):
        tree.skipped.append(("", "out"))
        return tree
    # The source by its path under the project's real path, its links resolved one at a time
    # from there: nothing outside the project is looked at, even to resolve it.
    boundary = Path(os.path.realpath(project))
    real = resolve_inside(boundary / os.path.relpath(source, project), boundary)
    if real is None:
        tree.skipped.append(("", "out"))
        return tree
    try:
        if real.is_file():
            tree.files = {"": _digest(real, "" if real == source else str(real))}
            return tree
        if not real.is_dir():
            return tree
        files = {}
        # Walked with a stack of its own, not os.walk, which recurses: a tree deeper than
        # Python's recursion limit fits in PATH_MAX. Links to directories are not walked.
        pending = [real]
        while pending:
            directory = pending.pop()
            relative_dir = directory.relative_to(real).as_posix()
            if may_look is not None and directory != real and not may_look(directory):
                tree.skipped.append((relative_dir, "untrusted"))
                continue
            try:
                with os.scandir(directory) as scanned:
                    entries = sorted(scanned, key=lambda e: e.name)
            except OSError:
                if directory == real:
                    raise
                tree.skipped.append((relative_dir, "unreadable"))
                continue
            for entry in entries:
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                    continue
                relative = path.relative_to(real).as_posix()
                found = _entry_here(path, boundary, may_look)
                if isinstance(found, str):
                    tree.skipped.append((relative, found))
                    continue
                read_as = str(found) if found != path or real != source else ""
                files[relative] = _digest(found, read_as)
        tree.files = files
        return tree
    except OSError:
        return tree


def _entry_here(path: Path, boundary: Path, may_look: Callable[[Path], bool] | None) -> Path | str:
    """The regular file inside `boundary` that `path` is or links to, or why it is skipped (a
    key of `SKIP_REASONS`). A link is resolved without looking outside the boundary."""
    if may_look is not None and not may_look(path):
        return "untrusted"
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        target = resolve_inside(path, boundary)
        if target is None:
            return "out"
        try:
            info = os.stat(target)
        except OSError:
            return "broken"
        if stat.S_ISDIR(info.st_mode):
            return "directory"
        path = target
    return path if stat.S_ISREG(info.st_mode) else "special"


def read_facts(
    engine: Engine,
    project: str,
    sources: Iterable[Shipped],
    project_directory: Path,
    may_look: Callable[[Path], bool] | None = None,
) -> ShipFacts:
    local = {}
    skipped = {}
    for source in sources:
        if may_look is not None and not may_look(Path(source.local)):
            continue
        tree = local_files(Path(source.local), project_directory, may_look)
        if tree.files is not None:
            local[source.relative] = tree.files
        if tree.skipped:
            skipped[source.relative] = tuple(tree.skipped)
    remote = (
        manifests_from(engine.read_host_files(project_root(project), MANIFESTS)) if local else {}
    )
    return ShipFacts(engine_host(engine), local, remote, skipped)


def ship(engine: Engine, step: ShipFiles) -> int:
    """Write the step's files on the engine's host; returns the bytes of file content sent.
    The archive is made in a temporary file and streamed: a tree of any size ships in a few
    KiB of memory."""
    sent = 0
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for path in step.replace:
                # An entry that is not a directory replaces a directory with all it holds; the
                # directory entry after it makes it a directory again, empty.
                tar.addfile(tarfile.TarInfo(path))
                directory = tarfile.TarInfo(path)
                directory.type = tarfile.DIRTYPE
                directory.mode = 0o755
                tar.addfile(directory)
            for local, destination in step.files:
                sent += _add_file(tar, local, destination, step.mode)
            for destination, content in step.contents:
                tar.addfile(_entry(destination, len(content), 0o644), io.BytesIO(content))
        archive.seek(0)
        engine.write_host_files(step.directory, archive)
    return sent


def _add_file(tar: tarfile.TarFile, local: str, destination: str, mode: int | None) -> int:
    try:
        with os.fdopen(_open_regular(local), "rb") as f:
            status = os.fstat(f.fileno())
            # The mode and time of the file here: nginx's ETag and Last-Modified come from them.
            chosen = mode if mode is not None else status.st_mode & 0o7777
            # Exactly the size the entry says: a file that shrank while read is an error.
            tar.addfile(_entry(destination, status.st_size, chosen, status.st_mtime), f)
            return status.st_size
    except OSError as exc:
        raise ApplyError(f"cannot read {local} to ship it: {exc.strerror or exc}") from exc


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
    data, _ = _read_regular(step.source)
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
    """`down` on a remote engine: the project's directory on the engine's host
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
        # The project's directory itself goes: its parent is what the container mounts.
        root=REMOTE_ROOT,
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
    *,
    root: str | None = None,
) -> None:
    """Run `sh -c script PATH arguments...` in a throwaway container of `image`, with no
    network, as root, where PATH is `host_path` inside `root` (the project's directory on the
    engine's host unless given), which it bind-mounts writable. Not `host_path` itself: the
    engine resolves a bind mount's source on its host, and a service that can write its
    shipped directory can leave a link there (`default.conf -> /etc/shadow`); inside the
    container, a link resolves in the container's own filesystem."""
    root = root or project_root(project)
    inside = host_path == root or host_path.startswith(root + "/")
    if not inside or "/../" in host_path + "/":
        raise ApplyError(f"{doing}: {host_path} is not under {root}")
    mount = "/stackup-project"
    service = Service.model_validate(
        {
            "image": image,
            "entrypoint": ["sh", "-c", script],
            "command": [mount + host_path.removeprefix(root), *arguments],
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
        mounts=(MountSpec("bind", mount, root, create_host_path=False),),
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
