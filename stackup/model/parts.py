"""The parts of a service in a stack file: build, ports, volumes, dependencies, networks,
health check, deploy and the smaller settings, each a frozen pydantic model that accepts
every short form Compose allows and keeps one long form (`stackup.model.spec` assembles
them into `Service` and `Stack`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from stackup.model.base import (
    ByteSize,
    CleanTarget,
    Command,
    Duration,
    EnvMapping,
    LabelMapping,
    Model,
    NumberText,
    PositiveInt,
    StrList,
    TextMapping,
)
from stackup.model.shortsyntax import MAX_PORTS, parse_port, parse_volume

# --------------------------------------------------------------------------- build


class Ulimit(Model):
    soft: int
    hard: int


def _ulimits(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ({"soft": v, "hard": v} if isinstance(v, int) and not isinstance(v, bool) else v)
            for k, v in value.items()
        }
    return value


class FileRef(Model):
    """A service's use of a top-level secret or config."""

    source: str
    target: CleanTarget | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


def _file_refs(value: Any) -> Any:
    if isinstance(value, list):
        return [{"source": item} if isinstance(item, str) else item for item in value]
    return value


class Build(Model):
    context: str = "."
    dockerfile: str | None = None
    dockerfile_inline: str | None = None
    args: Annotated[dict[str, str | None], BeforeValidator(lambda v: _env_like(v, "build arg"))] = (
        Field(default_factory=dict, json_schema_extra={"type": ["object", "array"]})
    )
    target: str | None = None
    labels: LabelMapping = Field(default_factory=dict)
    cache_from: list[str] = Field(default_factory=list)
    cache_to: list[str] = Field(default_factory=list)
    network: str | None = None
    shm_size: ByteSize | None = None
    extra_hosts: list[str] = Field(default_factory=list)
    no_cache: bool = False
    pull: bool = False
    platforms: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    ssh: list[str] = Field(default_factory=list)
    secrets: Annotated[
        list[FileRef], BeforeValidator(_file_refs, json_schema_input_type=list[str | FileRef])
    ] = Field(default_factory=list)
    additional_contexts: TextMapping = Field(default_factory=dict)
    isolation: str | None = None
    privileged: bool = False
    entitlements: list[str] = Field(default_factory=list)
    ulimits: Annotated[
        dict[str, Ulimit], BeforeValidator(_ulimits, json_schema_input_type=dict[str, int | Ulimit])
    ] = Field(default_factory=dict)
    provenance: str | bool | None = None
    sbom: str | bool | None = None
    no_cache_filter: StrList = Field(default_factory=list)


def _env_like(value: Any, what: str) -> Any:
    from stackup.model.base import _mapping

    return _mapping(what)(value)


def _build(value: Any) -> Any:
    return {"context": value} if isinstance(value, str) else value


# --------------------------------------------------------------------------- ports and volumes


class Port(Model):
    target: int = Field(ge=0, le=65535)
    published: NumberText | None = Field(default=None, pattern=r"^\d+(-\d+)?$")
    host_ip: str | None = None
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = "ingress"
    name: str | None = None
    app_protocol: str | None = None


MAX_REPLICAS = 10_000
# The containers of a whole stack (every service's scale or replicas, --scale included): 50
# services at the per-service cap would be half a million containers to plan.
MAX_CONTAINERS = 2 * MAX_REPLICAS


def _ports(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, str | int) and not isinstance(item, bool):
            out.extend(parse_port(item, MAX_PORTS - len(out)))
        else:
            out.append(item)
    return out


class BindOptions(Model):
    propagation: str | None = None
    create_host_path: bool = True
    selinux: Literal["z", "Z"] | None = None
    recursive: Literal["enabled", "disabled", "writable", "readonly"] | None = None


class VolumeOptions(Model):
    nocopy: bool = False
    subpath: str | None = None
    # None, not {}: an unset key must not change the canonical spec of existing containers.
    labels: LabelMapping | None = None


class ImageOptions(Model):
    subpath: str | None = None


class TmpfsOptions(Model):
    size: ByteSize | None = None
    mode: int | None = None


class ServiceVolume(Model):
    type: Literal["bind", "volume", "tmpfs", "npipe", "cluster", "image"]
    source: str | None = None
    target: CleanTarget
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    image: ImageOptions | None = None

    @model_validator(mode="after")
    def _source_required(self) -> ServiceVolume:
        if self.type == "bind" and not self.source:
            raise ValueError("a bind mount needs a source path")
        if self.type == "image" and not self.source:
            raise ValueError("an image mount needs a source image")
        return self


def _volumes(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [parse_volume(item) if isinstance(item, str) else item for item in value]


# --------------------------------------------------------------------------- dependencies


class DependsOn(Model):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    restart: bool = False
    required: bool = True


def _depends_on(value: Any) -> Any:
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise ValueError("depends_on list entries must be service names")
        return {name: {} for name in value}
    return value


class ServiceNetwork(Model):
    aliases: list[str] = Field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: list[str] = Field(default_factory=list)
    mac_address: str | None = None
    priority: int | None = None
    gw_priority: int | None = None
    driver_opts: TextMapping = Field(default_factory=dict)
    interface_name: str | None = None


def _service_networks(value: Any) -> Any:
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise ValueError("networks list entries must be network names")
        return {name: {} for name in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- health, deploy


class Healthcheck(Model):
    test: Command | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: PositiveInt | None = None
    start_period: Duration | None = None
    start_interval: Duration | None = None
    disable: bool = False

    @field_validator("test", mode="before")
    @classmethod
    def _shell_form(cls, value: Any) -> Any:
        # A plain string is run by the container's shell, as Compose and Docker do.
        return ["CMD-SHELL", value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Healthcheck:
        if self.test and self.test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise ValueError('test must start with "CMD", "CMD-SHELL" or "NONE", or be a string')
        if self.test == ["NONE"]:
            return self.model_copy(update={"disable": True})
        return self


class DeviceRequest(Model):
    """A device the engine's device drivers provide (`gpus`, `deploy.resources.reservations
    .devices`): by capability, driver, count or IDs."""

    capabilities: list[str] = Field(default_factory=list)
    count: int | Literal["all"] | None = None
    device_ids: list[str] = Field(default_factory=list)
    driver: str | None = None
    options: TextMapping = Field(default_factory=dict)

    @field_validator("count", mode="before")
    @classmethod
    def _count_text(cls, value: Any) -> Any:
        # `count: "2"` (a string, as interpolation gives) is a number.
        return int(value) if isinstance(value, str) and value.isdigit() else value


def _gpus(value: Any) -> Any:
    """`gpus: all` is every GPU: one request for the `gpu` capability with no count limit."""
    return [{"capabilities": ["gpu"], "count": "all"}] if value == "all" else value


class DiscreteResource(Model):
    kind: str
    value: int


class GenericResource(Model):
    discrete_resource_spec: DiscreteResource | None = None


class ResourceSpec(Model):
    cpus: NumberText | None = None
    memory: ByteSize | None = None
    pids: int | None = None
    devices: list[DeviceRequest] = Field(default_factory=list)
    generic_resources: list[GenericResource] = Field(default_factory=list)


class Resources(Model):
    limits: ResourceSpec | None = None
    reservations: ResourceSpec | None = None


class UpdateConfig(Model):
    parallelism: PositiveInt | None = None
    delay: Duration | None = None
    failure_action: Literal["continue", "pause", "rollback"] | None = None
    monitor: Duration | None = None
    max_failure_ratio: float | None = None
    order: Literal["stop-first", "start-first"] | None = None


class RestartPolicy(Model):
    condition: Literal["none", "on-failure", "any"] | None = None
    delay: Duration | None = None
    max_attempts: PositiveInt | None = None
    window: Duration | None = None


class Placement(Model):
    constraints: list[str] = Field(default_factory=list)
    preferences: list[dict[str, str]] = Field(default_factory=list)
    max_replicas_per_node: PositiveInt | None = None


class Deploy(Model):
    mode: Literal["replicated", "global", "replicated-job", "global-job"] = "replicated"
    # A cap: each replica is a container planned in memory (1e9 would never finish).
    replicas: Annotated[int, Field(ge=0, le=MAX_REPLICAS)] | None = None
    endpoint_mode: Literal["vip", "dnsrr"] | None = None
    labels: LabelMapping = Field(default_factory=dict)
    resources: Resources | None = None
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    restart_policy: RestartPolicy | None = None
    placement: Placement | None = None


# --------------------------------------------------------------------------- misc service parts


class BlkioLimit(Model):
    path: str
    rate: ByteSize


class BlkioWeight(Model):
    path: str
    weight: int = Field(ge=10, le=1000)


class BlkioConfig(Model):
    weight: int | None = Field(default=None, ge=10, le=1000)
    weight_device: list[BlkioWeight] = Field(default_factory=list)
    device_read_bps: list[BlkioLimit] = Field(default_factory=list)
    device_read_iops: list[BlkioLimit] = Field(default_factory=list)
    device_write_bps: list[BlkioLimit] = Field(default_factory=list)
    device_write_iops: list[BlkioLimit] = Field(default_factory=list)


class CredentialSpec(Model):
    config: str | None = None
    file: str | None = None
    registry: str | None = None


class ServiceHook(Model):
    """A `post_start` / `pre_stop` command, run in the container as `docker exec` would."""

    command: Command
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: EnvMapping = Field(default_factory=dict)


class PreStartHook(Model):
    """A `pre_start` step (Compose 5.3, compose-spec#647): an init container run to completion
    before the service's container starts. What it leaves unset it takes from the service, as
    compose-go's `types.PreStartHook` inherits the service's container spec: the image (the
    service's, after `extends` and every `-f` file are merged), entrypoint, user, working
    directory, networks and mounts; `environment` adds to the service's."""

    image: str | None = None
    command: Command | None = None
    entrypoint: Command | None = None
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: EnvMapping = Field(default_factory=dict)
    per_replica: bool = False

    @field_validator("per_replica")
    @classmethod
    def _once_per_service(cls, value: bool) -> bool:
        if value:  # as Compose (docker/compose#14259)
            raise ValueError(
                "per_replica: true is not supported yet (as in Compose); a pre_start step "
                "runs once per service, before its first container starts"
            )
        return value


class Provider(Model):
    """A service another tool manages (`docker model`, a cloud provider plugin)."""

    type: str
    options: dict[str, str | int | float | bool | list[str | int | float | bool]] = Field(
        default_factory=dict
    )


class ServiceModel(Model):
    """A service's use of a top-level model: the variables that receive its endpoint and name."""

    endpoint_var: str | None = None
    model_var: str | None = None


def _service_models(value: Any) -> Any:
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise ValueError("models list entries must be model names")
        return {name: {} for name in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class DeviceMapping(Model):
    """The long syntax of a `devices` entry (input only: stored as `source:target:perms`)."""

    source: str
    target: str | None = None
    permissions: str | None = None


def _devices(value: Any) -> Any:
    """The long syntax (`{source, target, permissions}`) as the short one, `src:dst:perms`:
    one shape downstream, and the canonical spec of existing containers unchanged."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, dict) and set(item) <= {"source", "target", "permissions"}:
            source = item.get("source")
            if not isinstance(source, str) or not source:
                raise ValueError("a device needs a `source` path on the host")
            target = item.get("target") or source
            perms = item.get("permissions")
            out.append(f"{source}:{target}:{perms}" if perms else f"{source}:{target}")
        else:
            out.append(item)
    return out


def _microseconds(value: Any) -> Any:
    """`cpu_rt_runtime: 950ms` or `950000`: the engine wants microseconds."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        from datetime import timedelta

        from stackup.model.units import parse_duration

        parsed = parse_duration(value)
        return int(parsed.total_seconds() * 1_000_000) if isinstance(parsed, timedelta) else parsed
    return value


Microseconds = Annotated[int, BeforeValidator(_microseconds, json_schema_input_type=int | str)]


class Logging(Model):
    driver: str | None = None
    options: Annotated[
        dict[str, str | None], BeforeValidator(lambda v: _env_like(v, "logging option"))
    ] = Field(default_factory=dict)


class WatchRule(Model):
    path: str
    action: Literal["sync", "rebuild", "restart", "sync+restart", "sync+exec"]
    target: str | None = None
    ignore: StrList = Field(default_factory=list)
    include: StrList = Field(default_factory=list)
    initial_sync: bool = False
    exec: dict[str, JsonValue] | None = None


class Develop(Model):
    watch: list[WatchRule] = Field(default_factory=list)


class EnvFile(Model):
    path: str
    required: bool = True
    format: str | None = None


def _env_files(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [{"path": item} if isinstance(item, str) else item for item in value]
    return value


def _extra_hosts(value: Any) -> Any:
    if isinstance(value, dict):
        out = []
        for host, ip in value.items():
            for one in ip if isinstance(ip, list) else [ip]:
                out.append(f"{host}={one}")
        return out
    return value


def _restart(value: Any) -> Any:
    # YAML 1.1 readers turn an unquoted `no` into false.
    return "no" if value is False else value


def _expose(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


RESTART_PATTERN = r"^(no|always|unless-stopped|on-failure(:\d+)?)$"
