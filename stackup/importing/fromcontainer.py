"""A running (or stopped) container read back as the `docker run` line that would make it
(`stackup import container`), leaving out what its image and the engine set by default; the
line then goes through the same reader as `stackup import run`, so both give one service.

Pure: takes the engine's inspect documents of the container and of its image."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")
_TOOL_LABELS = ("io.stackup.", "com.docker.compose.")
_DEFAULT_SHM = 64 * 1024 * 1024
_NS = 1_000_000_000


def docker_run_args(container: Mapping[str, Any], image: Mapping[str, Any]) -> list[str]:
    """The arguments after `docker run` that make `container` from `image`."""
    config: Mapping[str, Any] = container.get("Config") or {}
    host: Mapping[str, Any] = container.get("HostConfig") or {}
    base: Mapping[str, Any] = image.get("Config") or {}
    name = str(container.get("Name", "")).lstrip("/")
    cid = str(container.get("Id", ""))
    args: list[str] = ["--name", name] if name else []
    args += _ports(host.get("PortBindings") or {})
    args += _mounts(config, host, set((base.get("Volumes") or {}).keys()))
    for path, options in sorted((host.get("Tmpfs") or {}).items()):
        args += ["--tmpfs", f"{path}:{options}" if options else path]
    image_env = set(base.get("Env") or [])
    for entry in config.get("Env") or []:
        if entry not in image_env:
            args += ["-e", entry]
    args += _network(container, host, name, cid)
    restart = host.get("RestartPolicy") or {}
    if restart.get("Name") not in (None, "", "no"):
        retries = restart.get("MaximumRetryCount") or 0
        policy = restart["Name"]
        args += [
            "--restart",
            f"{policy}:{retries}" if policy == "on-failure" and retries else policy,
        ]
    image_labels = base.get("Labels") or {}
    for key, value in sorted((config.get("Labels") or {}).items()):
        # stackup's and Compose's own labels describe their management, not the service.
        if image_labels.get(key) != value and not key.startswith(_TOOL_LABELS):
            args += ["--label", f"{key}={value}"]
    args += _health(config.get("Healthcheck"), base.get("Healthcheck"))
    args += _flags(config, host)
    args += _differs("-u", config.get("User"), base.get("User"))
    args += _differs("-w", config.get("WorkingDir"), base.get("WorkingDir"))
    args += _differs("--stop-signal", config.get("StopSignal"), base.get("StopSignal"))
    if config.get("StopTimeout") is not None:
        args += ["--stop-timeout", str(config["StopTimeout"])]
    hostname = config.get("Hostname")
    mode = str(host.get("NetworkMode") or "")
    shared = mode == "host" or mode.startswith("container:")  # the hostname is not its own
    if hostname and hostname != cid[:12] and not shared:
        args += ["-h", hostname]
    if config.get("Domainname"):
        args += ["--domainname", config["Domainname"]]
    if config.get("MacAddress"):
        args += ["--mac-address", config["MacAddress"]]
    published = {p.split("/")[0] for p in (host.get("PortBindings") or {})}
    image_ports = set((base.get("ExposedPorts") or {}).keys())
    for port in sorted((config.get("ExposedPorts") or {}).keys()):
        if port not in image_ports and port.split("/")[0] not in published:
            args += ["--expose", port.removesuffix("/tcp")]
    entrypoint = config.get("Entrypoint") or None
    command = list(config.get("Cmd") or [])
    if entrypoint != (base.get("Entrypoint") or None) and entrypoint:
        # docker run --entrypoint takes the executable; the rest of it leads the command.
        args += ["--entrypoint", entrypoint[0]]
        command = [*entrypoint[1:], *command]
    elif command == list(base.get("Cmd") or []):
        command = []
    return [*args, str(config.get("Image", "")), *command]


def _ports(bindings: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for port, hosts in sorted(bindings.items()):
        target, _, proto = port.partition("/")
        suffix = "" if proto in ("", "tcp") else f"/{proto}"
        for binding in hosts or [{}]:
            ip, published = binding.get("HostIp") or "", binding.get("HostPort") or ""
            parts = [p for p in (ip, published) if p] if published else []
            out += ["-p", ":".join([*parts, target]) + suffix]
    return out


def _mounts(
    config: Mapping[str, Any], host: Mapping[str, Any], image_volumes: set[str]
) -> list[str]:
    """The mounts as they were asked for, so `-v` and `--mount` read back as what they mean
    (a missing `-v` source is created, a missing `--mount type=bind` one is an error): the
    `-v` entries as the engine keeps them (`HostConfig.Binds`), the `--mount` ones
    (`HostConfig.Mounts`), and the anonymous `-v /path` volumes (`Config.Volumes`, less the
    image's own `VOLUME`s, which make them anyway)."""
    out: list[str] = []
    taken: set[str] = set()
    for bind in host.get("Binds") or []:
        source, _, rest = str(bind).partition(":")
        target = rest.split(":", 1)[0]
        taken.add(target)
        if _ANONYMOUS.match(source):  # an anonymous volume carried by name (a recreate)
            if target not in image_volumes:
                out += ["-v", target]
        else:
            out += ["-v", str(bind)]
    for mount in host.get("Mounts") or []:
        taken.add(str(mount.get("Target", "")))
        out += _mount_flag(mount, image_volumes)
    for target in sorted((config.get("Volumes") or {}).keys()):
        if target not in image_volumes and target not in taken:
            out += ["-v", target]
    return out


def _mount_flag(mount: Mapping[str, Any], image_volumes: set[str]) -> list[str]:
    kind = str(mount.get("Type") or "volume")
    target = str(mount.get("Target", ""))
    source = str(mount.get("Source") or "")
    if kind == "volume" and _ANONYMOUS.match(source):
        source = ""  # anonymous, carried by name
        if target in image_volumes:
            return []
    parts = [f"type={kind}", *([f"source={source}"] if source else []), f"target={target}"]
    if mount.get("ReadOnly"):
        parts.append("readonly")
    if (mount.get("BindOptions") or {}).get("Propagation"):
        parts.append(f"bind-propagation={mount['BindOptions']['Propagation']}")
    if (mount.get("VolumeOptions") or {}).get("NoCopy"):
        parts.append("volume-nocopy=true")
    tmpfs = mount.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        parts.append(f"tmpfs-size={tmpfs['SizeBytes']}")
    if tmpfs.get("Mode"):
        parts.append(f"tmpfs-mode={tmpfs['Mode']:o}")
    return ["--mount", ",".join(parts)]


def _network(
    container: Mapping[str, Any], host: Mapping[str, Any], name: str, cid: str
) -> list[str]:
    mode = str(host.get("NetworkMode") or "default")
    if mode in ("default", "bridge"):
        return []
    if mode in ("host", "none") or mode.startswith("container:"):
        return ["--network", mode]
    args = ["--network", mode]
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    # The engine adds the container's name, ID and hostname to the aliases of its own accord.
    hostname = (container.get("Config") or {}).get("Hostname")
    automatic = {name, cid[:12], cid, hostname}
    for alias in (networks.get(mode) or {}).get("Aliases") or []:
        if alias not in automatic:
            args += ["--network-alias", alias]
    return args


def _health(mine: Mapping[str, Any] | None, image: Mapping[str, Any] | None) -> list[str]:
    if not mine or mine == image:
        return []
    test = list(mine.get("Test") or [])
    if test[:1] == ["NONE"]:
        return ["--no-healthcheck"]
    args: list[str] = []
    if test[:1] == ["CMD-SHELL"] and len(test) == 2:
        args += ["--health-cmd", test[1]]
    for key, flag in (
        ("Interval", "--health-interval"),
        ("Timeout", "--health-timeout"),
        ("StartPeriod", "--health-start-period"),
        ("StartInterval", "--health-start-interval"),
    ):
        if mine.get(key):
            args += [flag, f"{mine[key] / _NS:g}s"]
    if mine.get("Retries"):
        args += ["--health-retries", str(mine["Retries"])]
    return args


def _flags(config: Mapping[str, Any], host: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for flag, on in (
        ("--read-only", host.get("ReadonlyRootfs")),
        ("--privileged", host.get("Privileged")),
        ("--init", host.get("Init")),
        ("-t", config.get("Tty")),
        ("-i", config.get("OpenStdin")),
    ):
        if on:
            args.append(flag)
    for flag, key in (
        ("--cap-add", "CapAdd"),
        ("--cap-drop", "CapDrop"),
        ("--security-opt", "SecurityOpt"),
        ("--add-host", "ExtraHosts"),
        ("--dns", "Dns"),
    ):
        for value in host.get(key) or []:
            # The engine stores capabilities as CAP_X; they are written as a user writes them.
            args += [flag, value.removeprefix("CAP_") if key.startswith("Cap") else value]
    for flag, key, default in (
        ("--pid", "PidMode", ""),
        ("--ipc", "IpcMode", ("", "private", "shareable")),
        ("--userns", "UsernsMode", ""),
        ("--cpuset-cpus", "CpusetCpus", ""),
        ("--runtime", "Runtime", ("", "runc")),
    ):
        value = host.get(key) or ""
        if value not in (default if isinstance(default, tuple) else (default,)):
            args += [flag, str(value)]
    for flag, key in (
        ("--group-add", "GroupAdd"),
        ("--dns-search", "DnsSearch"),
        ("--dns-option", "DnsOptions"),
    ):
        for value in host.get(key) or []:
            args += [flag, value]
    for name, value in sorted((host.get("Sysctls") or {}).items()):
        args += ["--sysctl", f"{name}={value}"]
    if host.get("CpuShares"):
        args += ["--cpu-shares", str(host["CpuShares"])]
    if host.get("OomScoreAdj"):
        args += ["--oom-score-adj", str(host["OomScoreAdj"])]
    if host.get("OomKillDisable"):
        args.append("--oom-kill-disable")
    if host.get("MemoryReservation"):
        args += ["--memory-reservation", str(host["MemoryReservation"])]
    if host.get("MemorySwap") and host["MemorySwap"] != 2 * (host.get("Memory") or 0):
        # docker run -m alone sets swap to twice the memory: only another value was given.
        args += ["--memory-swap", str(host["MemorySwap"])]
    if host.get("Memory"):
        args += ["-m", str(host["Memory"])]
    if host.get("NanoCpus"):
        args += ["--cpus", f"{host['NanoCpus'] / _NS:g}"]
    if host.get("PidsLimit") and host["PidsLimit"] > 0:
        args += ["--pids-limit", str(host["PidsLimit"])]
    if host.get("ShmSize") and host["ShmSize"] != _DEFAULT_SHM:
        args += ["--shm-size", str(host["ShmSize"])]
    for u in host.get("Ulimits") or []:
        limits = f"{u['Soft']}" if u["Soft"] == u["Hard"] else f"{u['Soft']}:{u['Hard']}"
        args += ["--ulimit", f"{u['Name']}={limits}"]
    for d in host.get("Devices") or []:
        perms = d.get("CgroupPermissions") or "rwm"
        spec = f"{d['PathOnHost']}:{d['PathInContainer']}"
        args += ["--device", spec if perms == "rwm" else f"{spec}:{perms}"]
    log = host.get("LogConfig") or {}
    if log.get("Type") and log["Type"] != "json-file":
        args += ["--log-driver", log["Type"]]
    for key, value in sorted((log.get("Config") or {}).items()):
        args += ["--log-opt", f"{key}={value}"]
    return args


def _differs(flag: str, mine: object, image: object) -> list[str]:
    return [flag, str(mine)] if mine and mine != image else []
