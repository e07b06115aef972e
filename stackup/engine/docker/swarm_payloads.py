"""The Docker Engine API's JSON for swarm services, and back: a desired service as a service
spec (task template, mode, update and rollback config, health check), and services, configs,
secrets and tasks read back as stackup's values. Pure, tested without a swarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docker.types import ServiceMode

from stackup.engine.docker.convert import healthcheck_payload, nanoseconds
from stackup.engine.swarm_interface import (
    TASK_HASH,
    DesiredService,
    SwarmObject,
    SwarmServiceState,
    strip_digest,
)
from stackup.model.effective import NANO
from stackup.model.parts import UpdateConfig


def service_spec(want: DesiredService, ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """The keyword arguments of `APIClient.create_service` / `update_service` (the Docker
    API's ServiceSpec, in parts)."""
    deploy = want.spec.deploy
    out: dict[str, Any] = {
        "task_template": _task_template(want, _container_spec(want, ids)),
        "labels": dict(want.labels),
        "mode": ServiceMode("global")
        if want.replicas is None
        else ServiceMode("replicated", replicas=want.replicas),
        "endpoint_spec": _endpoint_spec(want),
    }
    if deploy is not None and deploy.update_config is not None:
        out["update_config"] = update_config(deploy.update_config)
    if deploy is not None and deploy.rollback_config is not None:
        out["rollback_config"] = update_config(deploy.rollback_config)
    return out


def _container_spec(want: DesiredService, ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """The task template's ContainerSpec: what each task runs, its mounts, configs, secrets."""
    s = want.spec
    container: dict[str, Any] = {
        "Image": want.image,
        "Labels": dict(want.container_labels),
        "Env": [f"{k}={v}" for k, v in sorted(want.environment.items())],
    }
    if s.entrypoint is not None:
        container["Command"] = list(s.entrypoint)
    if s.command is not None:
        container["Args"] = list(s.command)
    for key, value in (
        ("Hostname", s.hostname),
        ("User", s.user),
        ("Dir", s.working_dir),
        ("StopSignal", s.stop_signal),
        ("Init", s.init),
    ):
        if value is not None:
            container[key] = value
    if s.read_only:
        container["ReadOnly"] = True
    if s.tty:
        container["TTY"] = True
    if s.stdin_open:
        container["OpenStdin"] = True
    if s.stop_grace_period is not None:
        container["StopGracePeriod"] = nanoseconds(s.stop_grace_period)
    if s.group_add:
        container["Groups"] = list(s.group_add)
    if s.extra_hosts:
        container["Hosts"] = [host_entry(h) for h in s.extra_hosts]
    if s.dns or s.dns_search or s.dns_opt:
        container["DNSConfig"] = {
            "Nameservers": list(s.dns),
            "Search": list(s.dns_search),
            "Options": list(s.dns_opt),
        }
    if s.sysctls:
        container["Sysctls"] = dict(s.sysctls)
    if s.ulimits:
        container["Ulimits"] = [
            {"Name": k, "Soft": u.soft, "Hard": u.hard} for k, u in sorted(s.ulimits.items())
        ]
    if s.healthcheck is not None:
        container["Healthcheck"] = healthcheck_payload(s.healthcheck)
    mounts = []
    for m in want.mounts:
        mount: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.read_only}
        if m.source:
            mount["Source"] = m.source
        if m.type == "volume" and (m.volume_labels or m.volume_driver):
            options: dict[str, Any] = {"Labels": dict(m.volume_labels)}
            if m.volume_driver:
                options["DriverConfig"] = {
                    "Name": m.volume_driver,
                    "Options": dict(m.volume_driver_opts),
                }
            mount["VolumeOptions"] = options
        if m.type == "tmpfs" and m.tmpfs_size:
            mount["TmpfsOptions"] = {"SizeBytes": m.tmpfs_size}
        mounts.append(mount)
    for target in s.tmpfs:
        mounts.append({"Type": "tmpfs", "Target": target.split(":", 1)[0]})
    if mounts:
        container["Mounts"] = mounts
    for kind, refs in (("config", want.configs), ("secret", want.secrets)):
        if refs:
            container["Configs" if kind == "config" else "Secrets"] = [
                {
                    f"{kind.capitalize()}ID": ids[(kind, r.name)],
                    f"{kind.capitalize()}Name": r.name,
                    "File": {"Name": r.target, "UID": r.uid, "GID": r.gid, "Mode": r.mode},
                }
                for r in refs
            ]
    return container


def _task_template(want: DesiredService, container: dict[str, Any]) -> dict[str, Any]:
    """The TaskTemplate around `container`: networks, resources, restart policy, placement,
    log driver."""
    s = want.spec
    deploy = s.deploy
    task: dict[str, Any] = {
        "ContainerSpec": container,
        "Networks": [{"Target": net, "Aliases": list(aliases)} for net, aliases in want.networks],
        "ForceUpdate": 0,
    }
    if deploy is not None and deploy.resources is not None:
        resources: dict[str, Any] = {}
        for key, part in (
            ("Limits", deploy.resources.limits),
            ("Reservations", deploy.resources.reservations),
        ):
            if part is None:
                continue
            values: dict[str, Any] = {}
            if part.cpus is not None:
                values["NanoCPUs"] = int(float(part.cpus) * NANO)
            if part.memory is not None:
                values["MemoryBytes"] = part.memory
            if part.pids is not None and key == "Limits":
                values["Pids"] = part.pids
            resources[key] = values
        task["Resources"] = resources
    if deploy is not None and deploy.restart_policy is not None:
        rp = deploy.restart_policy
        policy: dict[str, Any] = {"Condition": rp.condition or "any"}
        if rp.delay is not None:
            policy["Delay"] = nanoseconds(rp.delay)
        if rp.max_attempts is not None:
            policy["MaxAttempts"] = rp.max_attempts
        if rp.window is not None:
            policy["Window"] = nanoseconds(rp.window)
        task["RestartPolicy"] = policy
    if deploy is not None and deploy.placement is not None:
        placement: dict[str, Any] = {"Constraints": list(deploy.placement.constraints)}
        prefs = []
        for pref in deploy.placement.preferences:
            for strategy, descriptor in pref.items():
                if strategy == "spread":
                    prefs.append({"Spread": {"SpreadDescriptor": descriptor}})
        if prefs:
            placement["Preferences"] = prefs
        if deploy.placement.max_replicas_per_node:
            placement["MaxReplicas"] = deploy.placement.max_replicas_per_node
        task["Placement"] = placement
    if s.logging is not None and s.logging.driver:
        task["LogDriver"] = {
            "Name": s.logging.driver,
            "Options": {k: v for k, v in s.logging.options.items() if v is not None},
        }
    return task


def _endpoint_spec(want: DesiredService) -> dict[str, Any]:
    """The EndpointSpec: the published ports and the endpoint mode."""
    s = want.spec
    deploy = s.deploy
    ports = [
        {
            "Protocol": p.protocol,
            "TargetPort": p.target,
            "PublishedPort": int(p.published.split("-")[0]),
            "PublishMode": p.mode,
        }
        for p in s.ports
        if p.published
    ]
    endpoint: dict[str, Any] = {"Mode": (deploy.endpoint_mode if deploy else None) or "vip"}
    if ports:
        endpoint["Ports"] = ports
    return endpoint


def update_config(uc: UpdateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Parallelism": uc.parallelism if uc.parallelism is not None else 1}
    if uc.delay is not None:
        out["Delay"] = nanoseconds(uc.delay)
    if uc.failure_action is not None:
        out["FailureAction"] = uc.failure_action
    if uc.monitor is not None:
        out["Monitor"] = nanoseconds(uc.monitor)
    if uc.max_failure_ratio is not None:
        out["MaxFailureRatio"] = uc.max_failure_ratio
    if uc.order is not None:
        out["Order"] = uc.order
    return out


def host_entry(entry: str) -> str:
    """Compose's `host:ip` / `host=ip` as the API's `ip host`."""
    sep = "=" if "=" in entry else ":"
    host, _, ip = entry.partition(sep)
    return f"{ip} {host}"


def service_state(raw: Mapping[str, Any]) -> SwarmServiceState:
    spec = raw.get("Spec") or {}
    mode = spec.get("Mode") or {}
    replicated = mode.get("Replicated")
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    status = raw.get("UpdateStatus") or {}
    return SwarmServiceState(
        id=str(raw.get("ID", "")),
        name=str(spec.get("Name", "")),
        labels=dict(spec.get("Labels") or {}),
        replicas=int(replicated.get("Replicas", 0)) if replicated is not None else None,
        image=strip_digest(str(container.get("Image", ""))),
        configs=tuple(str(c.get("ConfigName")) for c in container.get("Configs") or []),
        secrets=tuple(str(c.get("SecretName")) for c in container.get("Secrets") or []),
        update_state=status.get("State"),
        update_started=status.get("StartedAt"),
    )


def swarm_object(raw: Mapping[str, Any], name_key: str = "") -> SwarmObject:
    if name_key:  # networks list their name and labels at the top level
        return SwarmObject(
            str(raw.get("Id", "")), str(raw.get(name_key, "")), dict(raw.get("Labels") or {})
        )
    spec = raw.get("Spec") or {}
    return SwarmObject(
        str(raw.get("ID", "")), str(spec.get("Name", "")), dict(spec.get("Labels") or {})
    )


def task_hash_of(task: Mapping[str, Any]) -> str | None:
    labels = (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels")) or {}
    value = labels.get(TASK_HASH)
    return str(value) if value is not None else None


def task_error(tasks: Sequence[Mapping[str, Any]], task_hash: str) -> str:
    """The error of the most recent failed task of the new spec."""
    failed = [
        t
        for t in tasks
        if task_hash_of(t) == task_hash
        and (t.get("Status") or {}).get("State") in ("failed", "rejected", "shutdown", "complete")
        and (
            (t.get("Status") or {}).get("Err") or (t.get("Status") or {}).get("State") != "shutdown"
        )
    ]
    if not failed:
        return ""
    last = max(failed, key=lambda t: str((t.get("Status") or {}).get("Timestamp", "")))
    status = last.get("Status") or {}
    slot = last.get("Slot")
    where = f"task {last.get('ID', '')[:12]}" + (f" (slot {slot})" if slot else "")
    detail = status.get("Err") or status.get("Message") or status.get("State")
    return f"{where} {status.get('State')}: {detail}"
