"""The checks behind `stackup lint`'s rules (the rules themselves: `stackup.lint.catalog`).

The checks are pure functions over
the validated `Stack`: they yield `Hit`s naming the path of the offending key in the stack
file; `stackup.lint.linter` turns paths into `file:line:col` marks and applies suppressions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from stackup.errors import PathElement
from stackup.lint.catalog import RULES, Rule
from stackup.model.parts import ServiceVolume
from stackup.model.sensitive import is_sensitive_name, secret_shape
from stackup.model.spec import Service, Stack

Path = tuple[PathElement, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing, located by the path of the offending key in the stack document."""

    rule: Rule
    path: Path
    message: str
    service: str | None
    cis: str | None = None  # when narrower than the rule's (SU007: one of its references)


# --------------------------------------------------------------------------- predicates

DANGEROUS_CAPABILITIES = frozenset(
    {"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "ALL"}
)
SENSITIVE_HOST_PATHS = ("/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
_SOCKET_NAMES = frozenset({"docker.sock", "podman.sock", "containerd.sock"})
_SOCKET_DIRS = frozenset({"/run", "/var/run", "/run/docker", "/var/run/docker"})

# Whole words that make a name look secret to lint. Lint is stricter than
# `stackup.model.sensitive` (which masks values in output, where erring wide is free): a name must
# look secret to both, so `MONKEY_COUNT` or `DB_PASSWORD_FILE` is no finding, and everything
# lint reports is also masked by `stackup config`.
_SECRET_WORDS = frozenset(
    {
        "PASSWORD", "PASSWD", "SECRET", "SECRETS", "TOKEN", "KEY", "APIKEY", "PRIVATEKEY",
        "PRIVATE", "CREDENTIAL", "CREDENTIALS", "SALT",
    }
)  # fmt: skip
# `DB_PASSWORD_FILE=/run/secrets/db` names a file, which is the safe form.
_NOT_SECRET_SUFFIXES = frozenset({"FILE", "PATH", "DIR", "NAME", "URL", "HOST", "PORT", "USER"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_name(name: str, extra: tuple[str, ...] = ()) -> bool:
    """`DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN` look secret; `DB_PASSWORD_FILE` and `KEYBOARD`
    do not. Names in `extra` (`x-stackup.sensitive`) always do."""
    if name.upper() in {e.upper() for e in extra}:
        return True
    if not is_sensitive_name(name):
        return False
    words = [w.upper() for w in _WORD_SPLIT.split(name) if w]
    if not words or words[-1] in _NOT_SECRET_SUFFIXES:
        return False
    return any(w in _SECRET_WORDS for w in words)


def _capability(name: str) -> str:
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def _security_opt(option: str) -> tuple[str, str]:
    key, _, value = option.replace("=", ":", 1).partition(":")
    return key.strip().lower(), value.strip().lower()


def _has_no_new_privileges(options: list[str]) -> bool:
    for option in options:
        key, value = _security_opt(option)
        if key == "no-new-privileges" and value in ("", "true", "1"):
            return True
    return False


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")


def _all_interfaces(host_ip: str | None) -> bool:
    return host_ip in (None, "", "0.0.0.0", "::", "[::]")


def _lowest_published(published: str | None) -> int | None:
    if not published:
        return None
    first = int(published.partition("-")[0])
    return first or None  # 0 asks the engine for a random port


def host_path(source: str, project_directory: str) -> str:
    """An absolute, normalised host path for a bind source as Compose resolves it."""
    expanded = os.path.expanduser(source)
    joined = os.path.join(project_directory, expanded)
    return os.path.normpath(joined)


def is_inside(path: str, directory: str) -> bool:
    directory = os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _socket_mount(path: str) -> bool:
    return PurePosixPath(path).name in _SOCKET_NAMES or path in _SOCKET_DIRS


def _sensitive_host_path(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in SENSITIVE_HOST_PATHS)


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Context:
    stack: Stack
    project_directory: str
    # Whether the environment value at a path was written literally (not `${...}`).
    is_literal: Callable[[Path], bool]
    # Services something waits on with `service_completed_successfully`: one-shot jobs.
    one_shot: frozenset[str]


def make_context(
    stack: Stack, project_directory: str, is_literal: Callable[[Path], bool]
) -> Context:
    one_shot = frozenset(
        dep
        for service in stack.services.values()
        for dep, cond in service.depends_on.items()
        if cond.condition == "service_completed_successfully"
    )
    return Context(stack, project_directory, is_literal, one_shot)


def check_service(ctx: Context, name: str, service: Service) -> Iterator[Hit]:
    base: Path = ("services", name)

    def hit(rule: str, path: Path, message: str, cis: str | None = None) -> Hit:
        return Hit(RULES[rule], base + path, message, name, cis)

    if service.privileged:
        yield hit(
            "SU001", ("privileged",), "`privileged: true` gives the container full host access"
        )

    for i, volume in enumerate(service.volumes):
        yield from _check_volume(ctx, hit, i, volume)

    for i, cap in enumerate(service.cap_add):
        if _capability(cap) in DANGEROUS_CAPABILITIES:
            yield hit("SU004", ("cap_add", i), f"capability {_capability(cap)} is added")
    if service.cap_add and "ALL" not in {_capability(c) for c in service.cap_drop}:
        yield hit("SU005", ("cap_add",), "capabilities are added without `cap_drop: [ALL]`")

    if service.network_mode == "host":
        yield hit("SU006", ("network_mode",), "`network_mode: host` shares the host's network")
    for key, cis in (("pid", "5.16"), ("ipc", "5.17"), ("userns_mode", "5.31")):
        if getattr(service, key) == "host":
            yield hit("SU007", (key,), f"`{key}: host` shares the host's namespace", cis)

    for i, option in enumerate(service.security_opt):
        key, value = _security_opt(option)
        if key == "seccomp" and value == "unconfined":
            yield hit("SU008", ("security_opt", i), "seccomp is disabled (`seccomp:unconfined`)")
        if key == "apparmor" and value == "unconfined":
            yield hit("SU009", ("security_opt", i), "AppArmor is disabled (`apparmor:unconfined`)")

    extra = (*ctx.stack.stackup.sensitive, *service.stackup.sensitive)
    for var, text in service.environment.items():
        written = bool(text and text.strip())
        # A secret by its name, or by its shape (`postgres://app:pw@db`, `Password=pw;`).
        secret = is_secret_name(var, extra) or bool(text and secret_shape(text))
        if written and secret and ctx.is_literal((*base, "environment", var)):
            # The value itself never goes into a finding.
            yield hit(
                "SU010", ("environment", var), f"{var} is set to a literal value in the stack file"
            )

    for i, port in enumerate(service.ports):
        shown = f"{port.published}:{port.target}" if port.published else str(port.target)
        if _all_interfaces(port.host_ip):
            yield hit("SU011", ("ports", i), f"port {shown} is published on all interfaces")
        low = _lowest_published(port.published)
        if low is not None and low < 1024:
            yield hit("SU014", ("ports", i), f"host port {low} is below 1024")

    if service.user is None:
        yield hit(
            "SU012", ("user",), "no `user:`; the container runs as the image's user, usually root"
        )
    elif _is_root(service.user):
        yield hit("SU012", ("user",), f"`user: {service.user}` runs the container as root")

    for i, env_file in enumerate(service.env_file):
        full = host_path(env_file.path, ctx.project_directory)
        if not is_inside(full, ctx.project_directory):
            yield hit(
                "SU013",
                ("env_file", i),
                f"env_file {env_file.path} is outside the project directory",
            )

    if not _has_no_new_privileges(service.security_opt):
        # Located at `security_opt` when it exists, else at the service (see stackup.lint.linter).
        yield hit("SU015", ("security_opt",), "no `no-new-privileges:true` in `security_opt`")

    if not service.read_only:
        yield hit("SU016", ("read_only",), "the root filesystem is writable (no `read_only: true`)")

    limits = (
        service.deploy.resources.limits if service.deploy and service.deploy.resources else None
    )
    missing = []
    if service.mem_limit is None and (limits is None or limits.memory is None):
        missing.append("memory")
    if (
        service.cpus is None
        and service.cpu_quota is None
        and (limits is None or limits.cpus is None)
    ):
        missing.append("CPU")
    if missing:
        yield hit("SU017", (), f"no {' or '.join(missing)} limit")
    if service.pids_limit is None and (limits is None or limits.pids is None):
        yield hit("SU018", (), "no `pids_limit`")

    if _long_running(ctx, name, service):
        if service.healthcheck is None:
            yield hit("SU019", (), "no `healthcheck:` on a long-running service")
        elif service.healthcheck.disable:
            yield hit(
                "SU019", ("healthcheck",), "the healthcheck is disabled on a long-running service"
            )


def _check_volume(
    ctx: Context, hit: Callable[[str, Path, str], Hit], i: int, volume: ServiceVolume
) -> Iterator[Hit]:
    if volume.type != "bind" or not volume.source:
        return
    full = host_path(volume.source, ctx.project_directory)
    if _socket_mount(full):
        yield hit("SU002", ("volumes", i), f"{volume.source} is mounted at {volume.target}")
    elif _sensitive_host_path(full):
        yield hit("SU003", ("volumes", i), f"host path {full} is mounted at {volume.target}")
    elif not is_inside(full, ctx.project_directory):
        yield hit(
            "SU013", ("volumes", i), f"bind source {volume.source} is outside the project directory"
        )


def _long_running(ctx: Context, name: str, service: Service) -> bool:
    if name in ctx.one_shot or service.restart == "no":
        return False
    policy = service.deploy.restart_policy if service.deploy else None
    if policy is not None and policy.condition == "none":
        return False
    return not (
        service.deploy is not None and service.deploy.mode in ("replicated-job", "global-job")
    )


def check_stack(ctx: Context) -> Iterator[Hit]:
    """Findings outside any one service: top-level secret/config files and includes."""
    for kind, table in (("secrets", ctx.stack.secrets), ("configs", ctx.stack.configs)):
        for key in sorted(table):
            file = table[key].file
            if file is not None and not is_inside(
                host_path(file, ctx.project_directory), ctx.project_directory
            ):
                yield Hit(
                    RULES["SU013"],
                    (kind, key, "file"),
                    f"{kind[:-1]} {key} reads {file}, outside the project directory",
                    None,
                )
    for i, entry in enumerate(ctx.stack.include):
        for j, path in enumerate(entry.path):
            if not is_inside(host_path(path, ctx.project_directory), ctx.project_directory):
                yield Hit(
                    RULES["SU013"],
                    ("include", i, "path", j),
                    f"include {path} is outside the project directory",
                    None,
                )
