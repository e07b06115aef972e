"""Pure conversions of stackup's values into the Docker Engine API's JSON (API 1.41+); what
the engine returns is read by `stackup.engine.docker.payloads`.

No I/O and no `import docker` here: `stackup.engine.docker.engine` sends what these build, so
the mapping is tested from recorded real payloads (`tests/fixtures/payloads/`) without an
engine. `Payload` is the engine's wire format and never
leaves `stackup.engine.docker`.
"""

from __future__ import annotations

import io
import math
import tarfile
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from stackup.engine.interface import (
    ContainerSpec,
    FileCopy,
    MountSpec,
    NetworkAttachment,
)
from stackup.model import effective, labels
from stackup.model.parts import DeviceRequest, Healthcheck
from stackup.model.spec import Service

Payload = dict[str, Any]

# --------------------------------------------------------------------------- Service → engine


def restart_policy(service: Service) -> Payload:
    """The effective restart policy (stackup.model.effective) as the engine wants it."""
    policy = effective.restart(service)
    return {"Name": policy.name, "MaximumRetryCount": policy.maximum_retry_count}


def nanoseconds(value: timedelta | None) -> int | None:
    """A duration as the engine's nanoseconds."""
    return None if value is None else int(value.total_seconds() * effective.NANO)


def healthcheck(service: Service) -> Payload | None:
    return None if service.healthcheck is None else healthcheck_payload(service.healthcheck)


def healthcheck_payload(check: Healthcheck) -> Payload:
    """The engine's HealthConfig, the same for a container and a swarm service's task."""
    if check.disable:
        return {"Test": ["NONE"]}
    out: Payload = {}
    if check.test:
        out["Test"] = list(check.test)
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
    ):
        nanos = nanoseconds(value)
        if nanos is not None:
            out[key] = nanos
    if check.retries is not None:
        out["Retries"] = check.retries
    return out


def _port_range(text: str) -> list[str]:
    """`3000-3002/udp` → ["3000/udp", "3001/udp", "3002/udp"]; the protocol defaults to tcp."""
    ports, _, proto = text.partition("/")
    proto = proto or "tcp"
    lo, _, hi = ports.partition("-")
    return [f"{p}/{proto}" for p in range(int(lo), int(hi or lo) + 1)]


def ports(service: Service) -> tuple[Payload, Payload]:
    """ExposedPorts and PortBindings. `published: None` asks the engine for an ephemeral
    port; a published range (`8000-8010`) lets the engine pick one free port in it."""
    exposed: Payload = {}
    bindings: dict[str, list[Payload]] = {}
    for text in service.expose:
        for key in _port_range(text):
            exposed[key] = {}
    for port in service.ports:
        key = f"{port.target}/{port.protocol}"
        exposed[key] = {}
        bindings.setdefault(key, []).append(
            {"HostIp": port.host_ip or "", "HostPort": port.published or ""}
        )
    return exposed, dict(bindings)


def _bind_string(mount: MountSpec) -> str:
    options = ["ro" if mount.read_only else "rw"]
    if mount.propagation:
        options.append(mount.propagation)
    return f"{mount.source}:{mount.target}:{','.join(options)}"


def uses_binds(mount: MountSpec) -> bool:
    """Bind mounts that may create their source go through the legacy `Binds` form: the engine
    creates a missing source directory for `Binds` (as Compose relies on), while the `Mounts`
    form refuses it. `create_host_path: false` therefore uses `Mounts`, and fails clearly when
    the source is missing."""
    return (
        mount.type == "bind"
        and mount.create_host_path
        and mount.subpath is None
        and mount.recursive in (None, "enabled")
    )


# `bind.recursive` → the engine's BindOptions: `disabled` since API 1.40, the read-only
# variants since 1.44 (`up` refuses them on an older engine first, see `stackup.loading.compat`).
_RECURSIVE = {
    "disabled": {"NonRecursive": True},
    "writable": {"ReadOnlyNonRecursive": True},
    "readonly": {"ReadOnlyForceRecursive": True},
}


def mount_payload(mount: MountSpec) -> Payload:
    out: Payload = {"Type": mount.type, "Target": mount.target, "ReadOnly": mount.read_only}
    if mount.source is not None and mount.type != "tmpfs":
        out["Source"] = mount.source
    if mount.type == "bind":
        bind: Payload = {}
        if mount.propagation:
            bind["Propagation"] = mount.propagation
        bind.update(_RECURSIVE.get(mount.recursive or "", {}))
        if bind:
            out["BindOptions"] = bind
    if mount.type == "volume" and (mount.nocopy or mount.subpath or mount.volume_labels):
        options: Payload = {}
        if mount.nocopy:
            options["NoCopy"] = True
        if mount.subpath:
            options["Subpath"] = mount.subpath  # API 1.45+; older engines ignore it
        if mount.volume_labels:
            options["Labels"] = dict(mount.volume_labels)
        out["VolumeOptions"] = options
    if mount.type == "image" and mount.image_subpath:
        out["ImageOptions"] = {"Subpath": mount.image_subpath}  # API 1.48+
    if mount.type == "tmpfs":
        tmpfs: Payload = {}
        if mount.tmpfs_size is not None:
            tmpfs["SizeBytes"] = mount.tmpfs_size
        if mount.tmpfs_mode is not None:
            tmpfs["Mode"] = mount.tmpfs_mode
        if tmpfs:
            out["TmpfsOptions"] = tmpfs
    return out


def _tmpfs(entries: Sequence[str]) -> Payload:
    out: Payload = {}
    for entry in entries:
        path, _, options = entry.partition(":")
        out[path] = options
    return out


def extra_host(entry: str) -> str:
    """Compose accepts `host:ip` and `host=ip`; the engine wants `host:ip`."""
    if "=" in entry:
        host, _, ip = entry.partition("=")
        return f"{host}:{ip}"
    return entry


def device(entry: str) -> Payload:
    parts = entry.split(":")
    host = parts[0]
    inside = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    if len(parts) == 2 and set(parts[1]) <= set("rwm") and parts[1]:
        inside, perms = host, parts[1]
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}


def device_request(request: DeviceRequest, *, gpu: bool = False) -> Payload:
    """A `gpus` entry or a reserved device as the engine's DeviceRequest (API 1.40+). A GPU
    request names the `gpu` capability when it names none; `count: all` is -1."""
    capabilities = list(request.capabilities) or (["gpu"] if gpu else [])
    count = request.count
    if count is None:
        # Compose: with neither a count nor IDs, every matching device.
        count = 0 if request.device_ids else "all"
    return {
        "Driver": request.driver or "",
        "Count": -1 if count == "all" else count,
        "DeviceIDs": list(request.device_ids),
        "Capabilities": [capabilities] if capabilities else [],
        "Options": dict(request.options),
    }


def device_requests(service: Service) -> list[Payload]:
    out = [device_request(g, gpu=True) for g in service.gpus or ()]
    reservations = effective.reservations(service)
    if reservations is not None:
        out.extend(device_request(d) for d in reservations.devices)
    return out


def blkio(service: Service) -> Payload:
    """`blkio_config` as HostConfig's Blkio* fields."""
    cfg = service.blkio_config
    if cfg is None:
        return {}
    out: Payload = {}
    if cfg.weight is not None:
        out["BlkioWeight"] = cfg.weight
    if cfg.weight_device:
        out["BlkioWeightDevice"] = [{"Path": w.path, "Weight": w.weight} for w in cfg.weight_device]
    for key, limits in (
        ("BlkioDeviceReadBps", cfg.device_read_bps),
        ("BlkioDeviceWriteBps", cfg.device_write_bps),
        ("BlkioDeviceReadIOps", cfg.device_read_iops),
        ("BlkioDeviceWriteIOps", cfg.device_write_iops),
    ):
        if limits:
            out[key] = [{"Path": limit.path, "Rate": limit.rate} for limit in limits]
    return out


def links(service: Service, project: str) -> list[str]:
    """`links: [db, db:database]` → engine links `<project>-db-1:db`. Names follow stackup's
    container naming (`<project>-<service>-1`); `external_links` are container names already."""
    out = []
    for entry in service.links:
        target, _, alias = entry.partition(":")
        out.append(f"{project}-{target}-1:{alias or target}")
    for entry in service.external_links:
        target, _, alias = entry.partition(":")
        out.append(f"{target}:{alias or target}")
    return out


def endpoint_config(attachment: NetworkAttachment, *, with_mac: bool) -> Payload:
    out: Payload = {}
    if attachment.aliases:
        out["Aliases"] = list(attachment.aliases)
    ipam: Payload = {}
    if attachment.ipv4_address:
        ipam["IPv4Address"] = attachment.ipv4_address
    if attachment.ipv6_address:
        ipam["IPv6Address"] = attachment.ipv6_address
    if ipam:
        out["IPAMConfig"] = ipam
    if with_mac and attachment.mac_address:
        out["MacAddress"] = attachment.mac_address  # per-endpoint MAC: API 1.44+
    if attachment.interface_name:
        out["DriverOpts"] = {IFNAME_OPTION: attachment.interface_name}  # Engine 28.0+
    return out


# The endpoint driver option that names the container's interface on a network.
IFNAME_OPTION = "com.docker.network.endpoint.ifname"


def _set(target: Payload, key: str, value: Any) -> None:
    """Set a key only when the value says something (keeps the body small and the engine's
    defaults in charge of everything the stack file leaves out)."""
    if value is None or value == [] or value == {} or value == "":
        return
    target[key] = value


def container_body(
    spec: ContainerSpec, *, api_version: tuple[int, int] = (1, 41)
) -> tuple[Payload, tuple[NetworkAttachment, ...]]:
    """`POST /containers/create` body for a spec, and the networks to connect after create.

    The first network goes in the create call (as `docker run --network` does); the engine
    (before API 1.44) accepts only one endpoint there, so the rest are connected afterwards,
    before start.
    """
    s = spec.service
    exposed, bindings = ports(s)
    body: Payload = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [f"{k}={v}" for k, v in spec.environment.items()],
        "Tty": s.tty,
        "OpenStdin": s.stdin_open,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
    }
    if s.command is not None:
        body["Cmd"] = list(s.command)
    if s.entrypoint is not None:
        body["Entrypoint"] = list(s.entrypoint)
    _set(body, "Hostname", spec.hostname or s.hostname)
    _set(body, "Domainname", s.domainname)
    _set(body, "User", s.user)
    _set(body, "WorkingDir", s.working_dir)
    _set(body, "StopSignal", s.stop_signal)
    if s.stop_grace_period is not None:
        body["StopTimeout"] = math.ceil(s.stop_grace_period.total_seconds())
    _set(body, "Healthcheck", healthcheck(s))
    _set(body, "ExposedPorts", exposed)
    _set(body, "MacAddress", s.mac_address)
    host = _host_config(spec, bindings)
    rest = _first_network(spec, body, host, api_version)
    body["HostConfig"] = host
    return body, rest


def _host_config(spec: ContainerSpec, bindings: Payload) -> Payload:
    """The create body's HostConfig: mounts, privileges, namespaces, resources, logging."""
    s = spec.service
    host: Payload = {"RestartPolicy": restart_policy(s)}
    _set(host, "PortBindings", bindings)
    binds = [_bind_string(m) for m in spec.mounts if uses_binds(m)]
    _set(host, "Binds", binds)
    _set(host, "Mounts", [mount_payload(m) for m in spec.mounts if not uses_binds(m)])
    _set(host, "Tmpfs", _tmpfs(s.tmpfs))
    _set(host, "VolumesFrom", list(spec.volumes_from))
    _set(host, "CapAdd", list(s.cap_add))
    _set(host, "CapDrop", list(s.cap_drop))
    if s.privileged:
        host["Privileged"] = True
    _set(host, "SecurityOpt", list(s.security_opt))
    if s.init is not None:
        host["Init"] = s.init
    if s.read_only:
        host["ReadonlyRootfs"] = True
    ulimits = [{"Name": k, "Soft": u.soft, "Hard": u.hard} for k, u in s.ulimits.items()]
    _set(host, "Ulimits", ulimits)
    _set(host, "Sysctls", dict(s.sysctls))
    _set(host, "ExtraHosts", [extra_host(e) for e in s.extra_hosts])
    _set(host, "Dns", list(s.dns))
    _set(host, "DnsSearch", list(s.dns_search))
    _set(host, "DnsOptions", list(s.dns_opt))
    _set(host, "Devices", [device(d) for d in s.devices])
    _set(host, "DeviceCgroupRules", list(s.device_cgroup_rules))
    _set(host, "PidMode", s.pid)
    _set(host, "IpcMode", s.ipc)
    _set(host, "UTSMode", s.uts)
    _set(host, "UsernsMode", s.userns_mode)
    _set(host, "CgroupnsMode", s.cgroup)
    _set(host, "CgroupParent", s.cgroup_parent)
    _set(host, "GroupAdd", list(s.group_add))
    _set(host, "Links", links(s, spec.labels.get(labels.PROJECT, "")))
    _set(host, "Runtime", s.runtime)
    _set(host, "Isolation", s.isolation)
    _set(host, "ShmSize", s.shm_size)
    _set(host, "StorageOpt", dict(s.storage_opt))
    memory = effective.memory_limit(s)
    if memory:
        host["Memory"] = memory
    if s.memswap_limit is not None:
        host["MemorySwap"] = s.memswap_limit
    reservation = effective.memory_reservation(s)
    if reservation:
        host["MemoryReservation"] = reservation
    if s.mem_swappiness is not None:
        host["MemorySwappiness"] = s.mem_swappiness
    if s.oom_kill_disable is not None:
        host["OomKillDisable"] = s.oom_kill_disable
    if s.oom_score_adj is not None:
        host["OomScoreAdj"] = s.oom_score_adj
    cpus = effective.nano_cpus(s)
    if cpus:
        host["NanoCpus"] = cpus
    _set(host, "CpuShares", s.cpu_shares)
    _set(host, "CpuQuota", s.cpu_quota)
    _set(host, "CpuPeriod", s.cpu_period)
    _set(host, "CpusetCpus", s.cpuset)
    _set(host, "CpuCount", s.cpu_count)
    _set(host, "CpuPercent", s.cpu_percent)
    _set(host, "CpuRealtimeRuntime", s.cpu_rt_runtime)
    _set(host, "CpuRealtimePeriod", s.cpu_rt_period)
    host.update(blkio(s))
    _set(host, "DeviceRequests", device_requests(s))
    pids = effective.pids_limit(s)
    if pids is not None:
        host["PidsLimit"] = pids
    if s.logging is not None:
        host["LogConfig"] = {
            "Type": s.logging.driver or "",
            "Config": {k: v for k, v in s.logging.options.items() if v is not None},
        }
    return host


def _first_network(
    spec: ContainerSpec, body: Payload, host: Payload, api_version: tuple[int, int]
) -> tuple[NetworkAttachment, ...]:
    """The network the container is created on, set in `body` and `host`; returns the
    others, connected after the create."""
    rest: tuple[NetworkAttachment, ...] = ()
    if spec.network_mode is not None:
        host["NetworkMode"] = spec.network_mode
    elif spec.networks:
        first, *others = spec.networks
        host["NetworkMode"] = first.network
        body["NetworkingConfig"] = {
            "EndpointsConfig": {
                first.network: endpoint_config(first, with_mac=api_version >= (1, 44))
            }
        }
        rest = tuple(others)
    return rest


def update_body(service: Service) -> Payload:
    """`POST /containers/{id}/update`: what `docker update` can change on a live container.

    Memory swap follows the engine's default for a new container (twice the memory) when the
    stack sets none, so raising a memory limit above the old default swap is accepted.
    """
    memory = effective.memory_limit(service)
    body: Payload = {"RestartPolicy": restart_policy(service)}
    if memory:
        body["Memory"] = memory
        body["MemorySwap"] = (
            service.memswap_limit if service.memswap_limit is not None else 2 * memory
        )
    reservation = effective.memory_reservation(service)
    if reservation:
        body["MemoryReservation"] = reservation
    cpus = effective.nano_cpus(service)
    if cpus:
        body["NanoCpus"] = cpus
    pids = effective.pids_limit(service)
    body["PidsLimit"] = pids if pids is not None else 0  # 0: unlimited
    if service.cpu_shares is not None:
        body["CpuShares"] = service.cpu_shares
    if service.cpuset is not None:
        body["CpusetCpus"] = service.cpuset
    return body


def files_tar(files: Sequence[FileCopy]) -> bytes:
    """An in-memory tar of the files, paths relative to `/`, for `PUT /containers/{id}/archive`
    at `/` (the engine creates missing parent directories)."""
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for f in files:
            info = tarfile.TarInfo(f.target.lstrip("/"))
            info.size = len(f.content)
            info.mode = f.mode
            info.mtime = int(now)
            tar.addfile(info, io.BytesIO(f.content))
    return buffer.getvalue()
