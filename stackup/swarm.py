"""The swarm target: the same stack file, planned against Docker Swarm services.

Pure, like `reconcile`: a `Stack` (with its `SourceMap`, for locations) and one
`SwarmObserved` snapshot go in, a `plan.Plan` comes out, with the same actions, reasons,
field-level changes and renderers as the single-engine target. The engine layer is
`stackup.docker_swarm`; the steps here carry themselves out over it (`plan.RunnableStep`).

What maps where:
- a service becomes the swarm service `<project>_<service>` (as `docker stack deploy` names
  it); its canonical spec is stored in the service's `io.stackup.spec` label, so the next plan
  says field by field what changed, and replicas or an image changed outside stackup are drift;
- a network becomes an attachable overlay network;
- a config or secret becomes a *version* named `<project>_<key>-<keyed digest>`: Swarm's are
  immutable, so a changed one is created anew, the services are moved to it, and the old one
  is removed once nothing uses it. The digest is an HMAC keyed with the project's salt (never a
  plain content hash, which would let anyone with `docker secret ls` test guesses of a weak
  secret);
- keys Swarm cannot honour are warnings located at their line, keys and combinations that
  cannot work are blockers (errors), located the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import JsonValue

from stackup import labels as L
from stackup import salt as S
from stackup.desired import desired_network, image_ref, service_data
from stackup.errors import ApplyError
from stackup.fielddiff import diff_fields
from stackup.plan import Action, CreateNetwork, FieldChange, Kind, Operation, Plan
from stackup.poll import poll_until
from stackup.source import SourceMap
from stackup.spec import FileRef, Service, Stack

ObjectKind = Literal["config", "secret"]
OBJECT_KEY = "io.stackup.object"  # on a config or secret version: its key in the stack file
TASK_HASH = "io.stackup.task-hash"  # on a service's containers: what their tasks were made from
SWARM_PROJECT = "io.stackup.swarm-project"  # on a service's containers

# --------------------------------------------------------------------------- observed


@dataclass(frozen=True)
class SwarmObject:
    """A network, config or secret of the project, as the swarm lists it."""

    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SwarmServiceState:
    id: str
    name: str
    labels: Mapping[str, str]
    replicas: int | None  # None in global mode
    image: str  # the live image, without a pinned digest
    configs: tuple[str, ...] = ()  # names of the configs its tasks use
    secrets: tuple[str, ...] = ()
    update_state: str | None = None  # UpdateStatus.State
    update_started: str | None = None  # UpdateStatus.StartedAt: tells a new update from an old

    @property
    def applied(self) -> dict[str, JsonValue] | None:
        text = self.labels.get(L.SPEC)
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def service(self) -> str | None:
        return self.labels.get(L.SERVICE)


@dataclass(frozen=True)
class SwarmObserved:
    project: str
    services: tuple[SwarmServiceState, ...] = ()
    networks: tuple[SwarmObject, ...] = ()
    configs: tuple[SwarmObject, ...] = ()
    secrets: tuple[SwarmObject, ...] = ()
    nodes: int = 1  # ready nodes

    def labelled(self) -> Iterator[Mapping[str, str]]:
        """The labels of the project's resources, in the order their salt is trusted."""
        for group in (self.services, self.configs, self.secrets, self.networks):
            for obj in group:
                yield obj.labels

    def fingerprint(self) -> str:
        parts = [
            *(
                f"s:{s.name}:{s.labels.get(L.SPEC_HASH)}:{s.replicas}:{s.image}"
                for s in self.services
            ),
            *(f"n:{n.name}" for n in self.networks),
            *(f"c:{c.name}" for c in self.configs),
            *(f"x:{x.name}" for x in self.secrets),
        ]
        return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- desired


@dataclass(frozen=True)
class FileMount:
    """A config or secret version mounted in a service's tasks."""

    name: str  # the engine's name of the version
    target: str  # absolute path in the container
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


@dataclass(frozen=True)
class SwarmMount:
    type: str
    target: str
    source: str | None = None
    read_only: bool = False
    volume_labels: Mapping[str, str] = field(default_factory=dict)
    volume_driver: str | None = None
    volume_driver_opts: Mapping[str, str] = field(default_factory=dict)
    tmpfs_size: int | None = None


@dataclass(frozen=True)
class DesiredObject:
    """A version of a config or secret. Its content is never rendered (`repr=False`)."""

    kind: ObjectKind
    key: str
    name: str
    external: bool
    labels: Mapping[str, str]
    content: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class DesiredService:
    service: str
    name: str
    image: str  # what the tasks run: registry-qualified, pinned to a digest when known
    replicas: int | None  # None in global mode
    spec: Service = field(repr=False)
    environment: Mapping[str, str] = field(repr=False)
    networks: tuple[tuple[str, tuple[str, ...]], ...]  # (network name, aliases)
    mounts: tuple[SwarmMount, ...]
    configs: tuple[FileMount, ...]
    secrets: tuple[FileMount, ...]
    labels: Mapping[str, str]  # the service's (deploy.labels and ours)
    container_labels: Mapping[str, str]  # the tasks' (labels, and the task hash)
    canonical: dict[str, JsonValue]

    @property
    def task_hash(self) -> str:
        return self.container_labels[TASK_HASH]


@dataclass(frozen=True)
class SwarmOptions:
    services: tuple[str, ...] = ()  # empty: all
    remove_orphans: bool = False
    salt: str = S.UNSET  # for a project that has no resource carrying a salt yet (stackup.salt)
    file_objects: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    registry: str | None = None
    digests: Mapping[str, str] = field(default_factory=dict)  # image → sha256:… after a push
    wait_timeout: float = 300.0


def deployed_image(stack: Stack, service: str, registry: str | None = None) -> str:
    """The image the service's tasks pull: with `x-stackup.registry`, an image named without
    a registry host is deployed from that registry (`up` pushes it there first)."""
    image = image_ref(stack, service)
    registry = registry if registry is not None else stack.stackup.registry
    if registry and not has_registry_host(image):
        return f"{registry}/{image}"
    return image


def has_registry_host(image: str) -> bool:
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def strip_digest(image: str) -> str:
    return image.split("@", 1)[0]


def service_name(stack: Stack, service: str) -> str:
    return f"{stack.name}_{service}"


def _keyed(salt: str, content: bytes) -> str:
    return hmac.new(salt.encode(), content, hashlib.sha256).hexdigest()


def desired_objects(
    stack: Stack, salt: str, file_objects: Mapping[str, bytes]
) -> list[DesiredObject]:
    out: list[DesiredObject] = []
    for kind, table in (("config", stack.configs), ("secret", stack.secrets)):
        for key, obj in sorted(table.items()):
            assert obj.name is not None
            if obj.external:
                out.append(DesiredObject(kind, key, obj.name, True, {}))  # type: ignore[arg-type]
                continue
            content = file_objects.get(f"{kind}:{key}", b"")
            version = _keyed(salt, content)[:12]
            labels = {
                **obj.labels,
                L.PROJECT: stack.name,
                OBJECT_KEY: key,
                L.VERSION: L.LABEL_SCHEMA_VERSION,
                L.SALT: salt,
            }
            out.append(
                DesiredObject(kind, key, f"{obj.name}-{version}", False, labels, content)  # type: ignore[arg-type]
            )
    return out


_SERVICE_FIELDS = {
    "image",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "healthcheck",
    "labels",
    "hostname",
    "user",
    "working_dir",
    "read_only",
    "init",
    "stop_signal",
    "stop_grace_period",
    "tmpfs",
    "ulimits",
    "sysctls",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "group_add",
    "logging",
    "tty",
    "stdin_open",
    "deploy",
}


def desired_service(
    stack: Stack,
    name: str,
    salt: str,
    objects: Mapping[tuple[ObjectKind, str], DesiredObject],
    options: SwarmOptions,
) -> DesiredService:
    service = stack.services[name]
    image = deployed_image(stack, name, options.registry)
    pinned = options.digests.get(image)
    deploy = service.deploy
    global_mode = deploy is not None and deploy.mode == "global"
    replicas = None if global_mode else service.replicas

    networks = [
        (stack.networks[key].name or key, tuple(dict.fromkeys([name, *net.aliases])))
        for key, net in sorted(service.networks.items())
    ]
    mounts = _mounts(stack, service)
    refs: dict[str, list[FileMount]] = {"config": [], "secret": []}
    uses: list[tuple[ObjectKind, list[FileRef]]] = [
        ("config", service.configs),
        ("secret", service.secrets),
    ]
    for kind, used in uses:
        for ref in used:
            obj = objects.get((kind, ref.source))
            if obj is not None:
                refs[kind].append(_file_mount(kind, ref, obj.name))

    # The canonical spec: the part both targets share (stackup.desired.service_data), with
    # what the swarm makes of the service on top.
    data = service_data(stack, name, salt, image, include=_SERVICE_FIELDS)
    data.setdefault("deploy", None)
    data["deploy"] = dict(data["deploy"] or {})
    data["deploy"]["replicas"] = replicas
    data["networks"] = {n: list(a) for n, a in networks}
    data["volumes"] = [
        {"type": m.type, "source": m.source, "target": m.target, "read_only": m.read_only}
        for m in mounts
    ]
    for kind in ("config", "secret"):
        data[kind + "s"] = [
            {"name": m.name, "target": m.target, "uid": m.uid, "gid": m.gid, "mode": m.mode}
            for m in refs[kind]
        ]
    canonical: dict[str, JsonValue] = json.loads(L.canonical_json(data))
    labels = L.resource_labels(
        stack.name,
        L.canonical_json(canonical),
        salt=salt,
        service=name,
        extra=deploy.labels if deploy else None,
    )
    return DesiredService(
        service=name,
        name=service_name(stack, name),
        image=f"{strip_digest(image)}@{pinned}" if pinned else image,
        replicas=replicas,
        spec=service,
        environment={k: v for k, v in service.environment.items() if v is not None},
        networks=tuple(networks),
        mounts=tuple(mounts),
        configs=tuple(refs["config"]),
        secrets=tuple(refs["secret"]),
        labels=labels,
        # Not io.stackup.project: the single-engine target would take the tasks' containers
        # for its own (and `down --target engine` would remove what Swarm then restarts).
        container_labels={
            **service.labels,
            SWARM_PROJECT: stack.name,
            TASK_HASH: _task_hash(canonical),
        },
        canonical=canonical,
    )


def _task_hash(canonical: Mapping[str, JsonValue]) -> str:
    """What the tasks are made from: the canonical spec without the settings of the service
    alone (scale, how to roll out, its labels), so a scale replaces no task."""
    task_part = json.loads(L.canonical_json(dict(canonical)))
    for key in ("replicas", "update_config", "rollback_config", "labels"):
        task_part["deploy"].pop(key, None)
    return L.spec_hash(L.canonical_json(task_part))[:16]


def _mounts(stack: Stack, service: Service) -> list[SwarmMount]:
    mounts: list[SwarmMount] = []
    for vol in service.volumes:
        source = vol.source
        volume_labels: dict[str, str] = {}
        driver: str | None = None
        driver_opts: Mapping[str, str] = {}
        if vol.type == "volume" and source and source in stack.volumes:
            top = stack.volumes[source]
            if not top.external:
                volume_labels = {**top.labels, L.PROJECT: stack.name, L.VOLUME: source}
                driver, driver_opts = top.driver, top.driver_opts
            source = top.name
        mounts.append(
            SwarmMount(
                type=vol.type,
                target=vol.target,
                source=source,
                read_only=vol.read_only,
                volume_labels=volume_labels,
                volume_driver=driver,
                volume_driver_opts=driver_opts,
                tmpfs_size=vol.tmpfs.size if vol.tmpfs else None,
            )
        )
    return mounts


def _file_mount(kind: str, ref: FileRef, name: str) -> FileMount:
    target = ref.target or ref.source
    if not target.startswith("/"):
        target = f"/run/secrets/{target}" if kind == "secret" else f"/{target}"
    return FileMount(
        name=name,
        target=target,
        uid=ref.uid or "0",
        gid=ref.gid or "0",
        mode=ref.mode if ref.mode is not None else 0o444,
    )


# --------------------------------------------------------------------------- what Swarm cannot do

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


# --------------------------------------------------------------------------- reconcile


def reconcile_swarm(
    stack: Stack, source: SourceMap, observed: SwarmObserved, options: SwarmOptions
) -> Plan:
    """The plan that makes the swarm run `stack`: networks, config and secret versions,
    services (created, or updated with every changed field), then what they no longer use."""
    salt = S.choose(observed.labelled(), options.salt)
    selected = tuple(sorted(options.services or stack.services))
    warnings, errors = check(stack, source, selected, observed.nodes)
    ops: list[Operation] = []

    # networks
    used_networks = sorted({k for s in selected for k in stack.services[s].networks})
    have_networks = {n.name for n in observed.networks}
    network_ops: dict[str, str] = {}
    for key in used_networks:
        net = stack.networks[key]
        if net.external:
            continue
        net_want = desired_network(stack, key, salt)
        if net_want.name in have_networks:
            continue
        spec = net_want.spec
        if spec.driver in (None, "bridge"):
            from dataclasses import replace

            spec = replace(spec, driver="overlay", attachable=True)
        op_id = f"network:{net_want.name}"
        network_ops[key] = op_id
        ops.append(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=Kind.NETWORK,
                name=net_want.name,
                reason="new network"
                + (" (overlay, attachable)" if spec.driver == "overlay" else ""),
                steps=(CreateNetwork(spec),),
            )
        )

    # config and secret versions
    objects = {(o.kind, o.key): o for o in desired_objects(stack, salt, options.file_objects)}
    have_objects = {
        "config": {c.name for c in observed.configs},
        "secret": {s.name for s in observed.secrets},
    }
    object_ops: dict[tuple[str, str], str] = {}
    used_objects = {
        (kind, ref.source)
        for s in selected
        for kind, refs in (
            ("config", stack.services[s].configs),
            ("secret", stack.services[s].secrets),
        )
        for ref in refs
    }
    for (kind, key), obj in sorted(objects.items()):
        if obj.external or (kind, key) not in used_objects or obj.name in have_objects[kind]:
            continue
        previous = sorted(
            o.name
            for o in (observed.configs if kind == "config" else observed.secrets)
            if o.labels.get(OBJECT_KEY) == key
        )
        op_id = f"{kind}:{obj.name}"
        object_ops[(kind, key)] = op_id
        ops.append(
            Operation(
                id=op_id,
                action=Action.CREATE,
                kind=Kind.CONFIG if kind == "config" else Kind.SECRET,
                name=obj.name,
                reason=(
                    f"{kind} {key} changed: new version (replaces {', '.join(previous)})"
                    if previous
                    else f"new {kind}"
                ),
                steps=(CreateObject(obj),),
            )
        )

    # services
    by_service = {s.service: s for s in observed.services if s.service}
    service_ops: list[str] = []
    for name in selected:
        want = desired_service(stack, name, salt, objects, options)
        have = by_service.get(name)
        after = tuple(
            sorted(
                {network_ops[k] for k in stack.services[name].networks if k in network_ops}
                | {
                    object_ops[(kind, ref.source)]
                    for kind, refs in (
                        ("config", stack.services[name].configs),
                        ("secret", stack.services[name].secrets),
                    )
                    for ref in refs
                    if (kind, ref.source) in object_ops
                }
            )
        )
        op_id = f"service:{want.name}"
        wait = WaitConverged(
            service=name,
            name=want.name,
            task_hash=want.task_hash,
            replicas=want.replicas,
            previous_update=have.update_started if have else None,
            timeout=options.wait_timeout,
        )
        if have is None:
            ops.append(
                Operation(
                    id=op_id,
                    action=Action.CREATE,
                    kind=Kind.SERVICE,
                    name=want.name,
                    service=name,
                    reason="new service"
                    + (f" ({want.replicas} replicas)" if want.replicas not in (None, 1) else ""),
                    steps=(CreateService(want), wait),
                    after=after,
                )
            )
            service_ops.append(op_id)
            continue
        fields, reasons = _service_changes(want, have)
        if not fields:
            continue
        ops.append(
            Operation(
                id=op_id,
                action=Action.UPDATE,
                kind=Kind.SERVICE,
                name=want.name,
                service=name,
                reason="; ".join(reasons),
                fields=tuple(fields),
                steps=(UpdateService(want), wait),
                after=after,
                details=_rollout_details(want, fields),
            )
        )
        service_ops.append(op_id)

    # services no longer in the file
    orphans = sorted(s.name for s in observed.services if s.service not in stack.services)
    removed: set[str] = set()
    for orphan in orphans:
        if not options.remove_orphans:
            warnings.append(
                f"service {orphan} is no longer in the stack file; `up --remove-orphans` removes it"
            )
            continue
        removed.add(orphan)
        ops.append(
            Operation(
                id=f"service:{orphan}",
                action=Action.REMOVE,
                kind=Kind.SERVICE,
                name=orphan,
                reason="orphan: no longer in the stack file",
                steps=(RemoveService(orphan), WaitServiceGone(orphan)),
            )
        )
        service_ops.append(f"service:{orphan}")

    # old config and secret versions nothing uses any more
    updated = {op.service for op in ops if op.kind is Kind.SERVICE and op.service}
    still_used: set[str] = {o.name for o in objects.values()}
    for s in observed.services:
        if s.name in removed or (s.service in updated):
            continue
        still_used.update(s.configs, s.secrets)
    groups: list[tuple[ObjectKind, tuple[SwarmObject, ...]]] = [
        ("config", observed.configs),
        ("secret", observed.secrets),
    ]
    for kind, existing in groups:
        for old in sorted(existing, key=lambda o: o.name):
            if old.name in still_used:
                continue
            key = old.labels.get(OBJECT_KEY, "?")
            ops.append(
                Operation(
                    id=f"{kind}:{old.name}",
                    action=Action.REMOVE,
                    kind=Kind.CONFIG if kind == "config" else Kind.SECRET,
                    name=old.name,
                    reason=f"old version of {kind} {key}, no longer used",
                    steps=(RemoveObject(kind, old.name),),
                    after=tuple(sorted(service_ops)),
                )
            )

    return Plan(
        project=stack.name,
        operations=tuple(ops),
        warnings=tuple(warnings),
        blockers=tuple(errors),
        fingerprint=observed.fingerprint(),
        services=selected,
    )


def _service_changes(
    want: DesiredService, have: SwarmServiceState
) -> tuple[list[FieldChange], list[str]]:
    applied = have.applied or {}
    fields = diff_fields(applied, want.canonical)
    reasons: list[str] = []
    if fields:
        paths = [f.path for f in fields]
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        reasons.append(f"changed: {shown}")
    # Drift: what `docker service scale` / `update` changed behind stackup's back.
    applied_deploy = applied.get("deploy")
    applied_replicas = applied_deploy.get("replicas") if isinstance(applied_deploy, dict) else None
    if have.replicas != applied_replicas and have.replicas != want.replicas:
        reasons.append(
            f"replicas scaled outside stackup: {have.replicas}, the file says {want.replicas}"
        )
        if not any(f.path == "deploy.replicas" for f in fields):
            fields.append(FieldChange("deploy.replicas", have.replicas, want.replicas))
    applied_image = applied.get("image")
    if (
        isinstance(applied_image, str)
        and strip_digest(have.image) != strip_digest(applied_image)
        and strip_digest(have.image) != strip_digest(want.image)
    ):
        reasons.append(
            f"image changed outside stackup: {strip_digest(have.image)} running, "
            f"the file says {strip_digest(want.image)}"
        )
        if not any(f.path == "image" for f in fields):
            fields.append(FieldChange("image", strip_digest(have.image), strip_digest(want.image)))
    if not applied and not fields:
        fields.append(FieldChange("io.stackup.spec", None, "(the applied spec)"))
        reasons.append("not created by stackup (no applied spec on it)")
    return sorted(fields, key=lambda f: f.path), reasons


def _rollout_details(want: DesiredService, fields: list[FieldChange]) -> tuple[str, ...]:
    """How Swarm will replace the tasks, when the change replaces them."""
    deploy = want.spec.deploy
    uc = deploy.update_config if deploy else None
    service_only = (
        "deploy.replicas",
        "deploy.labels",
        "deploy.update_config",
        "deploy.rollback_config",
    )
    if uc is None or all(f.path.startswith(service_only) for f in fields):
        return ()
    parts = [f"order {uc.order or 'stop-first'}", f"on failure {uc.failure_action or 'pause'}"]
    if uc.parallelism:
        parts.append(f"{uc.parallelism} at a time")
    return ("rolling update: " + ", ".join(parts),)


# --------------------------------------------------------------------------- steps


@runtime_checkable
class SwarmEngine(Protocol):
    """What the swarm steps need from the engine (`stackup.docker_swarm.DockerSwarm`)."""

    def create_service(self, want: DesiredService) -> None: ...
    def update_service(self, want: DesiredService) -> None: ...
    def remove_service(self, name: str) -> None: ...
    def service_gone(self, name: str) -> bool: ...
    def create_object(self, obj: DesiredObject) -> None: ...
    def remove_object(self, kind: ObjectKind, name: str) -> None: ...
    def convergence(self, step: WaitConverged) -> Convergence: ...


@dataclass(frozen=True)
class Convergence:
    """One look at a service while waiting for it: done, failed (with why), or progress."""

    done: bool = False
    failed: str | None = None
    progress: str = ""


def _swarm(engine: object) -> SwarmEngine:
    if not isinstance(engine, SwarmEngine):
        raise ApplyError("this plan is for Docker Swarm; run it with --target swarm")
    return engine


Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CreateService:
    want: DesiredService

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).create_service(self.want)


@dataclass(frozen=True, slots=True)
class UpdateService:
    want: DesiredService

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).update_service(self.want)


@dataclass(frozen=True, slots=True)
class RemoveService:
    name: str

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).remove_service(self.name)


@dataclass(frozen=True, slots=True)
class WaitServiceGone:
    """A removed service's tasks hold its networks until they are gone."""

    name: str
    timeout: float = 120.0
    poll: float = 0.5

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        swarm = _swarm(engine)
        report(f"waiting for the tasks of {self.name} to stop")

        def gone() -> bool | None:
            return True if swarm.service_gone(self.name) else None

        if poll_until(gone, interval=self.poll, timeout=self.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for {self.name} to stop")
        raise ApplyError(
            f"timed out after {self.timeout:g}s waiting for {self.name}'s tasks to stop"
        )


@dataclass(frozen=True, slots=True)
class CreateObject:
    obj: DesiredObject

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).create_object(self.obj)


@dataclass(frozen=True, slots=True)
class RemoveObject:
    kind: ObjectKind
    name: str

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        _swarm(engine).remove_object(self.kind, self.name)


@dataclass(frozen=True, slots=True)
class WaitConverged:
    """Until every task of the new spec runs (healthy, where there is a healthcheck: Swarm
    marks a task running only then), or the update is rolled back or paused."""

    service: str
    name: str
    task_hash: str
    replicas: int | None
    previous_update: str | None  # UpdateStatus.StartedAt before this apply: older news is stale
    timeout: float = 300.0
    poll: float = 0.5

    def run(self, engine: object, report: Report, cancel: threading.Event) -> None:
        swarm = _swarm(engine)
        shown = [""]  # the progress last reported, and so the last seen

        def converged() -> bool | None:
            state = swarm.convergence(self)
            if state.failed:
                raise ApplyError(f"service {self.service}: {state.failed}")
            if state.done:
                return True
            if state.progress and state.progress != shown[0]:
                report(f"{self.service}: {state.progress}")
                shown[0] = state.progress
            return None

        if poll_until(converged, interval=self.poll, timeout=self.timeout, cancel=cancel):
            return
        if cancel.is_set():
            raise ApplyError(f"interrupted while waiting for service {self.service}")
        raise ApplyError(
            f"service {self.service} did not converge in {self.timeout:g}s: {shown[0]}"
        )
