"""What the engine is really running for a project: one snapshot, as typed values.

`DockerEngine.observe` (stackup.engine.docker.engine) builds it from a constant number of list calls (containers, networks,
volumes, images), whatever the number of services; reconcile reads nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from pydantic import JsonValue

from stackup.model import labels as label_keys


@dataclass(frozen=True, slots=True)
class ObservedMount:
    type: str  # "volume", "bind", "tmpfs"
    name: str | None  # volume name (anonymous volumes have a 64-hex name)
    source: str | None
    destination: str


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Settings read by inspecting one container: the ones `docker update` can change."""

    restart: str | None
    nano_cpus: int
    memory: int
    pids_limit: int | None


class _Labelled:
    """What every resource stackup made says about itself through its labels."""

    __slots__ = ()
    labels: Mapping[str, str]

    @property
    def project(self) -> str | None:
        return self.labels.get(label_keys.PROJECT)

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(label_keys.SPEC_HASH)

    @property
    def spec(self) -> dict[str, JsonValue]:
        """The applied spec, parsed from its label (empty when absent or unreadable)."""
        return _parse_spec(self.labels.get(label_keys.SPEC))


@dataclass(frozen=True, slots=True)
class ObservedContainer(_Labelled):
    id: str
    name: str
    labels: Mapping[str, str]
    state: str  # created, running, paused, restarting, removing, exited, dead
    status: str  # the engine's human status, e.g. "Up 3 minutes (healthy)"
    image_id: str
    image: str
    networks: frozenset[str]
    mounts: tuple[ObservedMount, ...] = ()
    created: int = 0
    live: LiveConfig | None = None
    ports: tuple[str, ...] = ()  # "127.0.0.1:8080->80/tcp"

    @property
    def service(self) -> str | None:
        return self.labels.get(label_keys.SERVICE)

    @property
    def number(self) -> int:
        try:
            return int(self.labels.get(label_keys.NUMBER, "1"))
        except ValueError:
            return 1

    @property
    def health(self) -> str | None:
        for word in ("healthy", "unhealthy", "health: starting"):
            if f"({word})" in self.status:
                return "starting" if word == "health: starting" else word
        return None

    @property
    def exit_code(self) -> int | None:
        # "Exited (137) 3 seconds ago"
        if self.state != "exited" or "(" not in self.status:
            return None
        try:
            return int(self.status.split("(", 1)[1].split(")", 1)[0])
        except ValueError:
            return None

    @property
    def is_temporary(self) -> bool:
        """A container made under a temporary name by a recreate that did not finish."""
        return self.name.endswith(label_keys.TEMPORARY_SUFFIX)


@dataclass(frozen=True, slots=True)
class ObservedNetwork(_Labelled):
    id: str
    name: str
    labels: Mapping[str, str]
    driver: str = "bridge"
    scope: str = "local"


@dataclass(frozen=True, slots=True)
class ObservedVolume(_Labelled):
    name: str
    labels: Mapping[str, str]
    driver: str = "local"


@dataclass(frozen=True)
class Observed:
    """The engine's state as far as one project is concerned.

    `containers` are the project's own (by label); `networks` and `volumes` are every one on
    the engine by name, because external resources carry no label of ours; `images` maps each
    local tag (`nginx:stable`) to its image ID; `foreign` are containers of a Docker Compose
    project with the same name, which `up` refuses to fight with.
    """

    project: str
    containers: tuple[ObservedContainer, ...] = ()
    networks: Mapping[str, ObservedNetwork] = field(default_factory=dict)
    volumes: Mapping[str, ObservedVolume] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    foreign: tuple[ObservedContainer, ...] = ()
    engine_id: str = ""

    def labelled(self) -> Iterator[Mapping[str, str]]:
        """The labels of the project's containers, in the order their salt is trusted
        (`stackup.planning.salt`): by name. Networks and volumes are not asked."""
        for c in sorted(self.containers, key=lambda c: c.name):
            yield c.labels

    def fingerprint(self) -> str:
        """A digest of everything reconcile reads, for `up --plan` to refuse a stale plan."""
        import hashlib

        parts = {
            "containers": sorted(
                [c.id, c.name, c.state, c.image_id, c.spec_hash or "", sorted(c.networks)]
                for c in self.containers
            ),
            "networks": sorted(
                [n.name, n.id, n.spec_hash or ""]
                for n in self.networks.values()
                if n.project == self.project
            ),
            "volumes": sorted(
                [v.name, v.spec_hash or ""]
                for v in self.volumes.values()
                if v.project == self.project
            ),
            "images": sorted(self.images.items()),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _parse_spec(text: str | None) -> dict[str, JsonValue]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
