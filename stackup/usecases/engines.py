"""The engine itself, for the commands that work on images and containers outside any
project's plan (`pull`, `build`, `images`, `ls`, `import run --from-container`, watch's
reconnect) and for `up --attach`: found as the docker CLI finds it, and the image calls."""

from __future__ import annotations

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.interface import Engine, PullEvent
from stackup.engine.podman.engine import connect_engine as _connect
from stackup.errors import StackupError
from stackup.targets.engine.images import build_images, pull_images

__all__ = [
    "DockerEngine",
    "Engine",
    "PullEvent",
    "build_images",
    "connect_engine",
    "describe_engine",
    "pull_images",
]


def connect_engine(context: str | None = None) -> DockerEngine:
    """The Docker engine of `context` (--context), else as the docker CLI finds it
    (DOCKER_HOST, DOCKER_CONTEXT, the current context, the default socket, then Podman's
    socket); a Podman engine when it answers as one."""
    return _connect(context)


def describe_engine(context: str | None = None) -> str:
    """The engine stackup would use, for `stackup --version`: `Podman 4.3.1, API 1.41,
    unix:///run/podman/podman.sock`, or why none answers."""
    try:
        engine = _connect(context)
    except StackupError as exc:
        return f"none ({exc})"
    try:
        return engine.describe()
    except StackupError as exc:
        return f"{engine.base_url} ({exc})"
    finally:
        engine.close()
