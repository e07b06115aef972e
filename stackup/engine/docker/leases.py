"""`Leases` on a Docker engine: a lease is a container, created and never started.

The engine's container names are its one atomic test-and-set that every client of it shares
(on this host, another user's, another machine's over SSH): `POST /containers/create` with a
name that exists is refused (409). So the lease `name` is a container of that name, made from a
tiny image stackup makes itself on first use (`stackup/lock:1`, an import of an empty archive:
no registry involved), labelled with its holder and its project. Its holder renews it by
writing a small file into it (`PUT /containers/{id}/archive` works on a container that never
ran); a reader reads that file back (`GET …/archive`). Removal goes by the container's ID.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

from stackup.engine.docker.calls import engine_errors, name_taken
from stackup.engine.docker.hostfiles import archive_files, bounded_read
from stackup.engine.interface import Lease
from stackup.errors import EngineError
from stackup.model import labels

LEASE_IMAGE_REPOSITORY = "stackup/lock"
LEASE_IMAGE_TAG = "1"
LEASE_IMAGE = f"{LEASE_IMAGE_REPOSITORY}:{LEASE_IMAGE_TAG}"
BEAT_FILE = "stackup-lease"  # at the container's root: what each renewal writes
# The most of a renewal's file read back (it holds a count): the engine is not trusted.
BEAT_LIMIT = 4096


class DockerLeases:
    # The lock's image as this engine names it (Podman names an import `localhost/…`).
    image = LEASE_IMAGE

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    def take(self, name: str, project: str, holder: Mapping[str, str]) -> str | None:
        tags = {labels.PROJECT: project, labels.LEASE: name}
        tags.update({f"{labels.LEASE}.{key}": value for key, value in holder.items()})
        for first in (True, False):
            try:
                with engine_errors(f"taking the lock {name}"):
                    try:
                        created = self.api.create_container(
                            self.image,
                            command=["stackup-lease"],  # never run: the image has no files
                            name=name,
                            labels=tags,
                            network_disabled=True,
                        )
                    except docker.errors.APIError as exc:
                        if name_taken(exc):  # the name is taken: someone holds it
                            return None
                        raise
                return str(created["Id"])
            except EngineError:
                if not first or self._has_image():
                    raise
                self._make_image()
        raise AssertionError("unreachable")

    def ensure_image(self) -> None:
        """The lease's empty image, made if missing: what every never-started record of
        stackup's on the engine is made from (a lease, a release)."""
        if not self._has_image():
            self._make_image()

    def _has_image(self) -> bool:
        try:
            self.api.inspect_image(self.image)  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            return True  # another problem: let the create's error stand
        return True

    def _make_image(self) -> None:
        """`docker import` of an empty archive: an image of one empty layer, made here, so a
        lock needs no registry. Two clients making it at once both succeed."""
        with engine_errors(f"making the lock's image {self.image}"):
            self.api.import_image_from_data(
                tar_of({}),
                repository=LEASE_IMAGE_REPOSITORY,
                tag=LEASE_IMAGE_TAG,
                changes=[f"LABEL {labels.LEASE}-image={LEASE_IMAGE_TAG}"],
            )

    def read(self, name: str) -> Lease | None:
        with engine_errors(f"reading the lock {name}", missing_ok=True):
            raw: Mapping[str, Any] = self.api.inspect_container(name)
            found = (raw.get("Config") or {}).get("Labels") or {}
            if found.get(labels.LEASE) != name:
                raise EngineError(
                    f"the container {name} is in the way of the project's lock: it is not one "
                    "stackup made",
                    hint="rename or remove that container",
                )
            prefix = labels.LEASE + "."
            holder = {k[len(prefix) :]: v for k, v in found.items() if k.startswith(prefix)}
            return Lease(str(raw["Id"]), holder, self._beat(str(raw["Id"])))
        return None

    def _beat(self, lease_id: str) -> str:
        """The last renewal's file ("" before the first, or once the lease is gone: the next
        read finds no lease)."""
        with engine_errors(f"reading the lock {lease_id[:12]}", missing_ok=True):
            stream, _ = self.api.get_archive(lease_id, "/" + BEAT_FILE)
            data = bounded_read(stream, 16 * BEAT_LIMIT)  # a tar archive pads to 10 KiB
            if data is None:
                raise EngineError(f"reading the lock {lease_id[:12]}: its file is too large")
            found = archive_files(data, BEAT_LIMIT, f"reading the lock {lease_id[:12]}")
            return found.get(BEAT_FILE, b"").decode(errors="replace")
        return ""

    def renew(self, lease_id: str, beat: str) -> bool:
        with engine_errors(f"renewing the lock {lease_id[:12]}", missing_ok=True):
            self.api.put_archive(lease_id, "/", tar_of({BEAT_FILE: beat.encode()}))
            return True
        return False

    def drop(self, lease_id: str) -> None:
        try:
            with engine_errors(f"removing the lock {lease_id[:12]}", missing_ok=True):
                self.api.remove_container(lease_id, force=True)
        except EngineError as exc:
            if "already in progress" not in str(exc):
                raise


def tar_of(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()
