"""The `Engine` over a real Docker engine (with `calls`, `images` and `execs`, in the only
sub-package that imports `docker`). `DockerEngine` answers every call of the protocol; the image
and log calls and the exec calls it hands to the `DockerImages` and `DockerExecs` it holds over
the same client.

Reads go through the SDK's low-level client (`client.api`) and return raw JSON, which
`stackup.engine.docker.convert` turns into stackup's values; the high-level models would inspect
every container of a list one by one. `observe()` makes a constant number of requests
whatever the number of services: two filtered container lists (ours, and Docker Compose's
of the same project name), one network list, one volume list, one image list (plus `GET /info`
once per engine object, for the engine's ID).

Idempotency, so an apply killed half-way converges on the next run: removing a container,
network or volume that is already gone, stopping a container that is gone, disconnecting one
that is not connected and connecting one that already is are not errors. Every other refusal
of the engine becomes an `EngineError` naming the resource; a lost connection becomes an
`EngineUnavailableError`.

Every call to the engine is counted by method name in `DockerEngine.calls`. The methods that
change the engine (create, start, stop, remove, rename, kill, update, connect, disconnect, and
the network and volume create/remove calls) are named, as data, in `DockerEngine.MUTATING`
(`DockerSwarm.MUTATING` names the swarm's): the crash tests wrap those
(tests/engine/faulty_stackup.py) to kill the process after any one of them.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import docker
import docker.errors
import requests.exceptions
from docker.tls import TLSConfig

from stackup.engine.docker import connect as conn
from stackup.engine.docker import convert, payloads
from stackup.engine.docker.calls import (
    counted,
    engine_errors,
    explain,
    mutating,
    mutating_methods,
    port_in_use,
)
from stackup.engine.docker.execs import DockerExecs
from stackup.engine.docker.hijack import keep_buffered_output
from stackup.engine.docker.hostfiles import DockerHostFiles
from stackup.engine.docker.images import DockerImages
from stackup.engine.docker.leases import DockerLeases
from stackup.engine.docker.releases import DockerReleases
from stackup.engine.docker.ssh import SshTunnel
from stackup.engine.docker.ssh import open_tunnel as open_ssh_tunnel
from stackup.engine.interface import (
    ContainerProcess,
    ContainerSpec,
    ContainerState,
    Engine,
    ExecResult,
    Lease,
    Leases,
    NetworkAttachment,
    NetworkSpec,
    PullEvent,
    ReleaseStore,
    StoredRelease,
    VolumeSpec,
)
from stackup.engine.observed import LiveConfig, Observed, ObservedContainer
from stackup.errors import EngineError
from stackup.model import labels
from stackup.model.parts import Build
from stackup.model.spec import Service


class DockerEngine:
    """`stackup.engine.interface.Engine` over the Docker SDK. Thread-safe enough for the executor's
    pool: every call is one or a few HTTP requests on a shared connection pool."""

    # The names of the methods that change the engine (set below the class, from `mutating`).
    MUTATING: ClassVar[frozenset[str]]

    def __init__(self, client: docker.DockerClient, endpoint: conn.Endpoint | None = None) -> None:
        self.client = client
        self.api = client.api
        self.endpoint = endpoint
        self.calls: Counter[str] = Counter()
        self._engine_id: str | None = None
        self.tunnel: SshTunnel | None = None  # the ssh process an ssh:// engine goes through
        major, _, minor = str(self.api.api_version).partition(".")
        self.api_version = (int(major), int(minor or 0))
        self.images = DockerImages(self.api)
        self.execs = DockerExecs(self.api)
        self.leases = DockerLeases(self.api)
        self.host_files = DockerHostFiles(self.api)
        self.releases = DockerReleases(self.api, self.leases)

    # ------------------------------------------------------------------ connection

    @classmethod
    def from_env(cls, context: str | None = None, *, timeout: int = 120) -> DockerEngine:
        """The engine the docker CLI would talk to (see `stackup.engine.docker.connect`), answering a ping.

        (Not `connect`: that name is the `Engine` protocol's network connect.)"""
        tried: list[tuple[conn.Endpoint, str]] = []
        for endpoint in conn.resolve(context):
            tls: TLSConfig | bool = False
            if endpoint.tls is not None:
                tls = TLSConfig(
                    client_cert=endpoint.tls.client_cert,
                    ca_cert=endpoint.tls.ca_cert,
                    verify=endpoint.tls.ca_cert
                    if endpoint.tls.verify and endpoint.tls.ca_cert
                    else endpoint.tls.verify,
                )
            base_url = endpoint.base_url
            tunnel = None
            if base_url.startswith("ssh://"):
                # The system ssh client forwards a local socket (stackup.engine.docker.ssh);
                # a failed login is the answer, named with ssh's reason: no other endpoint
                # is tried after an explicit ssh:// one.
                tunnel = open_ssh_tunnel(base_url)
                base_url = tunnel.base_url
            try:
                client = docker.DockerClient(
                    base_url=base_url, tls=tls, timeout=timeout, max_pool_size=32
                )
                keep_buffered_output(client.api)
                client.api.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                if tunnel is not None:
                    tunnel.close()
                tried.append((endpoint, _short(exc)))
                continue
            engine = cls(client, endpoint)
            engine.tunnel = tunnel
            return engine
        raise conn.unavailable(tried)

    @property
    def base_url(self) -> str:
        """Where the engine is (`unix:///var/run/docker.sock`, `tcp://…`), as the docker CLI's
        `-H` takes it. For an `ssh://` engine: this command's forwarded socket, so a docker CLI
        handed the engine (`exec -it`) goes through the same connection and ssh settings."""
        if self.tunnel is not None:
            return self.tunnel.base_url
        return self.endpoint.base_url if self.endpoint is not None else str(self.api.base_url)

    def describe(self) -> str:
        """`Docker 20.10.24, API 1.41, unix:///var/run/docker.sock`: `stackup --version`."""
        with engine_errors("reading the engine's version"):
            version = self.api.version().get("Version", "?")
        major, minor = self.api_version
        return f"Docker {version}, API {major}.{minor}, {self.base_url}"

    def close(self) -> None:
        self.client.close()
        if self.tunnel is not None:
            self.tunnel.close()

    @counted
    def engine_id(self) -> str:
        if self._engine_id is None:
            with engine_errors("reading the engine's info"):
                self._engine_id = str(self.api.info()["ID"])
        return self._engine_id

    # ------------------------------------------------------------------ reads

    @counted
    def observe(self, project: str) -> Observed:
        engine_id = self.engine_id()
        with engine_errors(f"listing the resources of project {project!r}"):
            own = self.list_containers(all=True, filters={"label": f"{labels.PROJECT}={project}"})
            foreign = self.list_containers(
                all=True, filters={"label": f"{labels.COMPOSE_PROJECT}={project}"}
            )
            networks = self.api.networks()
            volumes = self.api.volumes().get("Volumes") or []
            images = self.api.images()
        return payloads.observed_from_payloads(
            project,
            containers=own,
            foreign=foreign,
            networks=networks,
            volumes=volumes,
            images=images,
            engine_id=engine_id,
        )

    def list_containers(
        self, *, all: bool = False, filters: Mapping[str, str | list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """`GET /containers/json`: the list form every read of containers starts from (an
        engine variant adapts its payloads to Docker's shape here)."""
        return list(self.api.containers(all=all, filters=dict(filters or {})))

    @counted
    def live_config(self, container_id: str) -> LiveConfig:
        with engine_errors(f"inspecting container {container_id}"):
            raw = self.api.inspect_container(container_id)
        return payloads.live_config_from_inspect(raw)

    @counted
    def live_configs(self, container_ids: Sequence[str]) -> Mapping[str, LiveConfig]:
        """The in-place-updatable settings of many containers, inspected concurrently.

        The list call `observe` makes cannot answer this: its `HostConfig` holds only
        `NetworkMode` (API 1.41 and later alike), and the applied-spec label keeps the
        creation values, not what `docker update` (ours or by hand) set since. So each
        container costs one inspect; sent in parallel over the client's connection pool, a
        no-op plan waits about one round trip for them, not one per container.
        """
        ids = list(dict.fromkeys(container_ids))
        if not ids:
            return {}
        if len(ids) == 1:
            found = self._live_or_none(ids[0])
            return {ids[0]: found} if found is not None else {}
        with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
            results = list(pool.map(self._live_or_none, ids))
        return {cid: live for cid, live in zip(ids, results, strict=True) if live is not None}

    def _live_or_none(self, container_id: str) -> LiveConfig | None:
        # Removed between the list and the inspect: it is simply not there any more.
        with engine_errors(f"inspecting container {container_id}", missing_ok=True):
            return payloads.live_config_from_inspect(self.api.inspect_container(container_id))
        return None

    @counted
    def published_ports(self) -> Mapping[str, tuple[str, ...]]:
        with engine_errors("listing running containers"):
            raw = self.list_containers()
        out: dict[str, tuple[str, ...]] = {}
        for payload in raw:
            c = payloads.container_from_payload(payload)
            if c.ports:
                out[c.name] = c.ports
        return out

    @counted
    def image_path_kinds(self, image: str, paths: Sequence[str]) -> Mapping[str, str]:
        if not paths:
            return {}
        out: dict[str, str] = {}
        with engine_errors(f"reading paths in image {image}"):
            try:
                # A container is the engine's only window on an image's files; created with
                # a command of its own (an image may have none), never started.
                created = self.api.create_container(
                    image,
                    command=["stackup-path-probe"],
                    labels={labels.PATH_PROBE: "1"},
                    network_disabled=True,
                )
            except docker.errors.ImageNotFound:
                return {}
            try:
                url = (
                    f"{self.api.base_url}/v{self.api.api_version}/containers/"
                    f"{created['Id']}/archive"
                )
                for path in paths:
                    # HEAD: the path's stat header alone, not the archive of its content.
                    response = self.api.head(url, params={"path": path})
                    if response.status_code == 404:
                        out[path] = "missing"
                        continue
                    response.raise_for_status()
                    header = response.headers.get("X-Docker-Container-Path-Stat", "")
                    out[path] = payloads.path_kind(header)
            finally:
                self.api.remove_container(created["Id"], force=True)
        return out

    @counted
    def unmanaged_containers(self, names: Sequence[str]) -> tuple[ObservedContainer, ...]:
        if not names:
            return ()
        with engine_errors("listing containers by name"):
            # The engine's name filter matches substrings: keep the exact names only.
            raw = self.list_containers(all=True, filters={"name": list(names)})
        wanted = set(names)
        found = (payloads.container_from_payload(payload) for payload in raw)
        return tuple(
            sorted(
                (
                    c
                    for c in found
                    if c.name in wanted
                    and labels.PROJECT not in c.labels
                    and labels.COMPOSE_PROJECT not in c.labels
                ),
                key=lambda c: c.name,
            )
        )

    @counted
    def inspect_container(self, container: str) -> ContainerState:
        with engine_errors(f"inspecting container {container}"):
            raw = self.api.inspect_container(container)
        return payloads.container_state_from_inspect(raw)

    @counted
    def inspect_raw(self, container: str) -> dict[str, Any]:
        """The engine's full inspect document (`import container`, tests, diagnostics)."""
        with engine_errors(f"inspecting container {container}"):
            return dict(self.api.inspect_container(container))

    @counted
    def inspect_image_raw(self, image: str) -> dict[str, Any]:
        """The engine's inspect document of an image (its defaults, for `import container`)."""
        with engine_errors(f"inspecting image {image}"):
            return dict(self.api.inspect_image(image))  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ networks, volumes

    @mutating
    def create_network(self, spec: NetworkSpec) -> str:
        ipam: dict[str, Any] | None = None
        if spec.ipam_driver or spec.ipam_pools or spec.ipam_options:
            ipam = {
                "Driver": spec.ipam_driver or "default",
                "Config": [_ipam_pool(pool) for pool in spec.ipam_pools],
                "Options": dict(spec.ipam_options),
            }
        if spec.enable_ipv4 is False:
            return self._create_network_raw(spec, ipam)
        with engine_errors(f"creating network {spec.name}"):
            result = self.api.create_network(
                spec.name,
                driver=spec.driver,
                options=dict(spec.driver_opts) or None,
                ipam=ipam,  # type: ignore[arg-type]  # the SDK sends any mapping as-is
                check_duplicate=True,
                internal=spec.internal,
                labels=dict(spec.labels),
                enable_ipv6=bool(spec.enable_ipv6),
                attachable=spec.attachable or None,
            )
        return str(result["Id"])

    def _create_network_raw(self, spec: NetworkSpec, ipam: dict[str, Any] | None) -> str:
        """`POST /networks/create` with `EnableIPv4`, which the SDK does not send."""
        body: dict[str, Any] = {
            "Name": spec.name,
            "Driver": spec.driver or "bridge",
            "Options": dict(spec.driver_opts),
            "Internal": spec.internal,
            "Labels": dict(spec.labels),
            "EnableIPv4": False,
            "EnableIPv6": bool(spec.enable_ipv6),
            "Attachable": spec.attachable,
        }
        if ipam is not None:
            body["IPAM"] = ipam
        api: Any = self.api  # the SDK's request helpers are private, hence untyped
        with engine_errors(f"creating network {spec.name}"):
            result = api._result(api._post_json(api._url("/networks/create"), data=body), json=True)
        return str(result["Id"])

    @mutating
    def remove_network(self, name: str) -> None:
        with engine_errors(f"removing network {name}", missing_ok=True):
            self.api.remove_network(name)

    @mutating
    def connect(self, container: str, attachment: NetworkAttachment) -> None:
        try:
            with engine_errors(f"connecting {container} to network {attachment.network}"):
                self.api.connect_container_to_network(
                    container,
                    attachment.network,
                    aliases=list(attachment.aliases) or None,
                    ipv4_address=attachment.ipv4_address,
                    ipv6_address=attachment.ipv6_address,
                    driver_opt=(
                        {convert.IFNAME_OPTION: attachment.interface_name}
                        if attachment.interface_name
                        else None
                    ),
                )
        except EngineError as exc:
            # Connecting twice is refused with "endpoint with name … already exists" (Podman:
            # "… is already connected to network …").
            if "already exists" not in str(exc) and "already connected" not in str(exc):
                raise

    @mutating
    def disconnect(self, container: str, network: str) -> None:
        try:
            with engine_errors(
                f"disconnecting {container} from network {network}", missing_ok=True
            ):
                self.api.disconnect_container_from_network(container, network)
        except EngineError as exc:
            if "is not connected" not in str(exc):
                raise

    @mutating
    def create_volume(self, spec: VolumeSpec) -> None:
        with engine_errors(f"creating volume {spec.name}"):
            self.api.create_volume(
                spec.name,
                driver=spec.driver or "local",
                driver_opts=dict(spec.driver_opts) or None,
                labels=dict(spec.labels),
            )

    @mutating
    def remove_volume(self, name: str) -> None:
        with engine_errors(f"removing volume {name}", missing_ok=True):
            self.api.remove_volume(name)

    # ------------------------------------------------------------------ containers

    @mutating
    def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container, attach its other networks and copy its files in.

        Counted as one mutating call: if the process dies between the create and the last
        connect, the next observe sees the container with networks missing (drift).
        """
        body, more_networks = convert.container_body(spec, api_version=self.api_version)
        with engine_errors(f"creating container {spec.name} (image {spec.image})"):
            result = self.api.create_container_from_config(  # type: ignore[no-untyped-call]
                body, name=spec.name, platform=spec.service.platform
            )
        container_id = str(result["Id"])
        for attachment in more_networks:
            with engine_errors(f"connecting {spec.name} to network {attachment.network}"):
                self.api.connect_container_to_network(
                    container_id,
                    attachment.network,
                    aliases=list(attachment.aliases) or None,
                    ipv4_address=attachment.ipv4_address,
                    ipv6_address=attachment.ipv6_address,
                )
        if spec.files:
            with engine_errors(f"copying files into {spec.name}"):
                self.api.put_archive(container_id, "/", convert.files_tar(spec.files))
        return container_id

    @mutating
    def start_container(self, container: str) -> None:
        what = f"starting container {container}"
        with engine_errors(what):
            try:
                self.api.start(container)
            except docker.errors.APIError as exc:
                # A port no container publishes is held on the engine's host: on a remote
                # engine, `up`'s check could not see it (stackup.targets.engine.preflight).
                in_use = port_in_use(explain(exc))
                if in_use is None:
                    raise
                raise EngineError(f"{what}: {in_use}") from exc

    @mutating
    def stop_container(self, container: str, timeout: float | None = None) -> None:
        """Stop; a container already gone counts as stopped. `timeout=None` uses the
        container's own stop timeout (`stop_grace_period`)."""
        seconds = None if timeout is None else max(0, round(timeout))
        with engine_errors(f"stopping container {container}", missing_ok=True):
            self.api.stop(container, timeout=seconds)

    @mutating
    def remove_container(self, container: str, *, volumes: bool = False) -> None:
        """Force-remove; a container already gone (or being removed) is not an error.
        `volumes=True` also removes its anonymous volumes, never named ones."""
        try:
            with engine_errors(f"removing container {container}", missing_ok=True):
                self.api.remove_container(container, v=volumes, force=True)
        except EngineError as exc:
            if "already in progress" not in str(exc):
                raise

    @mutating
    def rename_container(self, container: str, new_name: str) -> None:
        with engine_errors(f"renaming container {container} to {new_name}"):
            self.api.rename(container, new_name)

    @mutating
    def kill_container(self, container: str, signal: str) -> None:
        with engine_errors(f"sending {signal} to container {container}"):
            self.api.kill(container, signal=signal)

    @counted
    def processes(self, container: str) -> tuple[ContainerProcess, ...]:
        # No `ps_args`: the engine's default listing is the one every engine accepts (Podman's
        # compatible API and a remote engine's ps included); its columns are found by title.
        with engine_errors(f"listing the processes of container {container}"):
            raw = self.api.top(container)
        return payloads.processes_from_top(raw, container)

    @mutating
    def update_container(self, container: str, service: Service) -> None:
        """`docker update`: restart policy, CPU, memory and pids limits, in place.

        The engine cannot lift a memory or CPU limit on a live container (a zero means "leave
        as is"), so asking to remove one is an `EngineError`: that change needs a recreate.
        """
        body = convert.update_body(service)
        with engine_errors(f"updating container {container}"):
            live = self.api.inspect_container(container)["HostConfig"]
            for key, what in (("Memory", "memory limit"), ("NanoCpus", "CPU limit")):
                if live.get(key) and not body.get(key):
                    raise EngineError(
                        f"updating container {container}: the engine cannot remove a {what} "
                        "in place; the container must be recreated"
                    )
            response = self.api._post_json(  # type: ignore[attr-defined]
                self.api._url("/containers/{0}/update", container),  # type: ignore[attr-defined]
                data=body,
            )
            self.api._result(response, True)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ images, logs, execs

    @counted
    def pull(self, image: str, progress: Callable[[PullEvent], None] | None = None) -> str:
        return self.images.pull(image, progress)

    @counted
    def build_image(self, build: Build, tag: str) -> Iterator[str]:
        return self.images.build_image(build, tag)

    @counted
    def image_id(self, image: str) -> str | None:
        return self.images.image_id(image)

    @counted
    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        return self.images.logs(container, follow=follow, tail=tail, timestamps=timestamps)

    @counted
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
        return self.execs.exec_run(
            container,
            command,
            user=user,
            working_dir=working_dir,
            environment=environment,
            privileged=privileged,
        )

    @counted
    def put_files(self, container: str, path: str, archive: bytes) -> None:
        self.execs.put_files(container, path, archive)

    @mutating
    def write_host_files(self, directory: str, archive: BinaryIO) -> None:
        self.host_files.write(directory, archive)

    @counted
    def read_host_files(self, directory: str, path: str) -> Mapping[str, bytes]:
        return self.host_files.read(directory, path)

    @counted
    def exec_stream(
        self,
        container: str,
        command: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        environment: Sequence[str] = (),
        on_output: Callable[[bytes], object] | None = None,
    ) -> int:
        return self.execs.exec_stream(
            container,
            command,
            user=user,
            workdir=workdir,
            environment=environment,
            on_output=on_output,
        )

    # ------------------------------------------------------------------ releases (history, rollback)

    # Records, like the lock's leases, not the project's resources: not crash points.
    @counted
    def record_release(
        self, name: str, project: str, tags: Mapping[str, str], files: Mapping[str, bytes]
    ) -> str:
        return self.releases.record(name, project, tags, files)

    @counted
    def list_releases(self, project: str) -> tuple[StoredRelease, ...]:
        return self.releases.list(project)

    @counted
    def read_release(self, record_id: str, path: str) -> Mapping[str, bytes]:
        return self.releases.read(record_id, path)

    @counted
    def drop_release(self, record_id: str) -> None:
        self.releases.drop(record_id)

    # ------------------------------------------------------------------ leases (the project lock)

    @counted
    def take_lease(self, name: str, project: str, holder: Mapping[str, str]) -> str | None:
        return self.leases.take(name, project, holder)

    @counted
    def read_lease(self, name: str) -> Lease | None:
        return self.leases.read(name)

    @counted
    def renew_lease(self, lease_id: str, beat: str) -> bool:
        return self.leases.renew(lease_id, beat)

    @counted
    def drop_lease(self, lease_id: str) -> None:
        self.leases.drop(lease_id)

    @counted
    def list_projects(self) -> list[dict[str, str | int]]:
        """The stackup projects on the engine (`stackup ls`): name, a status summary like
        Compose's (`running(2), exited(1)`) and the number of containers. One request."""
        with engine_errors("listing stackup projects"):
            raw = self.api.containers(all=True, filters={"label": labels.PROJECT})
        states: dict[str, Counter[str]] = {}
        for item in raw:
            found = item.get("Labels") or {}
            project = found.get(labels.PROJECT)
            if project and labels.LEASE not in found:  # a lock is not one of its containers
                states.setdefault(project, Counter())[str(item.get("State", ""))] += 1
        return [
            {
                "name": name,
                "status": ", ".join(f"{state}({n})" for state, n in sorted(counts.items())),
                "containers": sum(counts.values()),
            }
            for name, counts in sorted(states.items())
        ]

    def follow_project_events(
        self, project: str, on_change: Callable[[], None], stop: threading.Event
    ) -> None:
        """`ProjectEvents`: the engine's event stream filtered by the project's label."""
        with engine_errors(f"following the events of project {project}"):
            stream = self.api.events(filters={"label": f"{labels.PROJECT}={project}"}, decode=True)

        ended = threading.Event()

        def close_when_stopped() -> None:
            while not stop.wait(0.5):
                if ended.is_set():
                    return
            with contextlib.suppress(Exception):  # closing a broken stream breaks nothing
                stream.close()

        threading.Thread(target=close_when_stopped, daemon=True, name="events-close").start()
        # Closed by the thread above (or broken): the iteration ends with whatever the
        # transport raises then, which only means "no more events".
        try:
            with contextlib.suppress(Exception):
                for event in stream:
                    if stop.is_set():
                        return
                    attributes = (event.get("Actor") or {}).get("Attributes") or {}
                    if labels.LEASE not in attributes:  # the lock's heartbeat is no change
                        on_change()
        finally:
            ended.set()


DockerEngine.MUTATING = mutating_methods(DockerEngine)


def _ipam_pool(pool: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "subnet": "Subnet",
        "ip_range": "IPRange",
        "gateway": "Gateway",
        "aux_addresses": "AuxiliaryAddresses",
    }
    return {names.get(k, k): v for k, v in pool.items() if v is not None}


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"


def connect_engine(context: str | None = None) -> DockerEngine:
    """The engine the docker CLI would use (`--context NAME` when given)."""
    return DockerEngine.from_env(context)


if TYPE_CHECKING:  # mypy proves DockerEngine implements the Engine protocol

    def _implements_engine(engine: DockerEngine) -> Engine:
        return engine

    def _implements_leases(engine: DockerEngine) -> Leases:
        return engine

    def _implements_releases(engine: DockerEngine) -> ReleaseStore:
        return engine
