"""The swarm side of the engine interface: the value types the swarm target plans with and
the Docker adapter (`stackup.engine.docker.swarm`) maps to the API, and the primitives that
adapter offers (`SwarmEngine`). Like `stackup.engine.interface` for one engine: the adapter
depends on this module, never on the target's planning code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import JsonValue

from stackup.model import labels as label_keys
from stackup.model.spec import Service

ObjectKind = Literal["config", "secret"]
OBJECT_KEY = "io.stackup.object"  # on a config or secret version: its key in the stack file
TASK_HASH = "io.stackup.task-hash"  # on a service's containers: what their tasks were made from
SWARM_PROJECT = "io.stackup.swarm-project"  # on a service's containers


@dataclass(frozen=True)
class FileMount:
    """A config or secret version mounted in a service's tasks."""

    name: str  # the engine's name of the version
    target: str  # absolute path in the container
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


@dataclass(frozen=True)
class SwarmMount:
    type: str
    target: str
    source: str | None = None
    read_only: bool = False
    volume_labels: Mapping[str, str] = field(default_factory=dict)
    volume_driver: str | None = None
    volume_driver_opts: Mapping[str, str] = field(default_factory=dict)
    tmpfs_size: int | None = None


@dataclass(frozen=True)
class DesiredObject:
    """A version of a config or secret. Its content is never rendered (`repr=False`)."""

    kind: ObjectKind
    key: str
    name: str
    external: bool
    labels: Mapping[str, str]
    content: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class DesiredService:
    service: str
    name: str
    image: str  # what the tasks run: registry-qualified, pinned to a digest when known
    replicas: int | None  # None in global mode
    spec: Service = field(repr=False)
    environment: Mapping[str, str] = field(repr=False)
    networks: tuple[tuple[str, tuple[str, ...]], ...]  # (network name, aliases)
    mounts: tuple[SwarmMount, ...]
    configs: tuple[FileMount, ...]
    secrets: tuple[FileMount, ...]
    labels: Mapping[str, str]  # the service's (deploy.labels and ours)
    container_labels: Mapping[str, str]  # the tasks' (labels, and the task hash)
    canonical: dict[str, JsonValue]

    @property
    def task_hash(self) -> str:
        return self.container_labels[TASK_HASH]


def strip_digest(image: str) -> str:
    return image.split("@", 1)[0]


# --------------------------------------------------------------------------- observed


@dataclass(frozen=True)
class SwarmObject:
    """A network, config or secret of the project, as the swarm lists it."""

    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SwarmServiceState:
    id: str
    name: str
    labels: Mapping[str, str]
    replicas: int | None  # None in global mode
    image: str  # the live image, without a pinned digest
    configs: tuple[str, ...] = ()  # names of the configs its tasks use
    secrets: tuple[str, ...] = ()
    update_state: str | None = None  # UpdateStatus.State
    update_started: str | None = None  # UpdateStatus.StartedAt: tells a new update from an old

    @property
    def applied(self) -> dict[str, JsonValue] | None:
        text = self.labels.get(label_keys.SPEC)
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def service(self) -> str | None:
        return self.labels.get(label_keys.SERVICE)


@dataclass(frozen=True)
class SwarmObserved:
    project: str
    services: tuple[SwarmServiceState, ...] = ()
    networks: tuple[SwarmObject, ...] = ()
    configs: tuple[SwarmObject, ...] = ()
    secrets: tuple[SwarmObject, ...] = ()
    nodes: int = 1  # ready nodes

    def labelled(self) -> Iterator[Mapping[str, str]]:
        """The labels of the project's resources, in the order their salt is trusted."""
        for group in (self.services, self.configs, self.secrets, self.networks):
            for obj in group:
                yield obj.labels

    def fingerprint(self) -> str:
        parts = [
            *(
                f"s:{s.name}:{s.labels.get(label_keys.SPEC_HASH)}:{s.replicas}:{s.image}"
                for s in self.services
            ),
            *(f"n:{n.name}" for n in self.networks),
            *(f"c:{c.name}" for c in self.configs),
            *(f"x:{x.name}" for x in self.secrets),
        ]
        return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- primitives


class ConvergenceQuery(Protocol):
    """What a convergence check asks about (`stackup.targets.swarm.steps.WaitConverged`)."""

    @property
    def name(self) -> str: ...
    @property
    def task_hash(self) -> str: ...
    @property
    def replicas(self) -> int | None: ...
    @property
    def previous_update(self) -> str | None: ...


@runtime_checkable
class SwarmEngine(Protocol):
    """What the swarm steps need from the engine (`stackup.engine.docker.swarm.DockerSwarm`)."""

    def create_service(self, want: DesiredService) -> None: ...
    def update_service(self, want: DesiredService) -> None: ...
    def remove_service(self, name: str) -> None: ...
    def service_gone(self, name: str) -> bool: ...
    def create_object(self, obj: DesiredObject) -> None: ...
    def remove_object(self, kind: ObjectKind, name: str) -> None: ...
    def convergence(self, step: ConvergenceQuery) -> Convergence: ...
    def tag_image(self, image: str, target: str) -> None: ...
    def push(self, image: str) -> str: ...


@dataclass(frozen=True)
class Convergence:
    """One look at a service while waiting for it: done, failed (with why), or progress."""

    done: bool = False
    failed: str | None = None
    progress: str = ""
