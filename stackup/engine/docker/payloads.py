"""Pure conversions of what the Docker Engine API returns (API 1.41+) into stackup's values:
the list payloads into one `Observed` snapshot, an inspect into live settings and state.

No I/O and no `import docker` here: `stackup.engine.docker.engine` hands the engine's JSON to
these functions, so the mapping is tested from recorded real payloads
(`tests/fixtures/payloads/`) without an engine. The other direction is
`stackup.engine.docker.convert`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from stackup.engine.interface import (
    ContainerProcess,
    ContainerState,
)
from stackup.engine.observed import (
    LiveConfig,
    Observed,
    ObservedContainer,
    ObservedMount,
    ObservedNetwork,
    ObservedVolume,
)
from stackup.errors import EngineError
from stackup.model import labels
from stackup.model.effective import Restart

# --------------------------------------------------------------------------- engine → Observed


def container_from_payload(raw: Mapping[str, Any]) -> ObservedContainer:
    """One entry of `GET /containers/json` (the list form, not inspect)."""
    names = raw.get("Names") or []
    name = names[0].lstrip("/") if names else str(raw.get("Id", ""))[:12]
    settings = raw.get("NetworkSettings") or {}
    mounts = tuple(
        ObservedMount(
            type=str(m.get("Type", "")),
            name=m.get("Name") or None,
            source=m.get("Source") or None,
            destination=str(m.get("Destination", "")),
        )
        for m in raw.get("Mounts") or []
    )
    return ObservedContainer(
        id=str(raw["Id"]),
        name=name,
        labels=dict(raw.get("Labels") or {}),
        state=str(raw.get("State", "")),
        status=str(raw.get("Status", "")),
        image_id=str(raw.get("ImageID", "")),
        image=str(raw.get("Image", "")),
        networks=frozenset((settings.get("Networks") or {}).keys()),
        mounts=mounts,
        created=int(raw.get("Created") or 0),
        ports=tuple(_port_text(p) for p in raw.get("Ports") or () if p.get("PublicPort")),
    )


def _port_text(port: Mapping[str, Any]) -> str:
    """`127.0.0.1:8080->80/tcp`, as `docker ps` shows a published port."""
    return f"{port.get('IP', '')}:{port['PublicPort']}->{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"


def network_from_payload(raw: Mapping[str, Any]) -> ObservedNetwork:
    return ObservedNetwork(
        id=str(raw["Id"]),
        name=str(raw["Name"]),
        labels=dict(raw.get("Labels") or {}),
        driver=str(raw.get("Driver") or "bridge"),
        scope=str(raw.get("Scope") or "local"),
    )


def volume_from_payload(raw: Mapping[str, Any]) -> ObservedVolume:
    return ObservedVolume(
        name=str(raw["Name"]),
        labels=dict(raw.get("Labels") or {}),
        driver=str(raw.get("Driver") or "local"),
    )


_DEFAULT_REGISTRY_PREFIXES = (
    "docker.io/library/",
    "docker.io/",
    "index.docker.io/library/",
    "index.docker.io/",
)


def image_tags(images: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Every local name of every image → its ID.

    Keys: each RepoTag as the engine spells it; the same without a Docker Hub prefix
    (`docker.io/library/nginx:1` → `nginx:1`); a `:latest` tag also under its bare repository
    (`busybox`), since a service image `busybox` means `busybox:latest`; and each RepoDigest
    (`nginx@sha256:…`).
    """
    out: dict[str, str] = {}
    for image in images:
        image_id = str(image.get("Id", ""))
        names = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
        for name in names:
            if not name or name.startswith("<none>"):
                continue
            for key in _aliases(name):
                out.setdefault(key, image_id)
    return out


def _aliases(name: str) -> list[str]:
    keys = [name]
    for prefix in _DEFAULT_REGISTRY_PREFIXES:
        if name.startswith(prefix):
            keys.append(name[len(prefix) :])
            break
    for key in list(keys):
        if "@" not in key and key.endswith(":latest"):
            keys.append(key[: -len(":latest")])
    return keys


def normalize_image(image: str) -> str:
    """The key `Observed.images` holds for a service's `image:` (a tag defaults to latest)."""
    for prefix in _DEFAULT_REGISTRY_PREFIXES:
        if image.startswith(prefix):
            image = image[len(prefix) :]
            break
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


def observed_from_payloads(
    project: str,
    *,
    containers: Iterable[Mapping[str, Any]],
    foreign: Iterable[Mapping[str, Any]],
    networks: Iterable[Mapping[str, Any]],
    volumes: Iterable[Mapping[str, Any]],
    images: Iterable[Mapping[str, Any]],
    engine_id: str,
) -> Observed:
    own = [container_from_payload(c) for c in containers]
    # The project's lock (a container made only for its name) is none of its resources.
    own = [
        c for c in own if c.labels.get(labels.PROJECT) == project and labels.LEASE not in c.labels
    ]
    others = [container_from_payload(c) for c in foreign]
    others = [c for c in others if c.labels.get(labels.COMPOSE_PROJECT) == project]
    nets = {n.name: n for n in (network_from_payload(n) for n in networks)}
    vols = {v.name: v for v in (volume_from_payload(v) for v in volumes)}
    return Observed(
        project=project,
        containers=tuple(sorted(own, key=lambda c: (c.name, c.id))),
        networks=dict(sorted(nets.items())),
        volumes=dict(sorted(vols.items())),
        images=image_tags(images),
        foreign=tuple(sorted(others, key=lambda c: (c.name, c.id))),
        engine_id=engine_id,
    )


# --------------------------------------------------------------------------- inspect → values


# Go's os.FileMode type bits, as the engine's path stat header carries them.
_MODE_DIR = 1 << 31
_MODE_SYMLINK = 1 << 27
_MODE_TYPE = _MODE_DIR | _MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)


def path_kind(stat_header: str) -> str:
    """The kind of a path in a container from its `X-Docker-Container-Path-Stat` header
    (base64 JSON: name, size, mode, mtime, linkTarget): `directory`, `symlink`, `file`,
    or `other` (a device, a pipe, a socket, or a header that cannot be read)."""
    try:
        mode = int(json.loads(base64.b64decode(stat_header))["mode"])
    except (ValueError, KeyError, TypeError):
        return "other"
    if mode & _MODE_DIR:
        return "directory"
    if mode & _MODE_SYMLINK:
        return "symlink"
    return "other" if mode & _MODE_TYPE else "file"


def restart_text(policy: Mapping[str, Any] | None) -> str:
    """The engine's RestartPolicy as Compose spells it."""
    if not policy:
        return "no"
    name = str(policy.get("Name") or "no")
    return Restart(name, int(policy.get("MaximumRetryCount") or 0)).text


def live_config_from_inspect(raw: Mapping[str, Any]) -> LiveConfig:
    host = raw.get("HostConfig") or {}
    pids = host.get("PidsLimit")
    return LiveConfig(
        restart=restart_text(host.get("RestartPolicy")),
        nano_cpus=int(host.get("NanoCpus") or 0),
        memory=int(host.get("Memory") or 0),
        pids_limit=int(pids) if pids and int(pids) > 0 else None,
    )


def container_state_from_inspect(raw: Mapping[str, Any]) -> ContainerState:
    state = raw.get("State") or {}
    health = state.get("Health") or None
    log = (health or {}).get("Log") or []
    return ContainerState(
        id=str(raw.get("Id", "")),
        name=str(raw.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        health=str(health["Status"]) if health and health.get("Status") else None,
        health_log=str(log[-1].get("Output") or "").strip() if log else "",
        started_at=str(state.get("StartedAt", "")),
        finished_at=str(state.get("FinishedAt", "")),
    )


# --------------------------------------------------------------------------- engine → processes


def processes_from_top(raw: Mapping[str, Any], container: str) -> tuple[ContainerProcess, ...]:
    """`GET /containers/{id}/top` (`{"Titles": [...], "Processes": [[...], ...]}`): the columns
    are found by their titles, which differ between engines (Docker's `ps -ef`: PID, PPID,
    CMD; Podman's: PID, PPID, COMMAND)."""
    titles = [str(t).upper() for t in raw.get("Titles") or []]
    command_titles = [t for t in ("CMD", "COMMAND", "ARGS") if t in titles]
    if "PID" not in titles or "PPID" not in titles or not command_titles:
        raise EngineError(
            f"listing the processes of container {container}: the engine's process list has no "
            f"PID, PPID and command columns (it has {', '.join(titles) or 'none'})"
        )
    pid, ppid, cmd = titles.index("PID"), titles.index("PPID"), titles.index(command_titles[0])
    out = []
    for row in raw.get("Processes") or []:
        try:
            out.append(ContainerProcess(int(row[pid]), int(row[ppid]), str(row[cmd])))
        except (IndexError, ValueError):
            continue  # a row the engine could not fill (a process that ended while listed)
    return tuple(out)
