"""The Docker adapter's image and log calls: pull with per-layer progress, build (classic
builder), look up an image ID, and stream a container's output as lines. `DockerEngine` holds
one `DockerImages` over its client and answers the `Engine` protocol's calls with it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import docker
from docker.utils import parse_repository_tag

from stackup.engine.docker import convert
from stackup.engine.docker.calls import engine_errors, image_id_of, split_lines
from stackup.engine.interface import PullEvent
from stackup.errors import EngineError
from stackup.model.parts import Build


class DockerImages:
    """Images and logs over one client (the engine counts the calls)."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    def pull(self, image: str, progress: Callable[[PullEvent], None] | None = None) -> str:
        repository, tag = parse_repository_tag(image)
        with engine_errors(f"pulling image {image}"):
            for event in self.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                    raise EngineError(f"pulling image {image}: {detail}")
                if progress is not None:
                    detail = event.get("progressDetail") or {}
                    progress(
                        PullEvent(
                            image=image,
                            layer=event.get("id"),
                            status=str(event.get("status", "")),
                            current=detail.get("current"),
                            total=detail.get("total"),
                        )
                    )
            return image_id_of(self.api, image)

    def build_image(self, build: Build, tag: str) -> Iterator[str]:
        """Build a `build:` section's image and tag it, yielding the builder's output lines.

        `dockerfile_inline` is written to a temporary file outside the context, which the SDK
        adds to the context it sends. The classic builder is used (no BuildKit over this API):
        `ssh`, `secrets`, `cache_to` and multi-`platforms` are not supported.
        """
        import tempfile

        inline_dir: tempfile.TemporaryDirectory[str] | None = None
        dockerfile = build.dockerfile
        if build.dockerfile_inline is not None:
            inline_dir = tempfile.TemporaryDirectory(prefix="stackup-build-")
            path = os.path.join(inline_dir.name, "Dockerfile")
            with open(path, "w", encoding="utf-8") as f:
                f.write(build.dockerfile_inline)
            dockerfile = path
        what = f"building image {tag} from {build.context}"
        try:
            with engine_errors(what):
                stream = self.api.build(
                    path=build.context,
                    dockerfile=dockerfile,
                    tag=tag,
                    buildargs={k: v for k, v in build.args.items() if v is not None} or None,
                    target=build.target,
                    labels=dict(build.labels) or None,
                    network_mode=build.network,
                    shmsize=build.shm_size,
                    extra_hosts=_extra_hosts(build.extra_hosts),
                    nocache=build.no_cache,
                    pull=build.pull,
                    cache_from=list(build.cache_from) or None,
                    platform=build.platforms[0] if len(build.platforms) == 1 else None,
                    isolation=build.isolation,
                    rm=True,
                    forcerm=True,  # no intermediate container left behind by a failed step
                    decode=True,
                )
                for event in stream:
                    if "error" in event:
                        detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                        raise EngineError(f"{what}: {str(detail).strip()}")
                    text = event.get("stream")
                    if text:
                        yield from str(text).rstrip("\n").split("\n")
        finally:
            if inline_dir is not None:
                inline_dir.cleanup()

    def image_id(self, image: str) -> str | None:
        """The local image ID for a name, or None when it is not present."""
        with engine_errors(f"inspecting image {image}", missing_ok=True):
            return image_id_of(self.api, image)
        return None

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        """The container's output, one line at a time (each ending in b"\\n" but the last)."""
        with engine_errors(f"reading the logs of container {container}"):
            stream = self.api.logs(
                container,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
                timestamps=timestamps,
            )
        return split_lines(stream, f"reading the logs of container {container}")


def _extra_hosts(entries: Sequence[str]) -> dict[str, str] | None:
    out = {}
    for entry in entries:
        host, _, ip = convert.extra_host(entry).partition(":")
        out[host] = ip
    return out or None
