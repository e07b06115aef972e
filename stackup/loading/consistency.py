"""Checks across the fields of a validated stack that Compose (compose-go) also refuses, each
located at the value that is wrong. Every problem is returned, so a user sees them all at once.

The messages name the place and the problem, never the value: a value may be a secret that
interpolation put there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

from stackup.errors import PathElement, SpecValidationError
from stackup.loading.source import SourceMap, located_error
from stackup.model.parts import MAX_CONTAINERS
from stackup.model.spec import Service, Stack

_EXPOSE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def consistency_problems(stack: Stack, source: SourceMap) -> list[SpecValidationError]:
    out: list[SpecValidationError] = []
    for name in sorted(stack.services):
        out.extend(service_problems(name, stack.services[name], stack.services, source))
    problem = total_containers_problem(stack, {})
    if problem is not None:
        name, message = problem
        service = stack.services[name]
        key = "scale" if service.deploy is None or service.deploy.replicas is None else "deploy"
        path = ("services", name, key)
        out.append(located_error(source.value(path), path, message, _TOTAL_HINT))
    return out


_TOTAL_HINT = "lower scale or deploy.replicas; a stack this large is a mistake or an attack"


def total_containers_problem(stack: Stack, scale: Mapping[str, int]) -> tuple[str, str] | None:
    """The service at which the containers of the stack (with `--scale` overrides) pass
    MAX_CONTAINERS, and the message; None when they stay within it. Planning works per
    container, so the cap bounds its work."""
    total = 0
    for name in sorted(stack.services):
        total += scale.get(name, stack.services[name].replicas)
        if total > MAX_CONTAINERS:
            return name, (
                f"the stack asks for more than {MAX_CONTAINERS} containers in all "
                f"(counted in service order up to {name})"
            )
    return None


def service_problems(
    name: str, service: Service, defined: Collection[str], source: SourceMap
) -> list[SpecValidationError]:
    """The problems of one service; `defined` are the names of every service in the stack.
    The loader also calls this for the services that validated when others did not."""
    out = []
    for sub, message, hint in _service_problems(defined, service):
        path: tuple[PathElement, ...] = ("services", name, *sub)
        out.append(located_error(source.value(path), path, message, hint))
    return out


_Problem = tuple[tuple[PathElement, ...], str, str | None]


def _service_problems(defined: Collection[str], service: Service) -> list[_Problem]:
    out: list[_Problem] = []
    if service.network_mode and service.networks:
        # The container shares another network stack; it has none of its own to attach.
        out.append(
            (
                ("network_mode",),
                "network_mode and networks cannot both be set",
                "remove `networks`, or remove `network_mode` to attach the service to networks",
            )
        )
    out.extend(_scale_problems(service))
    for key in ("ipc", "pid"):
        mode = getattr(service, key) or ""
        if mode.startswith("service:") and mode[len("service:") :] not in defined:
            out.append(
                (
                    (key,),
                    f"{key} names a service (service:NAME) that is not defined",
                    "define that service, or check that no inactive profile disables it",
                )
            )
    platforms = service.build.platforms if service.build is not None else []
    if service.platform and platforms and service.platform not in platforms:
        out.append(
            (
                ("platform",),
                "platform is not one of build.platforms",
                "the image is built for build.platforms only: add this platform there",
            )
        )
    for i, entry in enumerate(service.expose):
        problem = _expose_problem(entry)
        if problem:
            out.append(
                (
                    ("expose", i),
                    problem,
                    "write a port (80), a range (8000-8010), optionally with /tcp, /udp or /sctp",
                )
            )
    out.extend(_cpus_problems(service))
    return out


def _scale_problems(service: Service) -> list[_Problem]:
    out: list[_Problem] = []
    replicas = service.deploy.replicas if service.deploy is not None else None
    if service.scale is not None and replicas is not None and service.scale != replicas:
        out.append(
            (
                ("scale",),
                "scale and deploy.replicas are both set, to different values",
                "keep one of them",
            )
        )
    wanted = service.scale if service.scale is not None else replicas
    if service.container_name and wanted is not None and wanted > 1:
        source = "scale" if service.scale is not None else "deploy.replicas"
        out.append(
            (
                ("container_name",),
                f"container_name is set, but {source} asks for more than one container "
                "and a container name must be unique",
                f"remove container_name, or set {source} to 1",
            )
        )
    return out


def _expose_problem(entry: str) -> str | None:
    match = _EXPOSE.match(entry.strip())
    if match is None:
        return "invalid exposed port: expected PORT or START-END, optionally /PROTOCOL"
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) else lo
    if not (0 < lo <= 65535 and 0 < hi <= 65535):
        return "invalid exposed port: out of range (1-65535)"
    if lo > hi:
        return "invalid exposed port: the range is reversed (its start is above its end)"
    return None


def _cpus_problems(service: Service) -> list[_Problem]:
    out: list[_Problem] = []
    places: list[tuple[tuple[PathElement, ...], str | None]] = [(("cpus",), service.cpus)]
    resources = service.deploy.resources if service.deploy is not None else None
    if resources is not None:
        for part in ("limits", "reservations"):
            spec = getattr(resources, part)
            if spec is not None:
                places.append((("deploy", "resources", part, "cpus"), spec.cpus))
    for path, text in places:
        if text is None:
            continue
        try:
            value = float(text)
        except ValueError:
            out.append((path, "cpus must be a number of CPUs, such as 0.5 or 2", None))
            continue
        if not math.isfinite(value):
            out.append((path, "cpus must be a finite number of CPUs", None))
        elif value < 0:
            out.append((path, "cpus must not be negative", None))
    return out
