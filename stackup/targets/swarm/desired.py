"""The swarm target's desired state: per service, the swarm service to run (its canonical spec,
the task hash its containers carry, mounts, networks, config and secret versions), and per
config or secret, the version to create. Pure: `stackup.targets.swarm.plan` plans with it, the engine layer
(`stackup.engine.docker.swarm`) maps it to the Docker API."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import JsonValue

from stackup.engine.swarm_interface import (  # the engine's value types; re-exported here
    OBJECT_KEY,
    SWARM_PROJECT,
    TASK_HASH,
    DesiredObject,
    DesiredService,
    FileMount,
    ObjectKind,
    SwarmMount,
    strip_digest,
)
from stackup.model import labels as label_keys
from stackup.model.parts import FileRef
from stackup.model.spec import Service, Stack
from stackup.planning import salt as salt_policy
from stackup.planning.desired import image_ref, service_data

__all__ = [
    "OBJECT_KEY",
    "SWARM_PROJECT",
    "TASK_HASH",
    "DesiredObject",
    "DesiredService",
    "FileMount",
    "ObjectKind",
    "SwarmMount",
    "strip_digest",
]


@dataclass(frozen=True)
class SwarmOptions:
    services: tuple[str, ...] = ()  # empty: all
    remove_orphans: bool = False
    salt: str = (
        salt_policy.UNSET
    )  # for a project that has no resource carrying a salt yet (stackup.planning.salt)
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
                label_keys.PROJECT: stack.name,
                OBJECT_KEY: key,
                label_keys.VERSION: label_keys.LABEL_SCHEMA_VERSION,
                label_keys.SALT: salt,
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

    # The canonical spec: the part both targets share (stackup.planning.desired.service_data), with
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
    canonical: dict[str, JsonValue] = json.loads(label_keys.canonical_json(data))
    labels = label_keys.resource_labels(
        stack.name,
        label_keys.canonical_json(canonical),
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
    task_part = json.loads(label_keys.canonical_json(dict(canonical)))
    for key in ("replicas", "update_config", "rollback_config", "labels"):
        task_part["deploy"].pop(key, None)
    return label_keys.spec_hash(label_keys.canonical_json(task_part))[:16]


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
                volume_labels = {
                    **top.labels,
                    label_keys.PROJECT: stack.name,
                    label_keys.VOLUME: source,
                }
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
