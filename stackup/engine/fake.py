"""An in-memory engine with `DockerEngine`'s interface, for fast tests of the pure core and
benchmarks of planning: names, labels, states, networks, mounts and image IDs. It runs no
process: a container runs until stopped, except one whose command is `true`, `false` or `echo`
(it ends at once; `exec_run` answers those the same way). tests/contract runs the same
scenarios on this engine and on Docker: where they differ for what the core relies on, a test
says so."""

from __future__ import annotations

import functools
import hashlib
import itertools
import posixpath
import tarfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar, cast

from stackup.engine.interface import (
    ContainerProcess,
    ContainerSpec,
    ContainerState,
    ExecResult,
    Lease,
    NetworkAttachment,
    NetworkSpec,
    PullEvent,
    StoredRelease,
    VolumeSpec,
)
from stackup.engine.observed import (
    LiveConfig,
    Observed,
    ObservedContainer,
    ObservedMount,
    ObservedNetwork,
    ObservedVolume,
)
from stackup.errors import EngineError
from stackup.model import effective, labels
from stackup.model.spec import Service

_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """The executor calls the engine from several threads at once: one call at a time here,
    as the real engine serialises changes to its own tables."""

    @functools.wraps(method)
    def wrapper(self: FakeEngine, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


@dataclass
class _Container:
    id: str
    name: str
    image: str
    image_id: str
    labels: dict[str, str]
    networks: set[str]
    mounts: list[ObservedMount]
    state: str = "created"
    exit_code: int = 0
    health: str | None = None
    live: LiveConfig = field(default_factory=lambda: LiveConfig("no", 0, 0, None))
    created: int = 0
    has_healthcheck: bool = False
    ports: tuple[str, ...] = ()  # "127.0.0.1:8080->80/tcp", as the engine lists them
    one_shot: ExecResult | None = None  # a command that ends at once: its exit code and output
    output: bytes = b""  # what it printed, for `logs`
    # Its worker processes' generation: a reload (HUP, `nginx -s reload`) starts a new one, as
    # nginx's master does (`processes` lists a master and two workers of the generation).
    generation: int = 0


class FakeEngine:
    """Implements `stackup.engine.interface.Engine` in memory. `calls` counts every method call."""

    def __init__(
        self, images: Mapping[str, str] | None = None, registry: Mapping[str, str] | None = None
    ) -> None:
        self.images: dict[str, str] = dict(images or {})
        self.registry: dict[str, str] = dict(registry or {})  # what `pull` finds, else `images`
        self.containers: dict[str, _Container] = {}
        # name -> id, kept with `containers`, so a lookup by name costs the same for 5,000
        # containers as for 5 (the offline review of a big stack runs on this engine).
        self._names: dict[str, str] = {}
        self.networks: dict[str, ObservedNetwork] = {}
        self.volumes: dict[str, ObservedVolume] = {}
        self.calls: Counter[str] = Counter()
        self.execs: list[tuple[str, tuple[str, ...]]] = []  # (container, command), in order
        self.copied: list[tuple[str, str, bytes]] = []  # put_files: (container, path, tar)
        # write_host_files: the engine's host's files by absolute path.
        self.host_files: dict[str, bytes] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        # Volumes a mount made without a name: the only ones `remove_container(volumes=True)`
        # removes, as the engine keeps every named volume.
        self.anonymous_volumes: set[str] = set()
        self.health_on_start: dict[str, str] = {}  # service → health after start
        self.exit_on_start: dict[str, int] = {}  # service → exits at once with this code
        # What an image holds at a path (image ref → path → directory, file, ...), for
        # `image_path_kinds`; a path not listed is missing.
        self.image_files: dict[str, dict[str, str]] = {}
        self.beats: dict[str, str] = {}  # a lease's ID → its last renewal
        self.release_files: dict[str, dict[str, bytes]] = {}  # a release record's ID → its files

    # ------------------------------------------------------------------ helpers for tests

    def _new_id(self, seed: str) -> str:
        return hashlib.sha256(f"{seed}-{next(self._ids)}".encode()).hexdigest()

    def _find(self, ref: str) -> _Container:
        found = self._get(ref)
        if found is None:
            raise EngineError(f"no such container: {ref}")
        return found

    def _get(self, ref: str) -> _Container | None:
        return self.containers.get(ref) or self.containers.get(self._names.get(ref, ""))

    def _running(self, ref: str, doing: str) -> _Container:
        c = self._find(ref)
        if c.state != "running":
            raise EngineError(f"{doing}: container {c.name} is not running")
        return c

    def _forget(self, c: _Container) -> None:
        del self.containers[c.id]
        self._names.pop(c.name, None)

    @_locked
    def set_image(self, ref: str, image_id: str) -> None:
        self.images[ref] = image_id

    # ------------------------------------------------------------------ Engine

    def engine_id(self) -> str:
        return "fake-engine"

    @_locked
    def observe(self, project: str) -> Observed:
        self.calls["observe"] += 1
        ours = []
        foreign = []
        for c in self.containers.values():
            oc = self._observed(c)
            # Two label filters, as the engine is asked: a container carrying both labels
            # is in both lists.
            if c.labels.get(labels.PROJECT) == project and labels.LEASE not in c.labels:
                ours.append(oc)  # (a lease carries the label too, and is none of its resources)
            if c.labels.get(labels.COMPOSE_PROJECT) == project:
                foreign.append(oc)
        return Observed(
            project=project,
            containers=tuple(sorted(ours, key=lambda c: c.name)),
            networks=dict(self.networks),
            volumes=dict(self.volumes),
            images=dict(self.images),
            foreign=tuple(sorted(foreign, key=lambda c: c.name)),
            engine_id=self.engine_id(),
        )

    @staticmethod
    def _status(c: _Container) -> str:
        if c.state == "running":
            return "Up 1 second" + (f" ({c.health})" if c.health else "")
        if c.state == "exited":
            return f"Exited ({c.exit_code}) 1 second ago"
        return c.state.capitalize()

    @_locked
    def live_config(self, container_id: str) -> LiveConfig:
        self.calls["live_config"] += 1
        return self._find(container_id).live

    @_locked
    def live_configs(self, container_ids: Sequence[str]) -> Mapping[str, LiveConfig]:
        self.calls["live_configs"] += 1
        return {cid: self.containers[cid].live for cid in container_ids if cid in self.containers}

    @_locked
    def published_ports(self) -> Mapping[str, tuple[str, ...]]:
        self.calls["published_ports"] += 1
        return {
            c.name: c.ports for c in self.containers.values() if c.state == "running" and c.ports
        }

    @_locked
    def image_path_kinds(self, image: str, paths: Sequence[str]) -> Mapping[str, str]:
        self.calls["image_path_kinds"] += 1
        refs = (image, image + ":latest")  # as create_container finds an image
        if not any(ref in self.images for ref in refs):
            return {}
        files = next((self.image_files[ref] for ref in refs if ref in self.image_files), {})
        return {path: files.get(path, "missing") for path in paths}

    @_locked
    def unmanaged_containers(self, names: Sequence[str]) -> tuple[ObservedContainer, ...]:
        self.calls["unmanaged_containers"] += 1
        wanted = set(names)
        return tuple(
            self._observed(c)
            for c in sorted(self.containers.values(), key=lambda c: c.name)
            if c.name in wanted
            and labels.PROJECT not in c.labels
            and labels.COMPOSE_PROJECT not in c.labels
        )

    def _observed(self, c: _Container) -> ObservedContainer:
        return ObservedContainer(
            id=c.id,
            name=c.name,
            labels=dict(c.labels),
            state=c.state,
            status=self._status(c),
            image_id=c.image_id,
            image=c.image,
            networks=frozenset(c.networks),
            mounts=tuple(c.mounts),
            created=c.created,
            ports=c.ports if c.state == "running" else (),
        )

    @_locked
    def create_network(self, spec: NetworkSpec) -> str:
        self.calls["create_network"] += 1
        if spec.name in self.networks:
            raise EngineError(f"network with name {spec.name} already exists")
        nid = self._new_id(spec.name)
        self.networks[spec.name] = ObservedNetwork(
            nid, spec.name, dict(spec.labels), spec.driver or "bridge"
        )
        return nid

    @_locked
    def remove_network(self, name: str) -> None:
        self.calls["remove_network"] += 1
        if any(name in c.networks for c in self.containers.values()):
            raise EngineError(f"network {name} has active endpoints")
        self.networks.pop(name, None)

    @_locked
    def connect(self, container: str, attachment: NetworkAttachment) -> None:
        self.calls["connect"] += 1
        if attachment.network not in self.networks:
            raise EngineError(f"network {attachment.network} not found")
        self._find(container).networks.add(attachment.network)

    @_locked
    def disconnect(self, container: str, network: str) -> None:
        self.calls["disconnect"] += 1
        c = self._get(container)
        if c is not None:  # a container that is gone is not on the network either
            c.networks.discard(network)

    @_locked
    def create_volume(self, spec: VolumeSpec) -> None:
        self.calls["create_volume"] += 1
        self.volumes.setdefault(
            spec.name, ObservedVolume(spec.name, dict(spec.labels), spec.driver or "local")
        )

    @_locked
    def remove_volume(self, name: str) -> None:
        self.calls["remove_volume"] += 1
        if any(m.name == name for c in self.containers.values() for m in c.mounts):
            raise EngineError(f"volume {name} is in use")
        self.volumes.pop(name, None)
        self.anonymous_volumes.discard(name)

    @_locked
    def create_container(self, spec: ContainerSpec) -> str:
        self.calls["create_container"] += 1
        if spec.name in self._names:
            raise EngineError(f'Conflict. The container name "/{spec.name}" is already in use')
        image_id = self.images.get(spec.image) or self.images.get(spec.image + ":latest")
        if image_id is None and spec.image in self.images.values():
            image_id = spec.image  # an image by its ID
        if image_id is None:
            raise EngineError(f"No such image: {spec.image}")
        # Refused before anything is made. (Engines before API 1.44 accept the create and
        # refuse the start; later ones refuse here.)
        for att in spec.networks:
            if att.network not in self.networks:
                raise EngineError(f"network {att.network} not found")
        mounts = []
        for m in spec.mounts:
            if m.type == "volume":
                name = m.source
                if name is None:
                    name = self._new_id("anon")
                    self.anonymous_volumes.add(name)
                if name not in self.volumes:
                    self.volumes[name] = ObservedVolume(name, dict(m.volume_labels))
                mounts.append(ObservedMount("volume", name, None, m.target))
            else:
                mounts.append(ObservedMount(m.type, None, m.source, m.target))
        cid = self._new_id(spec.name)
        hc = spec.service.healthcheck
        self.containers[cid] = _Container(
            id=cid,
            name=spec.name,
            image=spec.image,
            image_id=image_id,
            labels=dict(spec.labels),
            networks=_networks(spec),
            mounts=mounts,
            live=_live(spec.service),
            one_shot=_one_shot(spec.service),
            created=next(self._ids),
            has_healthcheck=hc is not None and not hc.disable and bool(hc.test),
            ports=tuple(
                f"{p.host_ip or '0.0.0.0'}:{p.published}->{p.target}/{p.protocol}"
                for p in spec.service.ports
                if p.published
            ),
        )
        self._names[spec.name] = cid
        return cid

    @_locked
    def start_container(self, container: str) -> None:
        self.calls["start_container"] += 1
        c = self._find(container)
        service = c.labels.get(labels.SERVICE, "")
        if service in self.exit_on_start:
            c.state, c.exit_code = "exited", self.exit_on_start[service]
            return
        # Only a container that publishes ports can collide (and most publish none: a scan of
        # every container per start made applying a large stack quadratic).
        for other in self.containers.values() if c.ports else ():
            taken = set(other.ports) & set(c.ports) if other.state == "running" else set()
            if other is not c and taken:
                host = min(taken).split("->", 1)[0]
                raise EngineError(
                    f"driver failed programming external connectivity on endpoint {c.name}: "
                    f"Bind for {host} failed: port is already allocated"
                )
        if c.one_shot is not None:
            c.state, c.exit_code, c.health = "exited", c.one_shot.exit_code, None
            c.output += c.one_shot.output.encode()
            return
        c.state = "running"
        # A container with a healthcheck passes it at once, unless a test says otherwise.
        c.health = self.health_on_start.get(service, "healthy" if c.has_healthcheck else None)

    @_locked
    def stop_container(self, container: str, timeout: float | None = None) -> None:
        self.calls["stop_container"] += 1
        c = self._get(container)
        if c is not None and c.state == "running":
            # No process here to exit on SIGTERM: it is taken to exit 0 within its grace
            # period. With none (timeout 0) the engine kills it at once: 128 + SIGKILL.
            c.state, c.exit_code = "exited", 137 if timeout == 0 else 0

    @_locked
    def remove_container(self, container: str, *, volumes: bool = False) -> None:
        self.calls["remove_container"] += 1
        c = self._get(container)
        if c is None:  # gone already: not an error
            return
        self._forget(c)
        if volumes:
            for m in c.mounts:
                if m.type == "volume" and m.name in self.anonymous_volumes:
                    self.volumes.pop(m.name, None)
                    self.anonymous_volumes.discard(m.name)

    @_locked
    def rename_container(self, container: str, new_name: str) -> None:
        self.calls["rename_container"] += 1
        if new_name in self._names:
            raise EngineError(f'Conflict. The container name "/{new_name}" is already in use')
        c = self._find(container)
        del self._names[c.name]
        c.name = new_name
        self._names[new_name] = c.id

    @_locked
    def update_container(self, container: str, service: Service) -> None:
        self.calls["update_container"] += 1
        c = self._find(container)
        new = _live(service)
        # The engine cannot lift a memory or CPU limit in place (0 means "leave as is").
        for what, old_value, new_value in (
            ("memory limit", c.live.memory, new.memory),
            ("CPU limit", c.live.nano_cpus, new.nano_cpus),
        ):
            if old_value and not new_value:
                raise EngineError(
                    f"updating container {container}: the engine cannot remove a {what} "
                    "in place; the container must be recreated"
                )
        c.live = new

    @_locked
    def inspect_container(self, container: str) -> ContainerState:
        self.calls["inspect_container"] += 1
        c = self._find(container)
        return ContainerState(
            id=c.id,
            name=c.name,
            status=c.state,
            exit_code=c.exit_code,
            health=c.health,
            health_log="",
            started_at="",
            finished_at="",
        )

    @_locked
    def kill_container(self, container: str, signal: str) -> None:
        self.calls["kill_container"] += 1
        c = self._running(container, f"sending {signal}")
        # The main process is PID 1 with no handler of its own: the kernel drops every
        # signal but SIGKILL (and SIGSTOP) sent to it.
        if signal.upper().removeprefix("SIG") in ("KILL", "9"):
            c.state, c.exit_code, c.health = "exited", 137, None
        elif signal.upper().removeprefix("SIG") in ("HUP", "1"):
            c.generation += 1

    @_locked
    def processes(self, container: str) -> tuple[ContainerProcess, ...]:
        self.calls["processes"] += 1
        c = self._running(container, "listing processes")
        first = 100 * (c.generation + 1)
        return (
            ContainerProcess(1, 0, "nginx: master process"),
            *(ContainerProcess(first + i, 1, "nginx: worker process") for i in range(2)),
        )

    @_locked
    def exec_run(
        self,
        container: str,
        command: Sequence[str],
        *,
        user: str | None = None,
        working_dir: str | None = None,
        environment: Sequence[str] = (),
        privileged: bool = False,
    ) -> ExecResult:
        self.calls["exec_run"] += 1
        self._running(container, f"running {' '.join(command)!r}")
        self.execs.append((container, tuple(command)))
        if list(command)[:3] == ["nginx", "-s", "reload"]:
            self._find(container).generation += 1
        return _exec(command)

    @_locked
    def put_files(self, container: str, path: str, archive: bytes) -> None:
        self.calls["put_files"] += 1
        c = self._running(container, "copying files")
        self.copied.append((c.name, path, archive))

    @_locked
    def write_host_files(self, directory: str, archive: BinaryIO) -> None:
        """As the engine extracts an archive: an entry replaces what is at its path (a
        directory with all it holds), except a directory over a directory."""
        self.calls["write_host_files"] += 1
        with tarfile.open(fileobj=archive) as tar:
            for entry in tar.getmembers():
                path = posixpath.join(directory, entry.name)
                if not entry.isdir():
                    for held in [p for p in self.host_files if p.startswith(path + "/")]:
                        del self.host_files[held]
                if entry.isfile():
                    data = tar.extractfile(entry)
                    self.host_files[path] = data.read() if data is not None else b""

    @_locked
    def read_host_files(self, directory: str, path: str) -> Mapping[str, bytes]:
        self.calls["read_host_files"] += 1
        base = posixpath.join(directory, path)
        return {
            p.removeprefix(base + "/"): data
            for p, data in self.host_files.items()
            if p.startswith(base + "/")
        }

    @_locked
    def pull(self, image: str, progress: Callable[[PullEvent], None] | None = None) -> str:
        self.calls["pull"] += 1
        image_id = self.registry.get(image) or self.images.get(image)
        if image_id is None:
            raise EngineError(f"pull access denied for {image}")
        if progress is not None:
            progress(PullEvent(image, image_id[7:19], "Pull complete"))
        self.images[image] = image_id
        return image_id

    @_locked
    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        self.calls["logs"] += 1
        c = self._find(container)
        lines = c.output.splitlines(keepends=True)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return iter(lines)

    # ------------------------------------------------------------------ Leases

    @_locked
    def take_lease(self, name: str, project: str, holder: Mapping[str, str]) -> str | None:
        """A lease is a container, created and never started, as on the real engine: its
        name is taken from the containers' names."""
        self.calls["take_lease"] += 1
        if name in self._names:
            return None
        tags = {labels.PROJECT: project, labels.LEASE: name}
        tags.update({f"{labels.LEASE}.{key}": value for key, value in holder.items()})
        cid = self._new_id(name)
        self.containers[cid] = _Container(
            cid, name, "stackup/lock:1", "sha256:" + "10" * 32, tags, set(), []
        )
        self._names[name] = cid
        return cid

    @_locked
    def read_lease(self, name: str) -> Lease | None:
        self.calls["read_lease"] += 1
        c = self._get(name)
        if c is None:
            return None
        if c.labels.get(labels.LEASE) != name:
            raise EngineError(f"the container {name} is in the way of the project's lock")
        prefix = labels.LEASE + "."
        holder = {k[len(prefix) :]: v for k, v in c.labels.items() if k.startswith(prefix)}
        return Lease(c.id, holder, self.beats.get(c.id, ""))

    @_locked
    def renew_lease(self, lease_id: str, beat: str) -> bool:
        self.calls["renew_lease"] += 1
        if lease_id not in self.containers:
            return False
        self.beats[lease_id] = beat
        return True

    @_locked
    def drop_lease(self, lease_id: str) -> None:
        self.calls["drop_lease"] += 1
        c = self.containers.get(lease_id)
        if c is not None:
            self._forget(c)
        self.beats.pop(lease_id, None)

    # ------------------------------------------------------------------ ReleaseStore

    @_locked
    def record_release(
        self, name: str, project: str, tags: Mapping[str, str], files: Mapping[str, bytes]
    ) -> str:
        """A release is a container, created and never started, as on the real engine."""
        self.calls["record_release"] += 1
        if name in self._names:
            raise EngineError(f'Conflict. The container name "/{name}" is already in use')
        cid = self._new_id(name)
        self.containers[cid] = _Container(
            cid,
            name,
            "stackup/lock:1",
            "sha256:" + "10" * 32,
            {**tags, labels.RELEASE_PROJECT: project},
            set(),
            [],
        )
        self._names[name] = cid
        self.release_files[cid] = dict(files)
        return cid

    @_locked
    def list_releases(self, project: str) -> tuple[StoredRelease, ...]:
        self.calls["list_releases"] += 1
        return tuple(
            StoredRelease(c.id, dict(c.labels))
            for c in self.containers.values()
            if c.labels.get(labels.RELEASE_PROJECT) == project
        )

    @_locked
    def read_release(self, record_id: str, path: str) -> Mapping[str, bytes]:
        self.calls["read_release"] += 1
        held = self.release_files.get(record_id, {})
        if path in held:
            return {posixpath.basename(path): held[path]}
        prefix = path.rstrip("/") + "/"
        found = {k[len(prefix) :]: v for k, v in held.items() if k.startswith(prefix)}
        if not found:
            raise EngineError(f"the release record {record_id[:12]} has no {path}")
        return found

    @_locked
    def drop_release(self, record_id: str) -> None:
        self.calls["drop_release"] += 1
        c = self.containers.get(record_id)
        if c is not None:
            self._forget(c)
        self.release_files.pop(record_id, None)

    @_locked
    def image_id(self, image: str) -> str | None:
        self.calls["image_id"] += 1
        found = self.images.get(image) or self.images.get(image + ":latest")
        if found is None and image in self.images.values():
            return image
        return found

    # ------------------------------------------------------------------ drift, for tests

    @_locked
    def stop_by_hand(self, name: str, exit_code: int = 137) -> None:
        c = self._find(name)
        c.state, c.exit_code = "exited", exit_code

    @_locked
    def remove_by_hand(self, name: str) -> None:
        self._forget(self._find(name))


def _live(service: Service) -> LiveConfig:
    """What the engine would report for a container created or updated with `service`."""
    return LiveConfig(
        restart=effective.restart(service).text,
        nano_cpus=effective.nano_cpus(service),
        memory=effective.memory_limit(service),
        pids_limit=effective.pids_limit(service),
    )


def _networks(spec: ContainerSpec) -> set[str]:
    """The networks the engine lists a new container on: its attachments; with none, the
    default bridge; with a `network_mode`, that network, or none for `container:<name>`."""
    if spec.network_mode is not None:
        return set() if spec.network_mode.startswith("container:") else {spec.network_mode}
    return {a.network for a in spec.networks} or {"bridge"}


def _exec(command: Sequence[str]) -> ExecResult:
    """The fake runs no process: `true`, `false` and `echo` answer as in a shell, anything
    else succeeds with no output."""
    match list(command):
        case ["false", *_]:
            return ExecResult(1, "")
        case ["echo", *words]:
            return ExecResult(0, " ".join(words) + "\n")
        case _:
            return ExecResult(0, "")


def _one_shot(service: Service) -> ExecResult | None:
    """What a container whose command is `true`, `false` or `echo …` (no entrypoint) does
    when started: the engine runs it and it ends at once, having printed what `echo` prints.
    Every other container is taken to keep running (and to print nothing)."""
    if service.entrypoint or not service.command:
        return None
    if service.command[0] in ("true", "false", "echo"):
        return _exec(service.command)
    return None
