"""What Swarm cannot honour in a stack file: keys it ignores (warnings) and keys and
combinations that cannot work (blockers), each located at its line."""

from __future__ import annotations

from stackup.loading.source import SourceMap
from stackup.model.spec import Service, Stack

# Keys a swarm service has no place for: `docker stack deploy` ignores them too.
IGNORED: dict[str, str] = {
    "build": "Swarm does not build images: build it first (`up --build`) and deploy it from a "
    "registry (x-stackup.registry)",
    "privileged": "Swarm services cannot run privileged",
    "network_mode": "Swarm services join overlay networks; network_mode is ignored",
    "devices": "Swarm services cannot map devices",
    "device_cgroup_rules": "Swarm services cannot set device cgroup rules",
    "cap_add": "ignored on the swarm target",
    "cap_drop": "ignored on the swarm target",
    "security_opt": "ignored by Swarm",
    "container_name": "Swarm names tasks itself",
    "restart": "Swarm uses deploy.restart_policy instead",
    "depends_on": "Swarm starts services in no particular order; use healthchecks and retries",
    "links": "ignored by Swarm: services find each other by name on their networks",
    "external_links": "ignored by Swarm",
    "cgroup_parent": "ignored by Swarm",
    "userns_mode": "ignored by Swarm",
    "pid": "ignored by Swarm",
    "ipc": "ignored by Swarm",
    "uts": "ignored by Swarm",
    "mac_address": "ignored by Swarm",
    "cpus": "use deploy.resources.limits.cpus on Swarm",
    "cpu_shares": "ignored by Swarm",
    "cpu_quota": "ignored by Swarm",
    "cpu_period": "ignored by Swarm",
    "cpuset": "ignored by Swarm",
    "mem_limit": "use deploy.resources.limits.memory on Swarm",
    "mem_reservation": "use deploy.resources.reservations.memory on Swarm",
    "memswap_limit": "ignored by Swarm",
    "mem_swappiness": "ignored by Swarm",
    "pids_limit": "use deploy.resources.limits.pids on Swarm",
    "oom_kill_disable": "ignored by Swarm",
    "oom_score_adj": "ignored by Swarm",
    "shm_size": "ignored by Swarm",
    "storage_opt": "ignored by Swarm",
    "runtime": "ignored by Swarm",
    "domainname": "ignored by Swarm",
    "cgroup": "ignored by Swarm",
}

# Keys that cannot work on a swarm: the plan refuses them.
FORBIDDEN: dict[str, str] = {
    "volumes_from": "a swarm task cannot mount another container's volumes; use a named volume",
}


def check(
    stack: Stack, source: SourceMap, services: tuple[str, ...], nodes: int
) -> tuple[list[str], list[str]]:
    """(warnings, errors) for what Swarm cannot honour, each starting with its location."""
    warnings: list[str] = []
    errors: list[str] = []

    def where(path: tuple[str | int, ...]) -> str:
        mark = source.key(path)
        dotted = ".".join(str(p) for p in path)
        return f"{mark}: {dotted}" if mark else dotted

    for name in services:
        service = stack.services[name]
        base: tuple[str | int, ...] = ("services", name)
        for key, why in sorted(IGNORED.items()):
            if _is_set(service, key):
                if key == "network_mode" and str(service.network_mode).startswith(
                    ("service:", "container:")
                ):
                    errors.append(
                        f"{where((*base, key))}: not possible on Swarm: a task cannot share "
                        "another task's network namespace"
                    )
                    continue
                warnings.append(f"{where((*base, key))}: not supported by Swarm: {why}")
        for key, why in sorted(FORBIDDEN.items()):
            if _is_set(service, key):
                errors.append(f"{where((*base, key))}: not possible on Swarm: {why}")
        deploy = service.deploy
        if deploy is not None and deploy.mode in ("replicated-job", "global-job"):
            errors.append(
                f"{where((*base, 'deploy', 'mode'))}: job modes are not supported by stackup's "
                "swarm target"
            )
        host_ports = [p for p in service.ports if p.mode == "host" and p.published]
        for i, port in enumerate(service.ports):
            if port.host_ip:
                warnings.append(
                    f"{where((*base, 'ports', i))}: Swarm publishes on every interface; "
                    f"host_ip {port.host_ip} is ignored"
                )
            if (
                port.mode == "ingress"
                and deploy is not None
                and deploy.endpoint_mode == "dnsrr"
                and port.published
            ):
                errors.append(
                    f"{where((*base, 'ports', i))}: a port published through the ingress mesh "
                    "needs endpoint_mode vip; use mode: host with dnsrr"
                )
        replicas = None if deploy is not None and deploy.mode == "global" else service.replicas
        if host_ports and replicas is not None:
            order = deploy.update_config.order if deploy and deploy.update_config else None
            if replicas > nodes:
                errors.append(
                    f"{where((*base, 'ports'))}: {replicas} replicas publish host port "
                    f"{host_ports[0].published} on {nodes} node(s): a node runs one of them at most"
                )
            elif order == "start-first" and replicas >= nodes:
                errors.append(
                    f"{where((*base, 'deploy', 'update_config', 'order'))}: start-first cannot "
                    f"update {replicas} replica(s) publishing host port {host_ports[0].published} "
                    f"on {nodes} node(s): the new task needs a node whose port is free; "
                    "use stop-first"
                )
        for i, vol in enumerate(service.volumes):
            if vol.type == "bind":
                warnings.append(
                    f"{where((*base, 'volumes', i))}: bind mount {vol.source} must exist on every "
                    "node a task may run on (consider a config, or a placement constraint)"
                )
    return warnings, errors


def _is_set(service: Service, key: str) -> bool:
    value = getattr(service, key)
    return value not in (None, False, [], {}, ())
