"""Files on the engine's host, written and read through the engine itself: a helper container
that bind-mounts the directory, created and never started, with the archive calls of the API
(`PUT`/`GET /containers/{id}/archive`; the engine mounts a created container's volumes for
them). A user in the docker group writes there without a login on the host, and nothing
must run: the helper's image is an empty one that stackup imports itself (an empty tar), so
no registry and no image of the project's is needed.

Measured on a real engine: an extracted file replaces the one at its path (a new inode), so a
container that bind-mounts that file on its own keeps reading the old one
(stackup.planning.shipping rewrites those through the running container instead)."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

import docker
import docker.errors
import docker.types

from stackup.engine.docker.calls import engine_errors
from stackup.errors import EngineError
from stackup.model import labels

HELPER_IMAGE = "stackup/host-files:1"
_MOUNT = "/host"


# The most read back from the engine's host in one call (the manifests: far less); an engine
# is not trusted to send a bounded archive.
HOST_FILES_READ_LIMIT = 256 << 20


def bounded_read(stream: Iterable[bytes], limit: int) -> bytes | None:
    """The stream's bytes, or None as soon as they pass `limit` (the rest is not read)."""
    chunks, size = [], 0
    for chunk in stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def archive_files(data: bytes, limit: int, what: str) -> dict[str, bytes]:
    """The regular files of a tar archive an engine sent, by name. Not trusted: what is not
    a tar archive is refused, and so are files that unpack past `limit` bytes in all (a
    sparse entry of a few bytes may claim gigabytes of zeros)."""
    out: dict[str, bytes] = {}
    left = limit
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for entry in tar:
                if not entry.isfile():
                    continue
                if entry.size > left:
                    raise EngineError(
                        f"{what}: the engine sent more than {limit} bytes of files",
                        hint="stackup reads back only what it wrote: a few small files",
                    )
                content = tar.extractfile(entry)
                if content is not None:
                    out[entry.name] = content.read(entry.size)
                    left -= entry.size
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise EngineError(f"{what}: the engine sent a damaged archive ({exc})") from None
    return out


# A helper lives for one archive call; one this much older than a new helper was left by a
# command that was killed during its call, and is removed.
STALE_HELPER_SECONDS = 3600


class DockerHostFiles:
    def __init__(self, api: docker.APIClient) -> None:
        self.api = api
        self._swept = False

    def write(self, directory: str, archive: BinaryIO) -> None:
        with engine_errors(f"writing files into {directory} on the engine's host"):
            self._ensure_image()
            with self._helper(directory) as helper:
                self.api.put_archive(helper, _MOUNT, archive)

    def read(self, directory: str, path: str) -> Mapping[str, bytes]:
        what = f"reading {directory}/{path} on the engine's host"
        with engine_errors(what):
            if not self._has_image():
                return {}  # nothing was ever written through the engine
            try:
                helper = self._create_helper(directory, read_only=True)
            except docker.errors.APIError as exc:
                if "does not exist" in str(exc.explanation or ""):
                    return {}  # never written: and a plan leaves no directory behind
                raise
            try:
                stream, _ = self.api.get_archive(helper, f"{_MOUNT}/{path}")
                data = bounded_read(stream, HOST_FILES_READ_LIMIT)
            except docker.errors.NotFound:
                return {}
            finally:
                self._remove(helper)
        if data is None:
            raise EngineError(
                f"{directory}/{path} on the engine's host holds more than "
                f"{HOST_FILES_READ_LIMIT >> 20} MiB, the limit of what stackup reads back",
                hint="stackup writes far less there: look at what else put files in it",
            )
        return {
            # The archive's entries start with the last element of `path`.
            (name.partition("/")[2] or name): content
            for name, content in archive_files(data, HOST_FILES_READ_LIMIT, what).items()
        }

    def _has_image(self) -> bool:
        try:
            self.api.inspect_image(HELPER_IMAGE)  # type: ignore[no-untyped-call]
        except docker.errors.ImageNotFound:
            return False
        return True

    def _ensure_image(self) -> None:
        if self._has_image():
            return
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repository, _, tag = HELPER_IMAGE.rpartition(":")
        self.api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag)

    @contextlib.contextmanager
    def _helper(self, directory: str) -> Iterator[str]:
        helper = self._create_helper(directory)
        try:
            yield helper
        finally:
            self._remove(helper)

    def _create_helper(self, directory: str, *, read_only: bool = False) -> str:
        """A created container with `directory` mounted: for writing, in the `Binds` form
        (the engine makes a missing directory); for reading, as a read-only mount, which
        the engine refuses for a missing one instead of making it."""
        if read_only:
            mount = docker.types.Mount(_MOUNT, directory, type="bind", read_only=True)
            host_config = self.api.create_host_config(mounts=[mount])
        else:
            host_config = self.api.create_host_config(
                binds={directory: {"bind": _MOUNT, "mode": "rw"}}
            )
        created = self.api.create_container(
            HELPER_IMAGE,
            # Never started: the image has no binary, and the archive calls need none.
            command=["stackup-host-files"],
            labels={labels.HOST_FILES: directory},
            network_disabled=True,
            host_config=host_config,
        )
        helper = str(created["Id"])
        if not self._swept:
            self._swept = True
            self._sweep(helper)
        return helper

    def _sweep(self, helper: str) -> None:
        """Remove the helpers that killed commands left (once per command, at its first
        helper): those created STALE_HELPER_SECONDS or more before `helper`. Ages are read on the engine's
        own clock (both creation times are the engine's), so a remote engine's clock that
        differs from this machine's changes nothing."""
        listed = self.api.containers(all=True, filters={"label": labels.HOST_FILES})
        created = {str(c["Id"]): int(c.get("Created") or 0) for c in listed}
        now = created.get(helper)
        if now is None:
            return
        for other, at in created.items():
            if other != helper and at and now - at >= STALE_HELPER_SECONDS:
                self._remove(other)

    def _remove(self, helper: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(helper, force=True)
