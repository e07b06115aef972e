"""Desired state: frozen pydantic models of a stack file (the Compose Specification, plus
stackup's own `x-stackup` settings).

Every short form Compose allows is accepted on input and normalised to one long form here, so
code downstream sees one shape: ports and volumes are long-syntax records, `environment` and
`labels` are mappings, `command` is a list of words, `depends_on` is a mapping of conditions,
and every service names its networks (`default` when it names none).
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    JsonValue,
    PrivateAttr,
    field_validator,
    model_validator,
)

from stackup.model.base import (
    ByteSize,
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
from stackup.model.settings import ServiceSettings, StackSettings
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


def clean_target(value: Any) -> Any:
    """A container path cleaned as Compose (Go's path.Clean) cleans it: `/var/lib//data/` is
    `/var/lib/data`, so one mount point is one target. Windows paths (npipe) are left alone."""
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    cleaned = posixpath.normpath(value)
    return "/" + cleaned.lstrip("/")


CleanTarget = Annotated[str, BeforeValidator(clean_target)]


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


# --------------------------------------------------------------------------- service


class Service(Model):
    image: str | None = None
    build: Annotated[Build | None, BeforeValidator(_build, json_schema_input_type=str | Build)] = (
        None
    )
    command: Command | None = None
    entrypoint: Command | None = None
    environment: EnvMapping = Field(default_factory=dict)
    env_file: Annotated[
        list[EnvFile], BeforeValidator(_env_files, json_schema_input_type=str | list[str | EnvFile])
    ] = Field(default_factory=list)
    ports: Annotated[
        list[Port], BeforeValidator(_ports, json_schema_input_type=list[str | int | Port])
    ] = Field(default_factory=list)
    expose: Annotated[
        list[str], BeforeValidator(_expose, json_schema_input_type=list[str | int])
    ] = Field(default_factory=list)
    volumes: Annotated[
        list[ServiceVolume],
        BeforeValidator(_volumes, json_schema_input_type=list[str | ServiceVolume]),
    ] = Field(default_factory=list)
    volumes_from: list[str] = Field(default_factory=list)
    networks: Annotated[
        dict[str, ServiceNetwork],
        BeforeValidator(
            _service_networks,
            json_schema_input_type=list[str] | dict[str, ServiceNetwork | None],
        ),
    ] = Field(default_factory=dict)
    network_mode: str | None = None
    depends_on: Annotated[
        dict[str, DependsOn],
        BeforeValidator(_depends_on, json_schema_input_type=list[str] | dict[str, DependsOn]),
    ] = Field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    restart: Annotated[
        str | None, BeforeValidator(_restart, json_schema_input_type=str | bool | None)
    ] = Field(default=None, pattern=RESTART_PATTERN)
    labels: LabelMapping = Field(default_factory=dict)
    # Read into `labels` by the loader (a key in `labels` wins), so containers carry them.
    label_file: StrList | None = None
    annotations: LabelMapping = Field(default_factory=dict)
    container_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
    hostname: str | None = None
    domainname: str | None = None
    user: NumberText | None = None
    working_dir: str | None = None
    read_only: bool = False
    cap_add: list[str] = Field(default_factory=list)
    cap_drop: list[str] = Field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = Field(default_factory=list)
    init: bool | None = None
    stop_signal: str | None = None
    stop_grace_period: Duration | None = None
    tmpfs: StrList = Field(default_factory=list)
    ulimits: Annotated[
        dict[str, Ulimit], BeforeValidator(_ulimits, json_schema_input_type=dict[str, int | Ulimit])
    ] = Field(default_factory=dict)
    sysctls: TextMapping = Field(default_factory=dict)
    extra_hosts: Annotated[
        list[str],
        BeforeValidator(
            _extra_hosts, json_schema_input_type=list[str] | dict[str, str | list[str]]
        ),
    ] = Field(default_factory=list)
    dns: StrList = Field(default_factory=list)
    dns_search: StrList = Field(default_factory=list)
    dns_opt: list[str] = Field(default_factory=list)
    devices: Annotated[
        list[str], BeforeValidator(_devices, json_schema_input_type=list[str | DeviceMapping])
    ] = Field(default_factory=list)
    gpus: Annotated[
        list[DeviceRequest] | None,
        BeforeValidator(_gpus, json_schema_input_type=Literal["all"] | list[DeviceRequest]),
    ] = None
    device_cgroup_rules: list[str] = Field(default_factory=list)
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    userns_mode: str | None = None
    cgroup: Literal["host", "private"] | None = None
    cgroup_parent: str | None = None
    group_add: list[NumberText] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    external_links: list[str] = Field(default_factory=list)
    mac_address: str | None = None
    platform: str | None = None
    runtime: str | None = None
    isolation: str | None = None
    shm_size: ByteSize | None = None
    deploy: Deploy | None = None
    mem_limit: ByteSize | None = None
    mem_reservation: ByteSize | None = None
    memswap_limit: ByteSize | None = None
    mem_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    oom_score_adj: int | None = None
    cpus: NumberText | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset: str | None = None
    cpu_count: int | None = Field(default=None, ge=0)
    cpu_percent: int | None = Field(default=None, ge=0, le=100)
    cpu_rt_runtime: Microseconds | None = None
    cpu_rt_period: Microseconds | None = None
    blkio_config: BlkioConfig | None = None
    credential_spec: CredentialSpec | None = None
    use_api_socket: bool | None = None
    post_start: list[ServiceHook] | None = None
    pre_stop: list[ServiceHook] | None = None
    provider: Provider | None = None
    models: Annotated[
        dict[str, ServiceModel] | None,
        BeforeValidator(
            _service_models, json_schema_input_type=list[str] | dict[str, ServiceModel | None]
        ),
    ] = None
    pids_limit: int | None = None
    storage_opt: TextMapping = Field(default_factory=dict)
    scale: Annotated[int, Field(ge=0, le=MAX_REPLICAS)] | None = None
    profiles: list[str] = Field(default_factory=list)
    develop: Develop | None = None
    secrets: Annotated[
        list[FileRef], BeforeValidator(_file_refs, json_schema_input_type=list[str | FileRef])
    ] = Field(default_factory=list)
    configs: Annotated[
        list[FileRef], BeforeValidator(_file_refs, json_schema_input_type=list[str | FileRef])
    ] = Field(default_factory=list)
    logging: Logging | None = None
    tty: bool = False
    stdin_open: bool = False
    attach: bool = True
    pull_policy: str | None = Field(
        default=None,
        pattern=r"^(always|never|missing|build|if_not_present|refresh|daily|weekly"
        r"|every_(\d+[smhdw])+)$",
    )
    pull_refresh_after: str | None = None
    stackup: ServiceSettings = Field(default_factory=ServiceSettings, alias="x-stackup")

    @model_validator(mode="after")
    def _image_or_build(self) -> Service:
        if self.image is None and self.build is None and self.provider is None:
            raise ValueError("a service needs an `image` or a `build` section")
        return self

    @property
    def replicas(self) -> int:
        """How many containers the service wants: `deploy.replicas`, else `scale`, else 1;
        none for a service a `provider` manages (stackup runs no container for it)."""
        if self.provider is not None:
            return 0
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return 1 if self.scale is None else self.scale


# --------------------------------------------------------------------------- top level


class IpamPool(Model):
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: dict[str, str] = Field(default_factory=dict)


class Ipam(Model):
    driver: str | None = None
    config: list[IpamPool] = Field(default_factory=list)
    options: TextMapping = Field(default_factory=dict)


def _external(value: Any) -> Any:
    """Legacy `external: {name: x}` becomes `external: true` plus `name: x`."""
    if isinstance(value, dict) and isinstance(value.get("external"), dict):
        legacy = value["external"]
        out = {k: v for k, v in value.items() if k != "external"}
        out["external"] = True
        if "name" in legacy:
            out.setdefault("name", legacy["name"])
        return out
    return value


class Network(Model):
    name: str | None = None
    driver: str | None = None
    driver_opts: TextMapping = Field(default_factory=dict)
    ipam: Ipam | None = None
    internal: bool = False
    external: bool = False
    attachable: bool = False
    enable_ipv4: bool | None = None
    enable_ipv6: bool | None = None
    labels: LabelMapping = Field(default_factory=dict)

    _legacy = model_validator(mode="before")(_external)


class Volume(Model):
    name: str | None = None
    driver: str | None = None
    driver_opts: TextMapping = Field(default_factory=dict)
    external: bool = False
    labels: LabelMapping = Field(default_factory=dict)

    _legacy = model_validator(mode="before")(_external)


class FileObject(Model):
    """A top-level secret or config: from a file, an environment variable, inline content,
    or existing outside the stack (`external`)."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    labels: LabelMapping = Field(default_factory=dict)
    driver: str | None = None
    driver_opts: TextMapping = Field(default_factory=dict)
    template_driver: str | None = None

    _legacy = model_validator(mode="before")(_external)

    @model_validator(mode="after")
    def _one_source(self) -> FileObject:
        sources = [s for s in (self.file, self.environment, self.content) if s is not None]
        if not self.external and len(sources) != 1:
            raise ValueError(
                "needs exactly one of `file`, `environment` or `content` (or `external: true`)"
            )
        return self


class LanguageModel(Model):
    """A top-level `models` entry: an AI model Docker Model Runner serves to services."""

    name: str | None = None
    model: str
    context_size: int | None = None
    runtime_flags: list[str] = Field(default_factory=list)


class IncludeEntry(Model):
    path: StrList
    project_directory: str | None = None
    env_file: StrList = Field(default_factory=list)


def _includes(value: Any) -> Any:
    if isinstance(value, list):
        return [{"path": item} if isinstance(item, str) else item for item in value]
    return value


def _named(value: Any) -> Any:
    """`networks: {front: }` (no body) means a definition with every default."""
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


def _nullable_mapping(model: Any) -> Any:
    return Annotated[
        dict[str, model],
        BeforeValidator(_named, json_schema_input_type=dict[str, model | None]),
    ]


PROJECT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Stack(Model):
    """A whole stack. `name` is the resolved project name; every service that names no
    network and has no `network_mode` is on `default`, which then exists at the top level."""

    name: str = Field(pattern=PROJECT_NAME_PATTERN)
    version: str | None = Field(default=None, description="Obsolete; accepted and ignored.")
    include: Annotated[
        list[IncludeEntry],
        BeforeValidator(_includes, json_schema_input_type=list[str | IncludeEntry]),
    ] = Field(default_factory=list)
    services: _nullable_mapping(Service) = Field(default_factory=dict)  # type: ignore[valid-type]
    networks: _nullable_mapping(Network) = Field(default_factory=dict)  # type: ignore[valid-type]
    volumes: _nullable_mapping(Volume) = Field(default_factory=dict)  # type: ignore[valid-type]
    secrets: dict[str, FileObject] = Field(default_factory=dict)
    configs: dict[str, FileObject] = Field(default_factory=dict)
    models: dict[str, LanguageModel] = Field(default_factory=dict)
    stackup: StackSettings = Field(default_factory=StackSettings, alias="x-stackup")
    # Paths of values built from secret-looking variables (see stackup.model.sensitive); set by the
    # loader, not part of the file.
    _tainted: frozenset[tuple[str | int, ...]] = PrivateAttr(default_factory=frozenset)

    @property
    def tainted(self) -> frozenset[tuple[str | int, ...]]:
        return self._tainted

    def mark_tainted(self, paths: frozenset[tuple[str | int, ...]]) -> None:
        self._tainted = paths

    @model_validator(mode="after")
    def _resolve(self) -> Stack:
        services = dict(self.services)
        networks = dict(self.networks)
        for name, service in self.services.items():
            if not service.networks and service.network_mode is None:
                services[name] = service.model_copy(
                    update={"networks": {"default": ServiceNetwork()}}
                )
        if any("default" in s.networks for s in services.values()) and "default" not in networks:
            networks["default"] = Network()
        networks = {k: _with_name(self.name, k, n) for k, n in networks.items()}
        volumes = {k: _with_name(self.name, k, v) for k, v in self.volumes.items()}
        secrets = {k: _with_name(self.name, k, s) for k, s in self.secrets.items()}
        configs = {k: _with_name(self.name, k, c) for k, c in self.configs.items()}
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "networks", networks)
        object.__setattr__(self, "volumes", volumes)
        object.__setattr__(self, "secrets", secrets)
        object.__setattr__(self, "configs", configs)
        return self


def _with_name(project: str, key: str, obj: Any) -> Any:
    if obj.name is not None:
        return obj
    # External objects are found by their key; ours are prefixed with the project, as Compose does.
    return obj.model_copy(update={"name": key if obj.external else f"{project}_{key}"})
