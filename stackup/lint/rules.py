"""The security rules `stackup lint` checks, and the checks themselves.

Each rule has a stable id (`SU001`...), its CIS Docker Benchmark v1.6.0 reference where there
is one, a fixed severity, why it matters and how to fix it. The checks are pure functions over
the validated `Stack`: they yield `Hit`s naming the path of the offending key in the stack
file; `stackup.lint.linter` turns paths into `file:line:col` marks and applies suppressions.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from stackup.errors import PathElement
from stackup.model.parts import ServiceVolume
from stackup.model.sensitive import is_sensitive_name
from stackup.model.spec import Service, Stack

Path = tuple[PathElement, ...]


class Severity(enum.IntEnum):
    """Ordered: `Severity.HIGH > Severity.MEDIUM > Severity.LOW`."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f'unknown severity "{text}" (low, medium or high)') from None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    title: str
    cis: str | None
    severity: Severity
    why: str
    fix: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


RULES: dict[str, Rule] = _rules(
    Rule(
        "SU001",
        "privileged",
        "Container runs privileged",
        "5.5",
        Severity.HIGH,
        "`privileged: true` gives the container every capability and access to all host "
        "devices; a process that escapes it owns the host.",
        "Remove `privileged: true`; add only the capabilities the process needs with "
        "`cap_add`, and the devices it needs with `devices`.",
    ),
    Rule(
        "SU002",
        "docker-socket",
        "Docker socket mounted into the container",
        "5.32",
        Severity.HIGH,
        "Whoever can talk to the Docker socket can start a privileged container with the host's "
        "root filesystem mounted: mounting it is handing out root on the host.",
        "Remove the bind mount of the Docker socket; if the service must manage containers, put "
        "an authorising proxy in front of the socket and mount nothing else.",
    ),
    Rule(
        "SU003",
        "sensitive-host-path",
        "Sensitive host directory mounted",
        "5.6",
        Severity.HIGH,
        "Mounting `/`, `/boot`, `/dev`, `/etc`, `/lib`, `/proc`, `/sys` or `/usr` (or a path "
        "under them) lets the container read, and unless read-only change, the host's system "
        "files.",
        "Mount only the project files the service needs; for a single file such as "
        "`/etc/localtime`, mount it read-only and suppress this rule with a reason.",
    ),
    Rule(
        "SU004",
        "dangerous-capability",
        "Dangerous capability added",
        "5.4",
        Severity.HIGH,
        "SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE, DAC_READ_SEARCH and ALL each give a "
        "process ways out of the container or over the host's network and kernel.",
        "Remove the capability from `cap_add`; find the narrower capability (or the host-side "
        "set-up) the service really needs.",
    ),
    Rule(
        "SU005",
        "cap-add-without-drop",
        "Capabilities added without dropping the rest",
        "5.4",
        Severity.MEDIUM,
        "Adding capabilities on top of Docker's default set keeps every default one too; a "
        "service that needs some capabilities should start from none.",
        "Add `cap_drop: [ALL]` beside `cap_add`, so the container has only what it adds.",
    ),
    Rule(
        "SU006",
        "host-network",
        "Host network mode",
        "5.10",
        Severity.HIGH,
        "`network_mode: host` shares the host's network stack: the container can bind any host "
        "port, reach services listening on loopback and sniff the host's traffic.",
        "Remove `network_mode: host`; publish the ports the service serves with `ports`.",
    ),
    Rule(
        "SU007",
        "host-namespace",
        "Host PID, IPC or user namespace shared",
        "5.16, 5.17, 5.31",
        Severity.HIGH,
        "`pid: host` lets the container see and signal every host process, `ipc: host` lets it "
        "read the host's shared memory, and `userns_mode: host` turns off user-namespace "
        "remapping.",
        "Remove the `host` setting; to share with another container use `service:NAME`.",
    ),
    Rule(
        "SU008",
        "seccomp-unconfined",
        "Seccomp profile disabled",
        "5.22",
        Severity.HIGH,
        "The default seccomp profile blocks about 44 dangerous system calls; `seccomp:unconfined` "
        "opens them all to the container.",
        "Remove `seccomp:unconfined` from `security_opt`; if a system call is missing, use a "
        "custom profile that allows just that call.",
    ),
    Rule(
        "SU009",
        "apparmor-unconfined",
        "AppArmor profile disabled",
        "5.2",
        Severity.HIGH,
        "`apparmor:unconfined` removes the mandatory access control Docker applies by default.",
        "Remove `apparmor:unconfined` from `security_opt`, or name a profile written for the "
        "service.",
    ),
    Rule(
        "SU010",
        "secret-literal",
        "Secret written literally in environment",
        None,
        Severity.HIGH,
        "A password, token or key written in the stack file is in the repository, its history "
        "and every copy of it, and in `docker inspect` output.",
        "Interpolate it from the environment (`NAME: ${NAME}` with the variable set outside the "
        "repository or in an untracked `.env`), or better, use a `secrets:` file and the image's "
        "`*_FILE` variable.",
    ),
    Rule(
        "SU011",
        "port-all-interfaces",
        "Port published on all interfaces",
        "5.14",
        Severity.MEDIUM,
        "A port with no host IP is published on every interface of the host, so a database "
        "meant for local use is reachable from the network, past most host firewalls (Docker "
        "writes its own iptables rules).",
        "Bind the port to one address: prefix it with `127.0.0.1:` for local use (as in "
        "`127.0.0.1:HOST:CONTAINER`), or with the address of the interface the service must serve.",
    ),
    Rule(
        "SU012",
        "root-user",
        "Container runs as root",
        "4.1",
        Severity.MEDIUM,
        "Without `user:` the process runs as whatever the image says, usually root; root in a "
        "container is root on the host after any escape, and owns every file it writes to a bind "
        "mount.",
        'Set `user:` to a non-root uid (e.g. `user: "10001"`); if the image already sets a '
        "non-root USER, suppress this rule with that as the reason.",
    ),
    Rule(
        "SU013",
        "path-outside-project",
        "Path outside the project directory",
        None,
        Severity.MEDIUM,
        "A bind source, `env_file`, secret or config file, or `include` outside the project "
        "directory makes the stack depend on the machine it runs on, and may expose files the "
        "project has no business reading.",
        "Keep the file inside the project directory (next to the stack file) and refer to it by "
        "a relative path.",
    ),
    Rule(
        "SU014",
        "privileged-port",
        "Host port below 1024",
        "5.8",
        Severity.LOW,
        "Ports below 1024 are privileged on the host; publishing one is usually a sign that a "
        "development stack took a production port.",
        "Publish a port of 1024 or above (`8080:80`), and put a reverse proxy or load balancer "
        "on the privileged port where one is needed.",
    ),
    Rule(
        "SU015",
        "no-new-privileges",
        "Privilege escalation not blocked",
        "5.26",
        Severity.LOW,
        "Without `no-new-privileges:true`, a setuid binary in the image lets a process gain "
        "privileges it did not start with.",
        'Add `security_opt: ["no-new-privileges:true"]`.',
    ),
    Rule(
        "SU016",
        "writable-root-fs",
        "Root filesystem writable",
        "5.13",
        Severity.LOW,
        "A writable root filesystem lets an attacker who gets in change the service's binaries "
        "and configuration.",
        "Set `read_only: true` and give the paths the service writes a `tmpfs` or a volume.",
    ),
    Rule(
        "SU017",
        "no-resource-limits",
        "No memory or CPU limit",
        "5.11, 5.12",
        Severity.LOW,
        "Without limits, one runaway or attacked container can take all the host's memory or CPU "
        "and starve every other service.",
        "Set `mem_limit` and `cpus` (or `deploy.resources.limits.memory` and `.cpus`).",
    ),
    Rule(
        "SU018",
        "no-pids-limit",
        "No process limit",
        "5.29",
        Severity.LOW,
        "Without `pids_limit` a fork bomb in one container exhausts the host's process table.",
        "Set `pids_limit` (e.g. `pids_limit: 200`) or `deploy.resources.limits.pids`.",
    ),
    Rule(
        "SU019",
        "no-healthcheck",
        "No healthcheck on a long-running service",
        "5.27",
        Severity.LOW,
        "Without a healthcheck the engine, `depends_on: service_healthy` and `stackup up` cannot "
        "tell a hung service from a working one.",
        "Add a `healthcheck:` with a `test` that proves the service answers; if the image "
        "defines a HEALTHCHECK, suppress this rule with that as the reason.",
    ),
    Rule(
        "SU020",
        "invalid-suppression",
        "Suppression without a reason, or of an unknown rule",
        None,
        Severity.MEDIUM,
        "A suppression records a decision; without the reason, the next reader cannot tell a "
        "considered exception from a silenced warning. A suppression without a reason, or naming "
        "a rule that does not exist, is not applied.",
        "Add `reason:` to the entry in `x-stackup.lint.linter.ignore`, saying why the finding is "
        "acceptable here, and check the rule id against `docs/lint.md`.",
    ),
)


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
    do not. Names in `extra` (`x-stackup.model.sensitive`) always do."""
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
        if written and is_secret_name(var, extra) and ctx.is_literal((*base, "environment", var)):
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
