"""What a stack asks for that stackup, or the engine it talks to, cannot do.

Pure: a `Stack` and its `SourceMap` in, messages out, each starting with the location of the
key (`stack.yaml:12:5: services.app.provider: ...`). The CLI prints them; nothing here does.

- `warnings`: Compose keys stackup reads but does not act on (a provider-managed service,
  AI models, lifecycle hooks, BuildKit-only build options, ...). The file still loads and
  plans, as Compose files must; the user learns what is left out.
- `engine_errors`: keys this engine's API is too old for, named with the version that has
  them. `up` refuses them before it starts anything, rather than let the engine drop them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stackup.errors import dotted
from stackup.loading.source import SourceMap
from stackup.model.spec import Service, Stack

Path = tuple[str | int, ...]

# Build options of BuildKit: stackup builds through the engine's classic builder API.
_BUILDKIT_ONLY = (
    "secrets",
    "ssh",
    "entitlements",
    "ulimits",
    "provenance",
    "sbom",
    "no_cache_filter",
)

# Pull policies whose "is the local image old?" test stackup does not make.
_AGED_POLICIES = ("refresh", "daily", "weekly")

# (API version, Engine release) that first supports a key.
IMAGE_MOUNTS = ((1, 48), "28.0")
INTERFACE_NAME = ((1, 48), "28.0")
ENABLE_IPV4 = ((1, 48), "28.0")
READ_ONLY_RECURSIVE = ((1, 44), "25.0")


def _where(source: SourceMap, path: Path) -> str:
    mark = source.key(path)
    return f"{mark}: {dotted(path)}" if mark else dotted(path)


def is_aged_pull_policy(policy: str | None) -> bool:
    """`refresh`, `daily`, `weekly`, `every_<duration>`: pull when the local image is old."""
    return policy is not None and (policy in _AGED_POLICIES or policy.startswith("every_"))


def warnings(
    stack: Stack,
    source: SourceMap,
    services: Iterable[str] | None = None,
    *,
    swarm: bool = False,
) -> list[str]:
    """Keys of the stack (of `services`, or of every service) stackup reads but ignores, on a
    single engine or (`swarm`) on Swarm, which has its own list (`stackup.targets.swarm.check.check`)."""
    out: list[str] = []
    names = sorted(stack.services if services is None else services)
    for name in names:
        found = _service_warnings(stack.services[name], ("services", name), source)
        if swarm:
            found = [w for w in found if "Swarm only" not in w]
        out.extend(found)
    if stack.models:
        out.append(
            f"{_where(source, ('models',))}: AI models are served by Docker Model Runner, which "
            "stackup does not drive; the models are not pulled or started"
        )
    return sorted(out, key=_document_order)


def _document_order(message: str) -> tuple[str, int, int]:
    """`file:line:col: ...` messages by file, then line and column as numbers."""
    match = re.match(r"(.*?):(\d+):(\d+): ", message)
    if match is None:
        return ("", 0, 0)
    return (match.group(1), int(match.group(2)), int(match.group(3)))


def _service_warnings(s: Service, base: Path, source: SourceMap) -> list[str]:
    out: list[str] = []

    def warn(key: Path, text: str) -> None:
        out.append(f"{_where(source, (*base, *key))}: {text}")

    if s.provider is not None:
        warn(
            ("provider",),
            f"provider services are not supported by stackup; service skipped "
            f"(no container is run for provider {s.provider.type!r})",
        )
    if s.models:
        warn(("models",), "AI models are not supported by stackup; no model variables are set")
    if s.pre_stop:
        warn(("pre_stop",), "pre_stop hooks are not run by stackup; ignored")
    if s.use_api_socket:
        warn(
            ("use_api_socket",),
            "not supported by stackup; bind-mount the engine's socket as a volume if the "
            "service needs it",
        )
    if s.credential_spec is not None:
        warn(("credential_spec",), "Windows containers only; ignored on a Linux engine")
    for key in ("cpu_count", "cpu_percent"):
        if getattr(s, key) is not None:
            warn((key,), "Windows containers only; a Linux engine ignores it (use `cpus`)")
    reservations = s.deploy.resources.reservations if s.deploy and s.deploy.resources else None
    if reservations is not None and reservations.generic_resources:
        warn(
            ("deploy", "resources", "reservations", "generic_resources"),
            "Swarm only; ignored by a single engine",
        )
    if s.deploy is not None and s.deploy.rollback_config is not None:
        warn(
            ("deploy", "rollback_config"),
            "Swarm only; on a single engine a failed update is undone at once (the new "
            "container removed, the old one kept or started again)",
        )
    update = s.deploy.update_config if s.deploy is not None else None
    if update is not None and update.max_failure_ratio is not None:
        warn(
            ("deploy", "update_config", "max_failure_ratio"),
            "Swarm only; a single engine stops a rollout at its first failure",
        )
    if s.build is not None:
        for key in _BUILDKIT_ONLY:
            if getattr(s.build, key):
                warn(
                    ("build", key),
                    "needs BuildKit; stackup builds with the engine's classic builder, which "
                    "ignores it",
                )
    if is_aged_pull_policy(s.pull_policy):
        warn(
            ("pull_policy",),
            f"stackup does not track image age; {s.pull_policy!r} pulls only a missing image",
        )
    if s.pull_refresh_after is not None:
        warn(("pull_refresh_after",), "stackup does not track image age; ignored")
    return out


def engine_errors(
    stack: Stack,
    source: SourceMap,
    api_version: tuple[int, int],
    services: Iterable[str] | None = None,
) -> list[str]:
    """Keys of the selected services that this engine's API version cannot apply."""
    out: list[str] = []

    def need(path: Path, what: str, version: tuple[tuple[int, int], str]) -> None:
        (major, minor), release = version
        if api_version < (major, minor):
            have = f"{api_version[0]}.{api_version[1]}"
            out.append(
                f"{_where(source, path)}: {what} needs Docker Engine {release} or later "
                f"(API {major}.{minor}); this engine speaks API {have}"
            )

    names = sorted(stack.services if services is None else services)
    networks_used: set[str] = set()
    for name in names:
        s = stack.services[name]
        if s.replicas == 0:
            continue
        base: Path = ("services", name)
        networks_used.update(s.networks)
        for i, vol in enumerate(s.volumes):
            if vol.type == "image":
                need((*base, "volumes", i), "an image mount", IMAGE_MOUNTS)
            if vol.bind is not None and vol.bind.recursive in ("writable", "readonly"):
                need(
                    (*base, "volumes", i, "bind", "recursive"),
                    f"recursive: {vol.bind.recursive}",
                    READ_ONLY_RECURSIVE,
                )
        for key, attachment in sorted(s.networks.items()):
            if attachment.interface_name:
                need((*base, "networks", key, "interface_name"), "interface_name", INTERFACE_NAME)
    for key in sorted(networks_used):
        net = stack.networks.get(key)
        if net is not None and net.enable_ipv4 is False and not net.external:
            need(("networks", key, "enable_ipv4"), "enable_ipv4: false", ENABLE_IPV4)
    return out
