"""`ReleaseStore` on a Docker engine: a release is a container, created and never started,
like a lease (`stackup.engine.docker.leases`, whose empty image it is made from): labels say
what `history` lists, files put into it (`PUT /containers/{id}/archive`, which works on a
container that never ran) hold the rest, read back with `GET …/archive`. It lives on the
engine, so a laptop, a CI job and the server's own socket see one history. Its project is
named by `io.stackup.release.project`, not the project's label: nothing that lists the
project's containers sees it; `down --volumes` removes it."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

from stackup.engine.docker.calls import engine_errors
from stackup.engine.docker.leases import DockerLeases, tar_of
from stackup.engine.interface import StoredRelease
from stackup.errors import EngineError
from stackup.model import labels


class DockerReleases:
    def __init__(self, api: docker.APIClient, leases: DockerLeases) -> None:
        self.api = api
        self.leases = leases

    def record(
        self, name: str, project: str, tags: Mapping[str, str], files: Mapping[str, bytes]
    ) -> str:
        with engine_errors(f"recording the release {name}"):
            self.leases.ensure_image()
            created = self.api.create_container(
                self.leases.image,  # as this engine names it (Podman: `localhost/…`)
                command=["stackup-release"],  # never run: the image has no files
                name=name,
                labels={**tags, labels.RELEASE_PROJECT: project},
                network_disabled=True,
            )
            record = str(created["Id"])
            try:
                self.api.put_archive(record, "/", tar_of(files))
            except docker.errors.APIError:
                self.api.remove_container(record, force=True)
                raise
        return record

    def list(self, project: str) -> tuple[StoredRelease, ...]:
        with engine_errors(f"listing the releases of {project}"):
            found: list[Mapping[str, Any]] = self.api.containers(
                all=True, filters={"label": f"{labels.RELEASE_PROJECT}={project}"}
            )
        return tuple(StoredRelease(str(c["Id"]), dict(c.get("Labels") or {})) for c in found)

    def read(self, record_id: str, path: str) -> Mapping[str, bytes]:
        with engine_errors(f"reading the release {record_id[:12]}", missing_ok=True):
            stream, _ = self.api.get_archive(record_id, "/" + path)
            data = b"".join(stream)
            out: dict[str, bytes] = {}
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for entry in tar.getmembers():
                    # The archive's entries start with the last element of `path`.
                    head, _, inner = entry.name.partition("/")
                    content = tar.extractfile(entry) if entry.isfile() else None
                    if content is not None:
                        out[inner or head] = content.read()
            return out
        raise EngineError(f"the release record {record_id[:12]} has no {path}")

    def drop(self, record_id: str) -> None:
        with engine_errors(f"removing the release {record_id[:12]}", missing_ok=True):
            self.api.remove_container(record_id, force=True)
