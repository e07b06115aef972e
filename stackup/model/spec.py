"""Desired state: frozen pydantic models of a stack file (the Compose Specification, plus
stackup's own `x-stackup` settings).

Every short form Compose allows is accepted on input and normalised to one long form here, so
code downstream sees one shape: ports and volumes are long-syntax records, `environment` and
`labels` are mappings, `command` is a list of words, `depends_on` is a mapping of conditions,
and every service names its networks (`default` when it names none).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
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
    StrList,
    TextMapping,
)
from stackup.model.parts import (
    MAX_REPLICAS,
    RESTART_PATTERN,
    BlkioConfig,
    Build,
    CredentialSpec,
    DependsOn,
    Deploy,
    Develop,
    DeviceMapping,
    DeviceRequest,
    EnvFile,
    FileRef,
    Healthcheck,
    Logging,
    Microseconds,
    Port,
    PreStartHook,
    Provider,
    ServiceHook,
    ServiceModel,
    ServiceNetwork,
    ServiceVolume,
    Ulimit,
    _build,
    _depends_on,
    _devices,
    _env_files,
    _expose,
    _extra_hosts,
    _file_refs,
    _gpus,
    _ports,
    _restart,
    _service_models,
    _service_networks,
    _ulimits,
    _volumes,
)
from stackup.model.settings import ServiceSettings, StackSettings

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
    pre_start: list[PreStartHook] | None = None
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
    _secret_values: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @property
    def tainted(self) -> frozenset[tuple[str | int, ...]]:
        return self._tainted

    @property
    def secret_values(self) -> frozenset[str]:
        """What secret-looking variables held, and the values built from them: masked
        wherever they appear (a normalised field keeps no path to its source)."""
        return self._secret_values

    def mark_tainted(
        self, paths: frozenset[tuple[str | int, ...]], values: frozenset[str] = frozenset()
    ) -> None:
        self._tainted = paths
        self._secret_values = values

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
