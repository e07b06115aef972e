"""Desired state per resource: the canonical spec that goes into labels, and the engine
spec to create it from.

The canonical spec is the service as validated, with defaults explicit, names resolved to
the engine's (`demo_front`, `demo_data`), secrets replaced by salted digests, and the settings
that do not shape a container (ordering, scale, watch rules, stackup's own settings) left out,
so that a change to them never recreates anything.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from stackup.engine.interface import (
    ContainerSpec,
    FileCopy,
    MountSpec,
    NetworkAttachment,
    NetworkSpec,
    VolumeSpec,
)
from stackup.loading.files import read_bytes
from stackup.model import labels as label_keys
from stackup.model.parts import FileRef
from stackup.model.sensitive import ServiceMasker
from stackup.model.spec import FileObject, Service, Stack

# Settings that do not change what a container is: they order, scale or watch it.
_NOT_CONTAINER_CONFIG = {
    "build",
    "depends_on",
    "deploy",
    "develop",
    "env_file",
    "label_file",  # its labels are in `labels`
    "profiles",
    "pull_refresh_after",
    "provider",  # a provider service has no container
    "models",
    "post_start",
    "pre_start",  # stands in the spec as a keyed digest (canonical_service)
    "pre_stop",
    "pull_policy",
    "scale",
    "attach",
    "x-stackup",
    "secrets",
    "configs",
}

# What `docker update` changes on a running container: these never need a recreate.
# Only those compared with the live container (LiveConfig): `docker update` does not change
# the applied-spec label, so a field updated in place must be checked against the running
# container on the next plan, or the same update would be planned forever. Every other
# resource setting recreates.
UPDATABLE = ("restart", "cpus", "mem_limit", "pids_limit")

# Keys added after containers and networks were first labelled with their canonical spec: left
# out while unset, so upgrading stackup does not change the spec hash of what is running (a
# changed network hash recreates the network).
_LATER_KEYS = frozenset(
    {
        "gpus",
        "cpu_count",
        "cpu_percent",
        "cpu_rt_runtime",
        "cpu_rt_period",
        "blkio_config",
        "credential_spec",
        "use_api_socket",
        "interface_name",
        "recursive",
        "labels",  # of a volume mount (`volume.labels`); service labels are never None
        "image",  # of an image mount's options; a service's image is always set
        "enable_ipv4",
    }
)


def _drop_unset_later_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _drop_unset_later_keys(v)
            for k, v in value.items()
            if not (k in _LATER_KEYS and v is None)
        }
    if isinstance(value, list):
        return [_drop_unset_later_keys(v) for v in value]
    return value


@dataclass(frozen=True)
class DesiredContainer:
    name: str
    service: str
    number: int
    canonical: dict[str, JsonValue]
    spec: ContainerSpec

    @property
    def spec_hash(self) -> str:
        return self.spec.labels[label_keys.SPEC_HASH]


@dataclass(frozen=True)
class DesiredNetwork:
    key: str
    name: str
    external: bool
    canonical: dict[str, JsonValue]
    spec: NetworkSpec


@dataclass(frozen=True)
class DesiredVolume:
    key: str
    name: str
    external: bool
    canonical: dict[str, JsonValue]
    spec: VolumeSpec


def container_name(stack: Stack, service: str, number: int) -> str:
    """`<project>-<service>-<n>`, as Docker Compose v2 names them, or `container_name`."""
    explicit = stack.services[service].container_name
    return explicit if explicit else f"{stack.name}-{service}-{number}"


def desired_names(
    stack: Stack, services: Sequence[str] = (), scale: Mapping[str, int] | None = None
) -> list[str]:
    """The names the containers of `services` (default: all) get, every replica's."""
    out = []
    for name in services or sorted(stack.services):
        service = stack.services[name]
        replicas = 1 if service.container_name else (scale or {}).get(name, service.replicas)
        out += [container_name(stack, name, n) for n in range(1, replicas + 1)]
    return out


def image_ref(stack: Stack, service: str) -> str:
    """The image a service runs: its `image`, or for a build-only service the name Compose
    gives the image it builds (`<project>-<service>`)."""
    return stack.services[service].image or f"{stack.name}-{service}"


def image_mount_source(stack: Stack, source: str) -> str:
    """The image a `type: image` mount shows: its `source`, or, when that names a service of
    the stack that builds its image without naming it, the image that build makes, as
    Compose resolves it (docker/compose `resolveImageVolumes`: `source` → `<project>-<source>`)."""
    service = stack.services.get(source)
    if service is not None and service.build is not None and service.image is None:
        return image_ref(stack, source)
    return source


def image_key(image: str) -> str:
    """The tag an image reference means locally: `nginx` is `nginx:latest`; a digest
    reference stays as it is."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


def temporary_name(name: str) -> str:
    """The name a replacement container has until its predecessor is gone."""
    return name + label_keys.TEMPORARY_SUFFIX


def read_file_objects(
    stack: Stack,
    environ: Mapping[str, str] | None = None,
    read: Callable[[Path], bytes] | None = None,
) -> dict[str, bytes]:
    """The content of every secret and config the stack defines (`secret:x`, `config:y`),
    read with `read` when given (a review reads the base revision's files from git).

    Done once, before planning, so that reconcile itself reads no file."""
    env = os.environ if environ is None else environ
    out: dict[str, bytes] = {}
    for kind, table in (("secret", stack.secrets), ("config", stack.configs)):
        for key, obj in table.items():
            if obj.file is not None:
                try:
                    path = Path(obj.file)
                    out[f"{kind}:{key}"] = (
                        read(path) if read is not None else read_bytes(path, f"{kind}s.{key}.file")
                    )
                except OSError:
                    out[f"{kind}:{key}"] = b""
            elif obj.content is not None:
                out[f"{kind}:{key}"] = obj.content.encode()
            elif obj.environment is not None:
                out[f"{kind}:{key}"] = env.get(obj.environment, "").encode()
    return out


def desired_network(stack: Stack, key: str, salt: str) -> DesiredNetwork:
    net = stack.networks[key]
    assert net.name is not None
    canonical: dict[str, JsonValue] = _drop_unset_later_keys(
        net.model_dump(mode="json", by_alias=True, exclude={"labels"})
    )
    canonical["labels"] = dict(sorted(net.labels.items()))
    text = label_keys.canonical_json(canonical)
    labels = label_keys.resource_labels(
        stack.name, text, salt=salt, extra={**net.labels, label_keys.NETWORK: key}
    )
    ipam = net.ipam
    spec = NetworkSpec(
        name=net.name,
        labels=labels,
        driver=net.driver,
        driver_opts=net.driver_opts,
        internal=net.internal,
        attachable=net.attachable,
        enable_ipv6=net.enable_ipv6,
        enable_ipv4=net.enable_ipv4,
        ipam_driver=ipam.driver if ipam else None,
        ipam_pools=tuple(
            {k: v for k, v in pool.model_dump(exclude_none=True).items() if isinstance(v, str)}
            for pool in (ipam.config if ipam else [])
        ),
        ipam_options=ipam.options if ipam else {},
    )
    return DesiredNetwork(key, net.name, net.external, canonical, spec)


def desired_volume(stack: Stack, key: str, salt: str) -> DesiredVolume:
    vol = stack.volumes[key]
    assert vol.name is not None
    canonical: dict[str, JsonValue] = vol.model_dump(mode="json", by_alias=True)
    text = label_keys.canonical_json(canonical)
    labels = label_keys.resource_labels(
        stack.name, text, salt=salt, extra={**vol.labels, label_keys.VOLUME: key}
    )
    spec = VolumeSpec(name=vol.name, labels=labels, driver=vol.driver, driver_opts=vol.driver_opts)
    return DesiredVolume(key, vol.name, vol.external, canonical, spec)


def desired_containers(
    stack: Stack,
    service_name: str,
    replicas: int,
    salt: str,
    file_objects: Mapping[str, bytes],
    carried_volumes: Mapping[int, Mapping[str, str]] | None = None,
) -> list[DesiredContainer]:
    """The containers one service wants. `carried_volumes[n]` maps a mount target to the
    anonymous volume replica `n` already has, so a recreate keeps that data."""
    service = stack.services[service_name]
    canonical = canonical_service(stack, service_name, salt, file_objects)
    text = label_keys.canonical_json(canonical)
    out = []
    for number in range(1, replicas + 1):
        name = container_name(stack, service_name, number)
        labels = label_keys.resource_labels(
            stack.name, text, salt=salt, service=service_name, number=number, extra=service.labels
        )
        spec = ContainerSpec(
            name=name,
            image=image_ref(stack, service_name),
            service=service,
            labels=labels,
            environment={k: v for k, v in service.environment.items() if v is not None},
            networks=_attachments(stack, service_name, name),
            network_mode=_network_mode(stack, service),
            volumes_from=tuple(_volumes_from(stack, service)),
            mounts=_mounts(stack, service, (carried_volumes or {}).get(number, {})),
            files=_files(stack, service, file_objects),
            hostname=service.hostname,
        )
        out.append(DesiredContainer(name, service_name, number, canonical, spec))
    return out


def service_data(
    stack: Stack,
    service_name: str,
    salt: str,
    image: str,
    *,
    include: Set[str] | None = None,
    exclude: Set[str] | None = None,
) -> dict[str, Any]:
    """What the canonical spec of a service is made from on either target (the container's
    here, the swarm service's in `stackup.targets.swarm.plan`): the service as plain data (only `include`,
    or without `exclude`), its environment without unset variables, sorted, every sensitive
    value a digest keyed with `salt`, and the image it runs. Each target layers its own
    fields on top (names resolved, secrets and configs, the swarm's deploy)."""
    service = stack.services[service_name]
    data: dict[str, Any] = service.model_dump(
        mode="json", by_alias=True, include=include, exclude=exclude
    )
    data["environment"] = {k: v for k, v in sorted(service.environment.items()) if v is not None}
    sensitive = [*stack.stackup.sensitive, *service.stackup.sensitive]
    masker = ServiceMasker(
        service_name,
        lambda v: label_keys.sensitive_digest(v, salt),
        sensitive,
        stack.tainted,
        stack.secret_values,
    )
    masker.service(data)
    data["image"] = image
    return data


def canonical_service(
    stack: Stack, service_name: str, salt: str, file_objects: Mapping[str, bytes]
) -> dict[str, JsonValue]:
    service = stack.services[service_name]
    # Pruning after masking is the same as before it: neither the masker nor the environment
    # and image set above ever put a None where pruning would look.
    data: dict[str, Any] = _drop_unset_later_keys(
        service_data(
            stack, service_name, salt, image_ref(stack, service_name), exclude=_NOT_CONTAINER_CONFIG
        )
    )
    data["networks"] = {
        (stack.networks[k].name or k): v for k, v in sorted(data.get("networks", {}).items())
    }
    for vol in data.get("volumes", []):
        if vol.get("type") == "volume" and vol.get("source") in stack.volumes:
            vol["source"] = stack.volumes[vol["source"]].name
    limits = (
        service.deploy.resources.limits if service.deploy and service.deploy.resources else None
    )
    if limits is not None:
        data["cpus"] = data.get("cpus") or limits.cpus
        data["mem_limit"] = data.get("mem_limit") or limits.memory
        data["pids_limit"] = data.get("pids_limit") or limits.pids
    if service.pre_start:
        # A changed step recreates the container, so that it runs again before the new one
        # starts, as Compose's service hash includes it. Its environment may hold secrets:
        # the spec (stored in a label) holds only a keyed digest of the steps.
        steps = [hook.model_dump(mode="json") for hook in service.pre_start]
        data["pre_start"] = label_keys.sensitive_digest(label_keys.canonical_json(steps), salt)
    data["secrets"] = [
        _file_ref_canonical("secret", ref, stack.secrets, file_objects, salt)
        for ref in service.secrets
        if ref.source in stack.secrets
    ]
    data["configs"] = [
        _file_ref_canonical("config", ref, stack.configs, file_objects, salt)
        for ref in service.configs
        if ref.source in stack.configs
    ]
    return data


def _file_ref_canonical(
    kind: str,
    ref: FileRef,
    table: Mapping[str, FileObject],
    file_objects: Mapping[str, bytes],
    salt: str,
) -> dict[str, JsonValue]:
    content = file_objects.get(f"{kind}:{ref.source}", b"")
    return {
        "source": ref.source,
        "target": _file_target(kind + "s", ref.source, ref.target),
        "mode": ref.mode,
        "external": table[ref.source].external,
        # A secret's content is known only as a keyed digest; a config's plain hash is fine.
        "content": (
            label_keys.sensitive_digest(content.decode(errors="replace"), salt)
            if kind == "secret"
            else "sha256:" + hashlib.sha256(content).hexdigest()
        ),
    }


def _file_target(kind: str, source: str, target: str | None) -> str:
    if target and target.startswith("/"):
        return target
    if kind == "secrets":
        return f"/run/secrets/{target or source}"
    return f"/{target or source}"


def _attachments(stack: Stack, service_name: str, name: str) -> tuple[NetworkAttachment, ...]:
    service = stack.services[service_name]
    if service.network_mode is not None:
        return ()
    out = []
    # Higher priority first, then by name, so the primary network is stable.
    ordered = sorted(service.networks.items(), key=lambda kv: (-(kv[1].priority or 0), kv[0]))
    for key, net in ordered:
        out.append(
            NetworkAttachment(
                network=stack.networks[key].name or key,
                aliases=tuple(dict.fromkeys([service_name, *net.aliases])),
                ipv4_address=net.ipv4_address,
                ipv6_address=net.ipv6_address,
                mac_address=net.mac_address,
                interface_name=net.interface_name,
            )
        )
    return tuple(out)


def _network_mode(stack: Stack, service: Service) -> str | None:
    mode = service.network_mode
    if mode and mode.startswith("service:"):
        return "container:" + container_name(stack, mode[8:], 1)
    return mode


def _volumes_from(stack: Stack, service: Service) -> list[str]:
    out = []
    for ref in service.volumes_from:
        parts = ref.split(":")
        if parts[0] == "container" and len(parts) > 1:
            out.append(":".join(parts[1:]))
        elif parts[0] in stack.services:
            out.append(":".join([container_name(stack, parts[0], 1), *parts[1:]]))
        else:
            out.append(ref)
    return out


def _mounts(stack: Stack, service: Service, carried: Mapping[str, str]) -> tuple[MountSpec, ...]:
    out = []
    declared = {vol.target for vol in service.volumes}
    # Anonymous volumes of the container being replaced that only its image declares
    # (`VOLUME /var/lib/postgresql/data`): mounted by name, or the new container would start
    # with an empty data directory.
    for target, name in sorted(carried.items()):
        if target not in declared:
            out.append(MountSpec(type="volume", target=target, source=name))
    for vol in service.volumes:
        source = vol.source
        if vol.type == "volume":
            if source and source in stack.volumes:
                source = stack.volumes[source].name
            elif not source:
                source = carried.get(vol.target)
        elif vol.type == "image" and source is not None:
            source = image_mount_source(stack, source)
        out.append(
            MountSpec(
                type=vol.type,
                target=vol.target,
                source=source,
                read_only=vol.read_only,
                propagation=vol.bind.propagation if vol.bind else None,
                create_host_path=vol.bind.create_host_path if vol.bind else True,
                nocopy=vol.volume.nocopy if vol.volume else False,
                subpath=vol.volume.subpath if vol.volume else None,
                tmpfs_size=vol.tmpfs.size if vol.tmpfs else None,
                tmpfs_mode=vol.tmpfs.mode if vol.tmpfs else None,
                recursive=vol.bind.recursive if vol.bind else None,
                volume_labels=tuple(sorted(vol.volume.labels.items()))
                if vol.volume and vol.volume.labels
                else (),
                image_subpath=vol.image.subpath if vol.image else None,
            )
        )
    # Secrets and configs from files are bind-mounted read-only, as Compose does outside Swarm.
    for kind, refs, table in (
        ("secrets", service.secrets, stack.secrets),
        ("configs", service.configs, stack.configs),
    ):
        for ref in refs:
            obj: FileObject | None = table.get(ref.source)
            if obj is not None and obj.file is not None:
                out.append(
                    MountSpec(
                        type="bind",
                        source=obj.file,
                        target=_file_target(kind, ref.source, ref.target),
                        read_only=True,
                    )
                )
    return tuple(out)


def _files(
    stack: Stack, service: Service, file_objects: Mapping[str, bytes]
) -> tuple[FileCopy, ...]:
    out = []
    for kind, refs, table in (
        ("secrets", service.secrets, stack.secrets),
        ("configs", service.configs, stack.configs),
    ):
        for ref in refs:
            obj = table.get(ref.source)
            if obj is not None and obj.file is None and not obj.external:
                out.append(
                    FileCopy(
                        target=_file_target(kind, ref.source, ref.target),
                        content=file_objects.get(f"{kind[:-1]}:{ref.source}", b""),
                        mode=ref.mode if ref.mode is not None else 0o444,
                    )
                )
    return tuple(out)
