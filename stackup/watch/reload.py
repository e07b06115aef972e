"""Watch mode's decisions, without I/O: what a set of changed paths means for each service, the
reload policy a service gets, and the plans that carry a reload or a restart out.

The watch loop (`stackup.watch.loop`) feeds paths in and runs the plans built here; everything here
is a pure function of the stack and the paths, so it is tested without an engine.

* A path is a **stack file** (a stack file, an include, an env file): re-plan the stack.
* A path under a **develop.watch** rule: that rule's action (sync, rebuild, restart, ...).
* A path under a **bind mount** of a service: a *config* mount (its target is under `/etc/` or
  ends in `.conf`) of a service with a reload policy → validate, then reload; any other mount
  is *content* (a web root), served as is.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stackup.loading.loader import LoadedStack
from stackup.model.parts import WatchRule
from stackup.model.settings import ReloadPolicy
from stackup.model.spec import Stack
from stackup.planning.desired import desired_containers, read_file_objects
from stackup.planning.plan import (
    Action,
    CheckInThrowaway,
    CopyFiles,
    Exec,
    Kind,
    Operation,
    Plan,
    StartContainer,
    StopContainer,
    steps_first,
)
from stackup.planning.reloads import (  # the policy is the planner's too; re-exported for watch
    NGINX_POLICY,
    NOISE_DIRS,
    confirms_reload,
    image_repository,
    is_config_mount,
    is_noise,
    reload_operations,
    reload_policy,
    renamed_reason,
)
from stackup.planning.throwaway_specs import validation_twin_spec
from stackup.watch.nginx_errors import Mount, explain

__all__ = [
    "NGINX_POLICY",
    "confirms_reload",
    "image_repository",
    "is_config_mount",
    "is_noise",
    "reload_operations",
    "reload_policy",
    "renamed_reason",
]


# ----------------------------------------------------------------------------- policy


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class BindMount:
    service: str
    source: Path  # host path
    target: str  # path in the container
    is_file: bool
    role: str  # "config" or "content"

    def container_path(self, host: Path) -> str:
        if self.is_file or host == self.source:
            return self.target
        return str(PurePosixPath(self.target) / host.relative_to(self.source).as_posix())


@dataclass(frozen=True, slots=True)
class Rule:
    service: str
    index: int
    rule: WatchRule

    @property
    def path(self) -> Path:
        return Path(self.rule.path)


@dataclass(frozen=True)
class WatchTargets:
    """Everything watch looks at for a stack and a selection of services."""

    stack_files: frozenset[Path]
    mounts: tuple[BindMount, ...]
    rules: tuple[Rule, ...]
    policies: Mapping[str, ReloadPolicy | None]

    def roots(self) -> list[Path]:
        """Directories to watch, each one on its own (not recursively): the parent of each
        watched file (so that a rename over it is seen) and every directory under a directory
        mount or a develop.watch path. Never the whole project root: a `node_modules` or a
        build output beside the stack file costs no watches and no events. A directory created
        later changes this list, and the loop watches again (a sync sends a new directory
        whole, so what was written in it meanwhile is not lost)."""
        wanted: set[Path] = set()
        for f in self.stack_files:
            wanted.add(f.parent)
        trees: set[Path] = set()
        for m in self.mounts:
            (trees if not m.is_file else wanted).add(m.source if not m.is_file else m.source.parent)
        for r in self.rules:
            (trees if r.path.is_dir() else wanted).add(r.path if r.path.is_dir() else r.path.parent)
        for top in trees:
            for root, dirs, _ in os.walk(top):
                dirs[:] = [d for d in dirs if d not in NOISE_DIRS]
                wanted.add(Path(root))
        return sorted(p for p in wanted if p.is_dir())

    def interesting(self, path: Path) -> bool:
        if is_noise(path):
            return False
        if path in self.stack_files:
            return True
        if any(_under(path, m.source, m.is_file) for m in self.mounts):
            return True
        return any(_under(path, r.path, False) for r in self.rules)


def watch_targets(loaded: LoadedStack, services: Sequence[str] = ()) -> WatchTargets:
    stack = loaded.stack
    selected = sorted(services or stack.services)
    mounts: list[BindMount] = []
    rules: list[Rule] = []
    policies: dict[str, ReloadPolicy | None] = {}
    for name in selected:
        service = stack.services[name]
        policy = reload_policy(service)
        policies[name] = policy
        for vol in service.volumes:
            if vol.type != "bind" or not vol.source:
                continue
            source = Path(os.path.normpath(vol.source))
            is_file = source.is_file()
            config = policy is not None and is_config_mount(policy, vol.target)
            mounts.append(
                BindMount(name, source, vol.target, is_file, "config" if config else "content")
            )
        if service.develop is not None:
            for i, rule in enumerate(service.develop.watch):
                rules.append(Rule(name, i, rule))
    return WatchTargets(
        stack_files=frozenset(Path(os.path.normpath(f)) for f in loaded.files),
        mounts=tuple(mounts),
        rules=tuple(rules),
        policies=policies,
    )


def _under(path: Path, root: Path, exact: bool) -> bool:
    return path == root if exact else (path == root or path.is_relative_to(root))


def ignored(rule: WatchRule, path: Path) -> bool:
    """Whether `path` (under the rule's path) is excluded by its `ignore` patterns (matched as
    .dockerignore does: against the relative path, a directory pattern covers what is below),
    or not selected by its `include` patterns."""
    root = Path(rule.path)
    if path == root:
        return False
    rel = path.relative_to(root).as_posix()
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]

    def matches(pattern: str) -> bool:
        pattern = pattern.strip("/")
        return any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(
            parts[-1], pattern
        )

    if any(matches(p) for p in rule.ignore):
        return True
    return bool(rule.include) and not any(matches(p) for p in rule.include)


# ----------------------------------------------------------------------------- changes


@dataclass
class ServiceChanges:
    service: str
    config: list[tuple[BindMount, Path]] = field(default_factory=list)
    content: list[tuple[BindMount, Path]] = field(default_factory=list)
    rules: dict[int, list[Path]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.config or self.content or self.rules)


@dataclass
class Batch:
    """One burst of changes, grouped: at most one action per service comes out of it."""

    stack_files: list[Path] = field(default_factory=list)
    services: dict[str, ServiceChanges] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.stack_files or self.services)


def classify(targets: WatchTargets, paths: Iterable[Path]) -> Batch:
    batch = Batch()
    for raw in sorted(set(paths)):
        path = Path(os.path.normpath(raw))
        if is_noise(path):
            continue
        if path in targets.stack_files:
            batch.stack_files.append(path)
            continue
        for rule in targets.rules:
            if _under(path, rule.path, False) and not ignored(rule.rule, path):
                changes = batch.services.setdefault(rule.service, ServiceChanges(rule.service))
                changes.rules.setdefault(rule.index, []).append(path)
        for mount in targets.mounts:
            if not _under(path, mount.source, mount.is_file):
                continue
            changes = batch.services.setdefault(mount.service, ServiceChanges(mount.service))
            if mount.role == "config":
                changes.config.append((mount, path))
            else:
                changes.content.append((mount, path))
    batch.services = {k: v for k, v in sorted(batch.services.items()) if v}
    return batch


def merge(into: Batch, more: Batch) -> Batch:
    """Coalesce two batches (changes that arrived while the first was being handled)."""
    for f in more.stack_files:
        if f not in into.stack_files:
            into.stack_files.append(f)
    for name, ch in more.services.items():
        have = into.services.setdefault(name, ServiceChanges(name))
        have.config += [c for c in ch.config if c not in have.config]
        have.content += [c for c in ch.content if c not in have.content]
        for i, paths in ch.rules.items():
            have.rules.setdefault(i, [])
            have.rules[i] += [p for p in paths if p not in have.rules[i]]
    return into


# ----------------------------------------------------------------------------- atomic saves


def replaced_by_rename(host_inode: int, container_inode: int | None) -> bool:
    """A single-file bind mount pins the inode the file had when the container was created; an
    editor that saves by writing a new file and renaming it over the old one gives the host path
    a new inode the container never sees."""
    return container_inode is not None and host_inode != container_inode


# ----------------------------------------------------------------------------- failures


def failure_lines(targets: WatchTargets, service: str, output: str, base: Path) -> list[str]:
    """A failed validation's output at the host files and lines it points to, through the
    service's bind mounts (`nginx/default.conf:9: unknown directive ...`). `output` may be
    the executor's message, `validate command ... failed in ... (exit 1):` and the output's
    lines under it."""
    if output.startswith("validate command "):
        output = output.partition("\n")[2]
    mounts = [Mount(m.source, m.target, m.is_file) for m in targets.mounts if m.service == service]
    return explain(output, mounts, base)


# ----------------------------------------------------------------------------- plans


def describe(paths: Sequence[Path], base: Path | None = None) -> str:
    shown = [_rel(p, base) for p in paths[:3]]
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(shown) + more


def _rel(path: Path, base: Path | None) -> str:
    if base is not None and path.is_relative_to(base):
        return path.relative_to(base).as_posix()
    return str(path)


def restart_operations(
    service: str, containers: Sequence[str], reason: str, command: Sequence[str] | None = None
) -> tuple[Operation, ...]:
    """develop.watch's `restart` (stop and start the same container) or `exec` (run a command
    in it) as plan operations."""
    ops = []
    for name in sorted(containers):
        if command:
            steps: tuple[Exec | StopContainer | StartContainer, ...] = (
                Exec(name, tuple(command), "exec"),
            )
            action = Action.RELOAD
        else:
            steps = (StopContainer(name), StartContainer(name))
            action = Action.START
        ops.append(
            Operation(
                id=f"{'exec' if command else 'restart'}:{name}",
                action=action,
                kind=Kind.CONTAINER,
                name=name,
                service=service,
                reason=reason,
                steps=steps,
            )
        )
    return tuple(ops)


def sync_operations(
    service: str,
    containers: Sequence[str],
    archive: bytes,
    files: int,
    deleted: Sequence[str],
    watched: Path,
) -> tuple[Operation, ...]:
    """develop.watch's sync as plan operations: the tar of changed files copied into each
    container, and the files gone from `watched` removed from it."""
    ops = []
    for name in sorted(containers):
        steps: list[CopyFiles | Exec] = [CopyFiles(name, archive, files)] if files else []
        if deleted:
            steps.append(Exec(name, ("rm", "-rf", "--", *deleted), "sync"))
        ops.append(
            Operation(
                id=f"sync:{name}",
                action=Action.SYNC,
                kind=Kind.CONTAINER,
                name=name,
                service=service,
                reason=f"develop.watch: files changed under {watched}",
                steps=tuple(steps),
            )
        )
    return tuple(ops)


def throwaway_check(
    stack: Stack, service: str, policy: ReloadPolicy
) -> tuple[CheckInThrowaway, ...]:
    """The policy's validation (`nginx -t`) run in a throwaway twin of the service's
    container, as a plan step; none when the policy validates nothing."""
    if not policy.validate_:
        return ()
    (want,) = desired_containers(stack, service, 1, "check", read_file_objects(stack))
    return (
        CheckInThrowaway(validation_twin_spec(want.spec, stack.name, service, policy.validate_)),
    )


def checked_first(op: Operation, check: tuple[CheckInThrowaway, ...]) -> Operation:
    """`op` with `check` as its first steps (unless it checks already); the step indexes it
    holds (gate, restore range) move with its steps."""
    if any(isinstance(step, CheckInThrowaway) for step in op.steps):
        return op
    return steps_first(op, check)


def watch_plan(project: str, operations: Iterable[Operation], services: Sequence[str]) -> Plan:
    return Plan(project=project, operations=tuple(operations), services=tuple(services))


def exec_command(rule: WatchRule) -> list[str] | None:
    """The command of a `sync+exec` rule's `exec:` section (a list or a shell string)."""
    if rule.exec is None:
        return None
    command = rule.exec.get("command")
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    if isinstance(command, list):
        return [str(c) for c in command]
    return None
