"""Podman through its Docker-compatible API (`podman system service`): the `DockerEngine`
with what Podman does differently handled here, each difference named where it is handled
(the table in docs/podman.md). Recognised by its version endpoint, whose `Components` name
"Podman Engine"; `connect_engine` hands back this class for such an engine.

What differs, observed on Debian 12's podman 4.3.1 (API 1.41), and what this adapter does:
- images loaded or built locally are named `localhost/NAME:TAG`, and the compat API resolves
  `local/app:dev` to `docker.io/local/app:dev`: a name without a registry that exists as
  `localhost/…` is used under that name (observe, create, inspect, image paths), never pulled;
- `POST /containers/{id}/update` does not exist, and libpod's update changes the cgroup but
  not what inspect shows: no in-place update (the target kind lacks it, so a change a
  `docker update` would apply recreates, saying why) and no live settings to read (the
  applied-spec label is what the container runs with);
- health checks are not run without systemd (`State.Health` stays `starting`): while stackup
  looks at a container's health (the waits of `up`, `up --wait`), it runs the container's
  check through `GET /libpod/containers/{id}/healthcheck`, once per interval;
- inspect shows defaults Docker does not (PidsLimit 2048, ShmSize, MemorySwap, Ulimits,
  RestartPolicy "", extra environment, StopTimeout, the short ID as an alias): stackup compares
  the applied-spec label, not inspect, so none of them reads as drift; `inspect_raw` (what
  `import container` reads) is shaped as Docker's (`docker_shaped_inspect`);
- a container created without a stop timeout is killed at once by a stop: every container
  gets Docker's 10 s;
- the compat list lacks health, HostConfig, and names the default network `podman`; the
  compat `top` is empty; a name in use is a 500; a volume a mount makes is not labelled:
  each made to read as Docker's (`list_containers`, `processes`, `leases`, `create_container`).
The lock's image is made by an import that ignores its tag: tagged afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import re
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from stackup.engine.docker import payloads
from stackup.engine.docker.calls import counted, engine_errors, mutating
from stackup.engine.docker.engine import DockerEngine
from stackup.engine.docker.leases import (
    LEASE_IMAGE_REPOSITORY,
    LEASE_IMAGE_TAG,
    DockerLeases,
    tar_of,
)
from stackup.engine.docker.releases import DockerReleases
from stackup.engine.interface import ContainerProcess, ContainerSpec, ContainerState, VolumeSpec
from stackup.engine.observed import LiveConfig, Observed
from stackup.errors import EngineError
from stackup.model import labels
from stackup.model.spec import Service

PODMAN_COMPONENT = "Podman Engine"
LIBPOD_HEADER = "Libpod-Api-Version"
LOCAL_REGISTRY = "localhost/"
# Podman's default interval when a check gives none, as Docker's (30 s).
DEFAULT_INTERVAL = 30.0


def podman_version(version: Mapping[str, Any]) -> str | None:
    """The Podman version of a `GET /version` answer, None for another engine."""
    for component in version.get("Components") or []:
        if isinstance(component, Mapping) and component.get("Name") == PODMAN_COMPONENT:
            return str(component.get("Version") or version.get("Version") or "?")
    return None


def local_alias(name: str) -> str | None:
    """`localhost/local/app:dev` → `local/app:dev`: a local image's name as a stack file
    writes it; None for a name of another registry."""
    return name[len(LOCAL_REGISTRY) :] if name.startswith(LOCAL_REGISTRY) else None


def has_registry(image: str) -> bool:
    """Whether `image` names its registry (`registry.example:5000/app`, `localhost/app`)."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


class PodmanLeases(DockerLeases):
    image = f"{LOCAL_REGISTRY}{LEASE_IMAGE_REPOSITORY}:{LEASE_IMAGE_TAG}"

    def _make_image(self) -> None:
        # Podman's compat import names the image `<repository>:latest` whatever the tag asked:
        # the image is tagged by the ID the import answers with.
        with engine_errors(f"making the lock's image {self.image}"):
            answer = self.api.import_image_from_data(
                tar_of({}),
                repository=f"{LOCAL_REGISTRY}{LEASE_IMAGE_REPOSITORY}",
                changes=[f"LABEL {labels.LEASE}-image={LEASE_IMAGE_TAG}"],
            )
            image_id = json.loads(str(answer).splitlines()[-1]).get("id") or ""
            self.api.tag(image_id, f"{LOCAL_REGISTRY}{LEASE_IMAGE_REPOSITORY}", LEASE_IMAGE_TAG)
            # Only the tag stackup looks for stays (removing a name of a tagged image untags).
            self.api.remove_image(f"{LOCAL_REGISTRY}{LEASE_IMAGE_REPOSITORY}:latest")


# Podman's default network, which Docker calls `bridge` (`network_mode: bridge` lands there).
DEFAULT_NETWORK = "podman"
_PORT = re.compile(r"port (?P<host>[0-9.]+|\[[0-9a-fA-F:.]*\]):(?P<port>\d+)")


# What Podman's inspect adds to a container that Docker's does not, by default: read as if
# the container had been given nothing (`import container` writes only what was given).
PODMAN_PIDS_LIMIT = 2048
PODMAN_SHM_SIZE = 65536000
# Through the compat API 0, through `podman run` 10 (Docker's default): neither was given.
DOCKER_STOP_TIMEOUT = 10
PODMAN_STOP_TIMEOUTS = (0, DOCKER_STOP_TIMEOUT)
PODMAN_ENV = ("container=podman",)


def docker_shaped_inspect(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A container's inspect as Docker shows one created with the same request: without
    Podman's defaults (PidsLimit 2048, ShmSize 65536000, StopTimeout 0 or 10, the image's
    exposed ports as bindings to nothing, PidMode "private", Runtime "oci", WorkingDir "/",
    RestartPolicy "", the environment Podman adds: `container=podman`, `HOSTNAME`, `TERM`
    without a terminal, root's `HOME`), the image as the stack file names it, the stop
    signal by name, ulimits under Docker's names, the default network as `bridge`."""
    out = dict(raw)
    config = dict(out.get("Config") or {})
    host = dict(out.get("HostConfig") or {})
    hostname = str(config.get("Hostname") or "")
    added = {*PODMAN_ENV, f"HOSTNAME={hostname}"}
    if not config.get("Tty"):
        added.add("TERM=xterm")
    if str(config.get("User") or "") in ("", "root", "0"):
        added.add("HOME=/root")
    config["Env"] = [e for e in config.get("Env") or [] if e not in added]
    alias = local_alias(str(config.get("Image") or ""))
    if alias is not None:
        config["Image"] = alias
    if config.get("WorkingDir") == "/":
        config["WorkingDir"] = ""
    if config.get("StopTimeout") in PODMAN_STOP_TIMEOUTS:
        config.pop("StopTimeout")
    stop = str(config.get("StopSignal") or "")
    if stop.isdigit():
        with contextlib.suppress(ValueError):  # a number no signal has: left as it is
            config["StopSignal"] = signal.Signals(int(stop)).name
    # The image's exposed ports, listed as bindings to nothing: nothing is published.
    bindings = host.get("PortBindings") or {}
    host["PortBindings"] = {port: hosts for port, hosts in bindings.items() if hosts}
    if host.get("PidsLimit") == PODMAN_PIDS_LIMIT:
        host["PidsLimit"] = 0
    if host.get("ShmSize") == PODMAN_SHM_SIZE:
        host["ShmSize"] = 64 * 1024 * 1024
    for key, default in (("PidMode", "private"), ("Runtime", "oci"), ("UTSMode", "private")):
        if host.get(key) == default:
            host[key] = ""
    restart = dict(host.get("RestartPolicy") or {})
    if not restart.get("Name"):
        host["RestartPolicy"] = {**restart, "Name": "no"}
    host["Ulimits"] = [
        {**u, "Name": str(u.get("Name", "")).removeprefix("RLIMIT_").lower()}
        for u in host.get("Ulimits") or []
    ]
    settings = dict(out.get("NetworkSettings") or {})
    networks = dict(settings.get("Networks") or {})
    if DEFAULT_NETWORK in networks:
        networks["bridge"] = networks.pop(DEFAULT_NETWORK)
    settings["Networks"] = networks
    out.update(Config=config, HostConfig=host, NetworkSettings=settings)
    return out


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch of Podman's RFC 3339 time (nanoseconds, `Z` or an offset)."""
    found = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if found is None:
        return None
    zone = "+00:00" if found[3] == "Z" else found[3]
    fraction = float(found[2]) if found[2] else 0.0
    return datetime.datetime.fromisoformat(found[1] + zone).timestamp() + fraction


def _age(seconds: float) -> str:
    """`12s`, `3m`, `2h`, `4d`: as `docker ps` rounds an age."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class PodmanEngine(DockerEngine):
    """A Podman engine: `DockerEngine` with Podman's differences handled (module docstring).
    An override that calls the `DockerEngine` method is counted (and marked mutating) there,
    once; one that does not is decorated itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.leases = PodmanLeases(self.api)
        self.releases = DockerReleases(self.api, self.leases)  # records made from its image
        self.podman_version = "?"
        self._checked: dict[str, float] = {}  # container ID → when stackup last ran its check
        self._check_lock = threading.Lock()

    @classmethod
    def adopt(cls, engine: DockerEngine, version: str) -> PodmanEngine:
        """The Podman engine over `engine`'s connection (found by `DockerEngine.from_env`)."""
        podman = cls(engine.client, engine.endpoint)
        podman.tunnel = engine.tunnel
        podman.podman_version = version
        return podman

    def describe(self) -> str:
        major, minor = self.api_version
        return f"Podman {self.podman_version}, API {major}.{minor}, {self.base_url}"

    @property
    def release(self) -> str:
        """`Podman 4.3`: how plans name the engine when they say what it cannot do."""
        return "Podman " + ".".join(self.podman_version.split(".")[:2])

    # ------------------------------------------------------------------ image names

    def local_name(self, image: str) -> str:
        """The name this engine finds `image` under: `localhost/NAME` when `NAME` has no
        registry and only the local one exists (the compat API would look for
        `docker.io/NAME`); `image` itself otherwise."""
        if has_registry(image) or "/" not in image.split("@")[0]:
            return image  # Podman finds `nginx:1.27` as `localhost/nginx:1.27` by itself
        local = LOCAL_REGISTRY + image
        return local if self.images.image_id(local) is not None else image

    def observe(self, project: str) -> Observed:
        """The snapshot, with local images also under the names a stack file gives them."""
        observed = super().observe(project)
        images = dict(observed.images)
        for name, image_id in observed.images.items():
            alias = local_alias(name)
            if alias is not None:
                images.setdefault(alias, image_id)
        return dataclasses.replace(observed, images=images)

    def list_containers(
        self, *, all: bool = False, filters: Mapping[str, str | list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """Podman's compat list, as Docker's shows the same containers: the health in the
        status ("Up 3 minutes (healthy)", from libpod's list: one more request), no ports held
        by a container that is not running, the image as the stack file names it (not
        `localhost/…`), the default network as `bridge`, and a container without networks on
        the mode it has (`none`, `host`: from its inspect, since the list has no HostConfig)."""
        found = super().list_containers(all=all, filters=filters)
        if not found:
            return found
        health = self._health_by_id(all, filters or {})
        return [self._as_docker_lists(raw, health.get(str(raw.get("Id")), "")) for raw in found]

    def _as_docker_lists(self, raw: dict[str, Any], health: str) -> dict[str, Any]:
        raw = dict(raw)
        if health and "(" not in str(raw.get("Status", "")):
            words = "health: starting" if health == "starting" else health
            raw["Status"] = f"{raw.get('Status', '')} ({words})"
        if raw.get("State") not in ("running", "paused"):
            raw["Ports"] = []  # Podman lists a stopped container's ports; Docker, none held
        alias = local_alias(str(raw.get("Image", "")))
        if alias is not None:
            raw["Image"] = alias
        settings = dict(raw.get("NetworkSettings") or {})
        networks = dict(settings.get("Networks") or {})
        if DEFAULT_NETWORK in networks:
            networks["bridge"] = networks.pop(DEFAULT_NETWORK)
        if not networks:
            with engine_errors(f"inspecting container {raw.get('Id')}", missing_ok=True):
                mode = self.api.inspect_container(raw["Id"])["HostConfig"].get("NetworkMode")
                if mode in ("none", "host"):
                    networks[mode] = {}
        raw["NetworkSettings"] = {**settings, "Networks": networks}
        return raw

    def _health_by_id(self, all: bool, filters: Mapping[str, str | list[str]]) -> dict[str, str]:
        """Container ID → its health ("healthy", "unhealthy", "starting") from libpod's list."""
        as_lists = {k: [v] if isinstance(v, str) else list(v) for k, v in filters.items()}
        with engine_errors("listing the health of containers"):
            response = self.api.get(
                f"{self.base_url_for_libpod()}/containers/json",
                params={"all": str(all).lower(), "filters": json.dumps(as_lists)},
            )
            found = self.api._result(response, True)  # type: ignore[attr-defined]
        return {
            str(c.get("Id")): str(c.get("Status") or "")
            for c in found or []
            if c.get("Status") in ("healthy", "unhealthy", "starting")
        }

    def inspect_raw(self, container: str) -> dict[str, Any]:
        return docker_shaped_inspect(super().inspect_raw(container))

    def image_id(self, image: str) -> str | None:
        return super().image_id(self.local_name(image))

    def inspect_image_raw(self, image: str) -> dict[str, Any]:
        return super().inspect_image_raw(self.local_name(image))

    def image_path_kinds(self, image: str, paths: Sequence[str]) -> Mapping[str, str]:
        return super().image_path_kinds(self.local_name(image), paths)

    def create_container(self, spec: ContainerSpec) -> str:
        # A volume a mount creates gets no labels from Podman (it ignores the mount's
        # VolumeOptions.Labels): made first, labelled, as Docker would make it.
        for mount in spec.mounts:
            if mount.type == "volume" and mount.source and mount.volume_labels:
                self._ensure_volume(VolumeSpec(mount.source, dict(mount.volume_labels)))
        service = spec.service
        if service.stop_grace_period is None:
            # Podman stores a stop timeout of 0 for a container created without one, and
            # then stops it with SIGKILL at once; Docker waits 10 s for it to exit.
            grace = datetime.timedelta(seconds=DOCKER_STOP_TIMEOUT)
            service = service.model_copy(update={"stop_grace_period": grace})
        return super().create_container(
            dataclasses.replace(spec, image=self.local_name(spec.image), service=service)
        )

    def _ensure_volume(self, spec: VolumeSpec) -> None:
        try:
            with engine_errors(f"inspecting volume {spec.name}"):
                self.api.inspect_volume(spec.name)
                return
        except EngineError:
            pass
        self.create_volume(spec)

    def start_container(self, container: str) -> None:
        """Docker refuses a port another container holds as "already allocated"; Podman's
        runtime only finds the address in use: said as Docker says it, naming the holder."""
        try:
            super().start_container(container)
        except EngineError as exc:
            held = _PORT.search(str(exc))
            if held is None or "already in use" not in str(exc):
                raise
            port = f"{held['host']}:{held['port']}"
            for name, ports in self.published_ports().items():
                if any(p.startswith(port + "->") for p in ports):
                    raise EngineError(
                        f"starting container {container}: port {port} is already allocated "
                        f"(by container {name})"
                    ) from exc
            raise

    @counted
    def processes(self, container: str) -> tuple[ContainerProcess, ...]:
        # Podman 4.3's compat `top` answers 200 with an empty body; libpod's lists them.
        with engine_errors(f"listing the processes of container {container}"):
            response = self.api.get(
                f"{self.base_url_for_libpod()}/containers/{container}/top",
                params={"stream": "false"},
            )
            raw = self.api._result(response, True)  # type: ignore[attr-defined]
        return payloads.processes_from_top(raw, container)

    # ------------------------------------------------------------------ no in-place update

    @counted
    def live_configs(self, container_ids: Sequence[str]) -> Mapping[str, LiveConfig]:
        # Nothing can change these settings under the label (no compat update; libpod's
        # leaves inspect as it was), and inspect adds defaults (PidsLimit 2048): the label
        # is the truth, so no live settings are read.
        return {}

    @mutating
    def update_container(self, container: str, service: Service) -> None:
        raise EngineError(
            f"updating container {container}: {self.release} cannot update a running container",
            hint="the plan recreates it instead",
        )

    # ------------------------------------------------------------------ health checks

    @counted
    def inspect_container(self, container: str) -> ContainerState:
        """The container's state, its health check run first when one is due: Podman runs
        checks only through systemd timers, so without systemd stackup runs them while it
        waits (each interval, as Docker would)."""
        with engine_errors(f"inspecting container {container}"):
            raw = self.api.inspect_container(container)
        if self._check_due(raw):
            self.run_healthcheck(str(raw["Id"]))
            with engine_errors(f"inspecting container {container}"):
                raw = self.api.inspect_container(container)
        return payloads.container_state_from_inspect(raw)

    def _check_due(self, raw: Mapping[str, Any]) -> bool:
        state = raw.get("State") or {}
        check = (raw.get("Config") or {}).get("Healthcheck") or {}
        test = check.get("Test") or []
        if not state.get("Running") or not test or test[0] == "NONE":
            return False
        interval = (check.get("Interval") or 0) / 1e9 or DEFAULT_INTERVAL
        now = time.monotonic()
        with self._check_lock:
            last = self._checked.get(str(raw["Id"]))
            if last is not None and now - last < interval:
                return False
            self._checked[str(raw["Id"])] = now
        return True

    def health_checked(self, container_id: str) -> str:
        """How long ago the container's check last ran ("checked 3m ago"; "never checked"):
        Podman's health is only as fresh as the last time stackup ran the check."""
        with engine_errors(f"inspecting container {container_id}", missing_ok=True):
            raw = self.api.inspect_container(container_id)
            log = ((raw.get("State") or {}).get("Health") or {}).get("Log") or []
            ended = _parse_time(str(log[-1].get("End") or "")) if log else None
            if ended is None:
                return "never checked"
            return f"checked {_age(time.time() - ended)} ago"
        return ""

    def run_healthcheck(self, container_id: str) -> str:
        """Run the container's check once (libpod: `GET /libpod/containers/{id}/healthcheck`),
        recorded in its `State.Health` as Podman's timer would; the status it gives."""
        url = f"{self.base_url_for_libpod()}/containers/{container_id}/healthcheck"
        with engine_errors(f"running the health check of container {container_id[:12]}"):
            response = self.api.get(url)
            if response.status_code >= 400:
                return ""
        try:
            return str(json.loads(response.text or "{}").get("Status") or "")
        except ValueError:
            return ""

    def base_url_for_libpod(self) -> str:
        """The libpod API's root on this connection (`…/v4.0.0/libpod`)."""
        return f"{self.api.base_url}/v{self.podman_version}/libpod"


def connect_engine(context: str | None = None) -> DockerEngine:
    """The engine the docker CLI would use (`--context NAME` when given); a `PodmanEngine`
    when it answers as Podman."""
    engine = DockerEngine.from_env(context)
    with engine_errors("reading the engine's version"):
        # Podman names its version in a header of every answer (`Libpod-Api-Version`): the
        # ping says it at once, where Podman's version endpoint takes ~0.4 s (it asks conmon
        # and the runtime for theirs). Without the header, the version endpoint decides.
        ping = engine.api.get(engine.api._url("/_ping"))  # type: ignore[attr-defined]
        version = ping.headers.get(LIBPOD_HEADER) or podman_version(engine.api.version())
    return PodmanEngine.adopt(engine, version) if version else engine
