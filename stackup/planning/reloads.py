"""Reload policies, as the planner and watch mode both need them: which services reload and
how (`x-stackup.reload`, nginx's default), which of their mounts are config, which file names
are an editor's noise, and the ↻ operations that carry a reload out (validate, then signal or
exec). Pure: no I/O."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Service
from stackup.planning.plan import Action, Exec, Kind, Operation, RecordApplied, Signal

NGINX_POLICY = ReloadPolicy.model_validate({"validate": ["nginx", "-t"], "signal": "HUP"})

# Files editors and tools write next to the real ones; never a reason to act.
_NOISE = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "4913", "*.tmp", ".*.tmp", "*.kate-swp")
# `sed -i` writes its output to `sedXXXXXX` (mkstemp's six random characters) beside the file,
# then renames it over the file: only the rename matters. Not `sed*`: `sedona.conf` is real.
_SED_TEMP = re.compile(r"^sed[A-Za-z0-9]{6}$")
NOISE_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache"})


def image_repository(image: str) -> str:
    """`registry:5000/library/nginx:1.25@sha256:…` → `nginx` (the last path component)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def reload_policy(service: Service) -> ReloadPolicy | None:
    """The service's reload policy: its own `x-stackup.reload`, `false` for none, else nginx's
    default (validate `nginx -t`, then HUP) for an nginx image or a command starting `nginx`."""
    declared = service.stackup.reload
    if declared is False:
        return None
    if declared is not None:
        return declared
    return NGINX_POLICY if runs_nginx(service) else None


def runs_nginx(service: Service) -> bool:
    """An nginx image, or a command starting `nginx`."""
    if service.image is not None and image_repository(service.image) == "nginx":
        return True
    return bool(service.command and PurePosixPath(service.command[0]).name == "nginx")


def confirms_reload(service: Service) -> bool:
    """Whether a reload of `service` is done only once its process list shows a new generation
    of workers (stackup.targets.engine.reloaded): nginx's, whatever its policy says (a HUP and
    `nginx -s reload` both return before the new config serves). Another process may reload
    in place, with nothing to see in its process list: its reload is done when the signal is
    delivered or the command has exited."""
    return runs_nginx(service)


def reload_steps(
    container: str, policy: ReloadPolicy, *, validate: bool, confirm: bool
) -> list[Exec | Signal]:
    """Validate (when asked and the policy says how), then signal or exec: the steps of one
    container's reload, for ↻ operations and rollouts alike."""
    steps: list[Exec | Signal] = []
    if validate and policy.validate_:
        steps.append(Exec(container, tuple(policy.validate_), "validate"))
    if policy.signal:
        steps.append(Signal(container, policy.signal, confirm=confirm))
    elif policy.exec_:
        steps.append(Exec(container, tuple(policy.exec_), "reload", confirm=confirm))
    return steps


def is_config_mount(policy: ReloadPolicy | None, target: str) -> bool:
    """A mount its service's reload policy reloads: a target under /etc/ or ending in .conf."""
    return policy is not None and (target.startswith("/etc/") or target.endswith(".conf"))


def renamed_reason(shown: str, targets: Sequence[str] = (), checked_by: str | None = None) -> str:
    """Why a config saved by rename recreates its container, and how to avoid it: a
    single-file bind mount pins the file's inode, and `sed -i`, vim and most editors save by
    writing a new file and renaming it over the old one. A mounted directory shows the new
    file at once (then it is reloaded in place)."""
    example = ""
    if targets:
        directory = PurePosixPath(targets[0]).parent
        example = f" (e.g. ./{directory.name}:{directory})"
    check = f" ({checked_by} checks it first, in a throwaway container)" if checked_by else ""
    return (
        f"{shown} was saved by rename, and a single-file bind mount shows the new file only "
        f"to a new container{check}; to have it reloaded in place instead, put it in a "
        f"directory of its own and mount the directory{example}"
    )


def is_noise(path: Path) -> bool:
    if any(part in NOISE_DIRS for part in path.parts):
        return True
    if _SED_TEMP.match(path.name):
        return True
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in _NOISE)


def reload_operations(
    service: str,
    containers: Sequence[str],
    policy: ReloadPolicy,
    reason: str,
    records: Mapping[str, RecordApplied] | None = None,
    *,
    confirm: bool = False,
) -> tuple[Operation, ...]:
    """One ↻ operation per container: validate (if the policy says how), then signal or exec
    (waiting, with `confirm`, until the new config serves: `confirms_reload`), then
    `records[container]` (what it now runs: `plan.RecordApplied`). The executor stops
    an operation at a failing validate, so nothing is sent or recorded then."""
    ops = []
    for name in sorted(containers):
        steps: list[Exec | Signal | RecordApplied] = [
            *reload_steps(name, policy, validate=True, confirm=confirm)
        ]
        record = (records or {}).get(name)
        if record is not None:
            steps.append(record)
        ops.append(
            Operation(
                id=f"reload:{name}",
                action=Action.RELOAD,
                kind=Kind.CONTAINER,
                name=name,
                service=service,
                reason=reason,
                steps=tuple(steps),
            )
        )
    return tuple(ops)
