"""The small interface everything but `stackup.engine.docker` talks to, and the values it takes.

`DockerEngine` implements it over the Docker SDK; `FakeEngine` (stackup.engine.fake) keeps the
same state in memory for fast tests of the pure core. Operations are primitives: the plan
decides, the engine only does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from stackup.engine.observed import LiveConfig, Observed, ObservedContainer
from stackup.model.spec import Service


@dataclass(frozen=True, slots=True)
class MountSpec:
    type: str  # bind, volume, tmpfs, image
    target: str
    source: str | None = (
        None  # host path, or the engine's volume name (None: a new anonymous volume)
    )
    read_only: bool = False
    propagation: str | None = None
    create_host_path: bool = True
    nocopy: bool = False
    subpath: str | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    recursive: str | None = None  # bind: enabled (default), disabled, writable, readonly
    volume_labels: tuple[tuple[str, str], ...] = ()  # for a volume the mount creates
    image_subpath: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkAttachment:
    network: str  # the engine's network name
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None
    interface_name: str | None = None


@dataclass(frozen=True, slots=True)
class FileCopy:
    """Content written into a container before it starts (secrets/configs given inline)."""

    target: str
    content: bytes
    mode: int = 0o444


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container. `service` carries the settings that map
    one-to-one onto the engine's; the rest is resolved here (names, mounts, networks)."""

    name: str
    image: str
    service: Service
    labels: Mapping[str, str]
    environment: Mapping[str, str]
    networks: tuple[NetworkAttachment, ...] = ()
    network_mode: str | None = None  # "container:<name>", "host", "none", ...
    volumes_from: tuple[str, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    files: tuple[FileCopy, ...] = ()
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    name: str
    labels: Mapping[str, str]
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool | None = None
    enable_ipv4: bool | None = None  # False: an IPv6-only network (API 1.48+)
    ipam_driver: str | None = None
    ipam_pools: tuple[Mapping[str, str], ...] = ()
    ipam_options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    name: str
    labels: Mapping[str, str]
    driver: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One container inspected: what waits and health checks need."""

    id: str
    name: str
    status: str  # created, running, exited, ...
    exit_code: int
    health: str | None  # starting, healthy, unhealthy, or None without a healthcheck
    health_log: str  # the last health-check output, for error messages
    started_at: str
    finished_at: str


@dataclass(frozen=True, slots=True)
class ContainerProcess:
    """One process of a running container, as the engine's process list (`top`) shows it.
    PIDs are the engine's view (the host's on Docker); only their relations matter here."""

    pid: int
    ppid: int
    command: str  # the command line, as `ps` shows it (nginx retitles its processes)


@dataclass(frozen=True, slots=True)
class PullEvent:
    image: str
    layer: str | None
    status: str
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A named lease held on the engine (`Leases`), as one read found it."""

    id: str  # the engine's ID of this lease: one taken again under the same name has another
    holder: Mapping[str, str]  # what its taker said about itself (host, user, pid, since, ...)
    beat: str  # what its holder wrote at its last renewal ("" before the first)


@runtime_checkable
class Leases(Protocol):
    """Named leases kept on the engine itself, so that every client of one engine (on this
    host, another user's, another machine's over SSH) sees the same ones: what the project
    lock is held with (`stackup.targets.engine.lock`, which decides when a lease is stale).
    An engine without them is locked on this host only."""

    def engine_id(self) -> str: ...

    def take_lease(self, name: str, project: str, holder: Mapping[str, str]) -> str | None:
        """Create the lease `name` for `holder`, atomically: its ID, or None when a lease of
        that name exists (whoever made it). It carries the project's label, so what removes
        a project's resources by label removes it too; `observe` never shows it."""
        ...

    def read_lease(self, name: str) -> Lease | None:
        """The lease `name`, or None when there is none."""
        ...

    def renew_lease(self, lease_id: str, beat: str) -> bool:
        """Record a renewal (`beat` changes each time); False when the lease is gone."""
        ...

    def drop_lease(self, lease_id: str) -> None:
        """Remove the lease by its ID (one already gone is not an error): never by name, so
        a lease taken again since is left alone."""
        ...


@runtime_checkable
class ProjectEvents(Protocol):
    """An engine that tells when a project's resources change (Docker's event stream), so a
    page re-plans at once instead of polling (`stackup ui`). An engine without it is polled."""

    def follow_project_events(
        self, project: str, on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        """Call `on_change` at each event of the project's containers, networks and volumes
        (not of its lock's lease) until `stop` is set; returns then, or when the stream ends
        or breaks."""
        ...


@dataclass(frozen=True, slots=True)
class StoredRelease:
    """One release record on the engine (`ReleaseStore`), as listing found it."""

    id: str  # the engine's ID of the record
    labels: Mapping[str, str]  # what the listing shows of it (number, time, author, commit)


@runtime_checkable
class ReleaseStore(Protocol):
    """A project's releases kept on the engine itself (stackup.usecases.releases), so every
    client of one engine sees the same history: each record made once, read back, removed.
    None carries the project's label: `observe` (and `docker ps` by that label) never shows
    one."""

    def record_release(
        self, name: str, project: str, tags: Mapping[str, str], files: Mapping[str, bytes]
    ) -> str:
        """Make the record `name` with `tags` and holding `files` (path → content); its ID.
        Refused (EngineError) when a record of that name exists."""
        ...

    def list_releases(self, project: str) -> tuple[StoredRelease, ...]: ...

    def read_release(self, record_id: str, path: str) -> Mapping[str, bytes]:
        """The regular files of the record under `path`, by path relative to it (`path`
        itself, a file, under its own name)."""
        ...

    def drop_release(self, record_id: str) -> None:
        """Remove the record (one already gone is not an error)."""
        ...

    def image_id(self, image: str) -> str | None:
        """The ID of the image `image` (a tag or an ID) on the engine, None when it has none."""
        ...


class Engine(Protocol):
    def engine_id(self) -> str: ...

    def observe(self, project: str) -> Observed: ...

    def live_config(self, container_id: str) -> LiveConfig: ...

    def live_configs(self, container_ids: Sequence[str]) -> Mapping[str, LiveConfig]:
        """`live_config` of each container, by ID; one that is gone is left out."""
        ...

    def published_ports(self) -> Mapping[str, tuple[str, ...]]:
        """Every running container on the engine (any project) by name, with the host ports
        it publishes ("127.0.0.1:8080->80/tcp"): who holds a port `up` wants."""
        ...

    def unmanaged_containers(self, names: Sequence[str]) -> tuple[ObservedContainer, ...]:
        """The containers with exactly these names that neither stackup nor Docker Compose
        made (no project label of either): what `up --adopt` replaces with managed ones.
        One list call."""
        ...

    def image_path_kinds(self, image: str, paths: Sequence[str]) -> Mapping[str, str]:
        """What `image` holds at each absolute path: `directory`, `file`, `symlink`, `other`
        or `missing` (`stackup.planning.bindsources`); nothing for an image the engine does not
        have (creating a container of it reports that). Changes nothing that stays: the files
        are read through a container created for it (never started) and removed at once."""
        ...

    def create_network(self, spec: NetworkSpec) -> str: ...

    def remove_network(self, name: str) -> None: ...

    def connect(self, container: str, attachment: NetworkAttachment) -> None: ...

    def disconnect(self, container: str, network: str) -> None: ...

    def create_volume(self, spec: VolumeSpec) -> None: ...

    def remove_volume(self, name: str) -> None: ...

    def create_container(self, spec: ContainerSpec) -> str: ...

    def start_container(self, container: str) -> None: ...

    def stop_container(self, container: str, timeout: float | None = None) -> None: ...

    def remove_container(self, container: str, *, volumes: bool = False) -> None: ...

    def rename_container(self, container: str, new_name: str) -> None: ...

    def update_container(self, container: str, service: Service) -> None: ...

    def inspect_container(self, container: str) -> ContainerState: ...

    def kill_container(self, container: str, signal: str) -> None: ...

    def processes(self, container: str) -> tuple[ContainerProcess, ...]:
        """The processes running in `container` (the Engine API's `top`, so it works on a
        remote engine too): how a reload is seen to be live."""
        ...

    def exec_run(
        self,
        container: str,
        command: Sequence[str],
        *,
        user: str | None = None,
        working_dir: str | None = None,
        environment: Sequence[str] = (),
        privileged: bool = False,
    ) -> ExecResult: ...

    def put_files(self, container: str, path: str, archive: bytes) -> None:
        """Extract a tar archive into a container at `path` (watch mode's sync)."""
        ...

    def write_host_files(self, directory: str, archive: BinaryIO) -> None:
        """Extract a tar archive (a stream, read to its end) into `directory` on the engine's
        host (made if missing), through the engine itself: no login on that host
        (stackup.planning.shipping)."""
        ...

    def read_host_files(self, directory: str, path: str) -> Mapping[str, bytes]:
        """The regular files under `directory/path` on the engine's host, by path relative
        to it; empty when there is none."""
        ...

    def pull(self, image: str, progress: Callable[[PullEvent], None] | None = None) -> str: ...

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]: ...


# What a project's lock is held on (`Target.lock_engine`): an engine, with its leases when it
# has them (stackup.targets.engine.lock).
LockEngine = Engine | Leases


class ReleaseEngine(Engine, ReleaseStore, Protocol):
    """An engine that keeps releases (the Docker engine, the in-memory fake)."""
