"""The catalogue of security rules `stackup lint` checks: each rule's stable id (`SU001`...),
its CIS Docker Benchmark v1.6.0 reference where there is one, a fixed severity, why it
matters and how to fix it. The checks that fire them are in `stackup.lint.rules`."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
        "Add `reason:` to the entry in `x-stackup.lint.ignore`, saying why the finding is "
        "acceptable here, and check the rule id against `docs/lint.md`.",
    ),
)
