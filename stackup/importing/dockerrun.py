"""A `docker run` command line read as the Compose service it describes (`stackup import run`).

Flags are read as the docker CLI reads them: `--flag value`, `--flag=value`, a short flag with
its value attached (`-p80:80`) or next, short boolean flags combined (`-dit`), repeated flags
accumulating. The first argument that is not a flag is the image; everything after it is the
command. A flag this reader does not know is an error naming it, never silently dropped.
Pure: no engine, no files; `stackup.importing.writer` turns the result into a stack file.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from stackup.errors import UsageError

Service = dict[str, Any]
_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


@dataclass
class Imported:
    """One service from one `docker run`, and what the stack file needs besides."""

    name: str
    service: Service
    named_volumes: list[str] = field(default_factory=list)
    external_networks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was read but has no Compose form
    pending_aliases: list[str] = field(default_factory=list)


Apply = Callable[[Imported, str], None]


def _append(key: str) -> Apply:
    def apply(imp: Imported, value: str) -> None:
        imp.service.setdefault(key, []).append(value)

    return apply


def _set(key: str, convert: Callable[[str], Any] = str) -> Apply:
    def apply(imp: Imported, value: str) -> None:
        imp.service[key] = convert(value)

    return apply


def _flag(key: str) -> Apply:
    def apply(imp: Imported, value: str) -> None:
        imp.service[key] = True

    return apply


def _ignored(why: str) -> Apply:
    def apply(imp: Imported, value: str) -> None:
        if why not in imp.notes:
            imp.notes.append(why)

    return apply


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"expected a whole number, got {text!r}") from None


def _env(imp: Imported, value: str) -> None:
    key, sep, val = value.partition("=")
    if not key or any(c.isspace() for c in key):
        raise UsageError(f"-e {value!r}: expected NAME=VALUE or NAME")
    # `-e NAME` passes NAME through from the environment of whoever runs the stack.
    imp.service.setdefault("environment", {})[key] = val if sep else None


def _mapping(key: str) -> Apply:
    """`NAME=VALUE` entries into a mapping (`--label`, `--sysctl`); a bare NAME maps to ""."""

    def apply(imp: Imported, value: str) -> None:
        name, _, val = value.partition("=")
        imp.service.setdefault(key, {})[name] = val

    return apply


def _network(imp: Imported, value: str) -> None:
    if value in ("host", "none", "bridge") or value.startswith(("container:", "service:")):
        if value != "bridge":  # the engine's default network: Compose's default is its own
            imp.service["network_mode"] = value
        return
    networks = imp.service.setdefault("networks", {})
    networks.setdefault(value, None)
    if value not in imp.external_networks:
        imp.external_networks.append(value)  # it exists already: docker run does not create it


def _alias_flag(imp: Imported, value: str) -> None:
    # docker's flags do not depend on their order: applied once every --network is read.
    imp.pending_aliases.append(value)


def _alias(imp: Imported, value: str) -> None:
    networks = imp.service.get("networks") or {}
    if not networks:
        raise UsageError("--network-alias needs a --network (a user network) to be an alias on")
    last = list(networks)[-1]
    entry = networks[last] or {}
    entry.setdefault("aliases", []).append(value)
    networks[last] = entry


def _volume(imp: Imported, value: str) -> None:
    source, sep, rest = value.partition(":")
    named = sep and source and not source.startswith(("/", ".", "~")) and "$" not in source
    if named and source not in imp.named_volumes:
        imp.named_volumes.append(source)  # a named volume, created by docker run if missing
    if sep and not named:
        _note_single_file_config(imp, rest.partition(":")[0])
    imp.service.setdefault("volumes", []).append(value)


def _note_single_file_config(imp: Imported, target: str) -> None:
    """A config file bind-mounted on its own (`-v $PWD/default.conf:/etc/nginx/conf.d/default.conf`):
    the mount pins the file's inode, so an edit saved by rename (`sed -i`, vim, most editors)
    reaches the container only through a new one. Its directory, mounted, is reloaded in place."""
    path = PurePosixPath(target)
    if path.suffix in ("", ".d") or not (target.startswith("/etc/") or path.suffix == ".conf"):
        return
    _ignored(
        f"{target} is a single-file bind mount: an edit saved by rename (sed -i, vim, most "
        "editors) reaches the container only by recreating it; put the file in a directory "
        f"of its own and mount the directory (e.g. ./{path.parent.name}:{path.parent}) to "
        "have edits reloaded in place"
    )(imp, target)


def _mount(imp: Imported, value: str) -> None:
    entry: dict[str, Any] = {}
    options: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if key in ("type",):
            entry["type"] = val
        elif key in ("source", "src"):
            entry["source"] = val
        elif key in ("target", "destination", "dst"):
            entry["target"] = val
        elif key in ("readonly", "ro"):
            entry["read_only"] = val.lower() not in ("false", "0") if sep else True
        else:
            options[key] = val
    entry.setdefault("type", "volume")
    if "target" not in entry:
        raise UsageError(f"--mount {value!r} has no target (target=/path/in/container)")
    if entry["type"] == "bind":
        # `--mount type=bind` refuses a missing source, where `-v` creates a directory.
        entry["bind"] = {"create_host_path": False}
        if "bind-propagation" in options:
            entry["bind"]["propagation"] = options.pop("bind-propagation")
    if entry["type"] == "volume" and "volume-nocopy" in options:
        entry["volume"] = {"nocopy": options.pop("volume-nocopy") in ("", "true", "1")}
    if entry["type"] == "tmpfs":
        tmpfs: dict[str, Any] = {}
        if "tmpfs-size" in options:
            tmpfs["size"] = options.pop("tmpfs-size")  # bytes, or 64m as docker takes
        if "tmpfs-mode" in options:
            tmpfs["mode"] = _octal(options.pop("tmpfs-mode"))
        if tmpfs:
            entry["tmpfs"] = tmpfs
    if options:
        raise UsageError(f"--mount option {sorted(options)[0]!r} is not supported by import")
    source = entry.get("source")
    if entry["type"] == "bind":
        _note_single_file_config(imp, str(entry["target"]))
    if entry["type"] == "volume" and source and source not in imp.named_volumes:
        imp.named_volumes.append(source)
    imp.service.setdefault("volumes", []).append(entry)


def _octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise UsageError(f"expected an octal file mode (1777), got {text!r}") from None


def _health(key: str, convert: Callable[[str], Any] = str) -> Apply:
    def apply(imp: Imported, value: str) -> None:
        check = imp.service.setdefault("healthcheck", {})
        check[key] = ["CMD-SHELL", value] if key == "test" else convert(value)

    return apply


def _no_healthcheck(imp: Imported, value: str) -> None:
    imp.service["healthcheck"] = {"disable": True}


def _log_opt(imp: Imported, value: str) -> None:
    key, _, val = value.partition("=")
    imp.service.setdefault("logging", {}).setdefault("options", {})[key] = val


def _log_driver(imp: Imported, value: str) -> None:
    imp.service.setdefault("logging", {})["driver"] = value


def _ulimit(imp: Imported, value: str) -> None:
    name, _, limits = value.partition("=")
    soft, sep, hard = limits.partition(":")
    imp.service.setdefault("ulimits", {})[name] = (
        {"soft": _int(soft), "hard": _int(hard)} if sep else _int(soft)
    )


def _stop_timeout(imp: Imported, value: str) -> None:
    imp.service["stop_grace_period"] = f"{_int(value)}s"


def _entrypoint(imp: Imported, value: str) -> None:
    # docker run --entrypoint takes one executable; its arguments come after the image.
    imp.service["entrypoint"] = [value]


def _name(imp: Imported, value: str) -> None:
    if not _CONTAINER_NAME.fullmatch(value.lstrip("/")):
        raise UsageError(
            f"--name {value!r}: a container name has letters, digits and _ . - and does not "
            "start with a symbol"
        )
    value = value.lstrip("/")
    imp.name = value
    imp.service["container_name"] = value


def _cpus(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--cpus expects a number, got {text!r}") from None


# flag → (takes a value, what to do with it). Short forms map to the long ones below.
FLAGS: dict[str, tuple[bool, Apply]] = {
    "--publish": (True, _append("ports")),
    "--volume": (True, _volume),
    "--mount": (True, _mount),
    "--env": (True, _env),
    "--env-file": (True, _append("env_file")),
    "--name": (True, _name),
    "--network": (True, _network),
    "--net": (True, _network),
    "--network-alias": (True, _alias_flag),
    "--net-alias": (True, _alias_flag),
    "--restart": (True, _set("restart")),
    "--health-cmd": (True, _health("test")),
    "--health-interval": (True, _health("interval")),
    "--health-timeout": (True, _health("timeout")),
    "--health-retries": (True, _health("retries", _int)),
    "--health-start-period": (True, _health("start_period")),
    "--health-start-interval": (True, _health("start_interval")),
    "--no-healthcheck": (False, _no_healthcheck),
    "--tmpfs": (True, _append("tmpfs")),
    "--read-only": (False, _flag("read_only")),
    "--cap-add": (True, _append("cap_add")),
    "--cap-drop": (True, _append("cap_drop")),
    "--security-opt": (True, _append("security_opt")),
    "--memory": (True, _set("mem_limit")),
    "--memory-reservation": (True, _set("mem_reservation")),
    "--memory-swap": (True, _set("memswap_limit", lambda v: -1 if v == "-1" else v)),
    "--cpus": (True, _set("cpus", _cpus)),
    "--cpu-shares": (True, _set("cpu_shares", _int)),
    "--cpuset-cpus": (True, _set("cpuset")),
    "--pids-limit": (True, _set("pids_limit", _int)),
    "--user": (True, _set("user")),
    "--workdir": (True, _set("working_dir")),
    "--entrypoint": (True, _entrypoint),
    "--label": (True, _mapping("labels")),
    "--log-driver": (True, _log_driver),
    "--log-opt": (True, _log_opt),
    "--add-host": (True, _append("extra_hosts")),
    "--dns": (True, _append("dns")),
    "--dns-search": (True, _append("dns_search")),
    "--dns-option": (True, _append("dns_opt")),
    "--hostname": (True, _set("hostname")),
    "--domainname": (True, _set("domainname")),
    "--mac-address": (True, _set("mac_address")),
    "--init": (False, _flag("init")),
    "--ulimit": (True, _ulimit),
    "--shm-size": (True, _set("shm_size")),
    "--stop-signal": (True, _set("stop_signal")),
    "--stop-timeout": (True, _stop_timeout),
    "--expose": (True, _append("expose")),
    "--device": (True, _append("devices")),
    "--privileged": (False, _flag("privileged")),
    "--group-add": (True, _append("group_add")),
    "--sysctl": (True, _mapping("sysctls")),
    "--ipc": (True, _set("ipc")),
    "--pid": (True, _set("pid")),
    "--userns": (True, _set("userns_mode")),
    "--platform": (True, _set("platform")),
    "--pull": (True, _set("pull_policy")),
    "--runtime": (True, _set("runtime")),
    "--oom-kill-disable": (False, _flag("oom_kill_disable")),
    "--oom-score-adj": (True, _set("oom_score_adj", _int)),
    "--interactive": (False, _flag("stdin_open")),
    "--tty": (False, _flag("tty")),
    "--detach": (False, _ignored("-d: a stack's containers always run in the background")),
    "--detach-keys": (True, _ignored("--detach-keys: for an attached terminal, not a service")),
    "--sig-proxy": (False, _ignored("--sig-proxy: for an attached terminal, not a service")),
    "--cidfile": (True, _ignored("--cidfile: stackup names containers itself")),
    "--disable-content-trust": (False, _ignored("--disable-content-trust: not a service setting")),
    "--quiet": (False, _ignored("-q: pull output is stackup's to show")),
    "--rm": (
        False,
        _ignored("--rm: a stack keeps its containers; `stackup down` removes them"),
    ),
}

SHORT = {
    "-p": "--publish",
    "-v": "--volume",
    "-e": "--env",
    "-m": "--memory",
    "-u": "--user",
    "-w": "--workdir",
    "-l": "--label",
    "-h": "--hostname",
    "-i": "--interactive",
    "-t": "--tty",
    "-d": "--detach",
    "-q": "--quiet",
}


# `podman run` flags that `docker run` does not have (podman-run(1)), with whether each takes
# a value. A `podman run` line is read as a `docker run` line: these are named and ignored.
PODMAN_ONLY: dict[str, bool] = {
    "--arch": True,
    "--authfile": True,
    "--cert-dir": True,
    "--cgroup-conf": True,
    "--cgroups": True,
    "--chrootdirs": True,
    "--conmon-pidfile": True,
    "--creds": True,
    "--decryption-key": True,
    "--env-host": False,
    "--env-merge": True,
    "--gidmap": True,
    "--group-entry": True,
    "--health-log-destination": True,
    "--health-max-log-count": True,
    "--health-max-log-size": True,
    "--health-on-failure": True,
    "--health-startup-cmd": True,
    "--health-startup-interval": True,
    "--health-startup-retries": True,
    "--health-startup-success": True,
    "--health-startup-timeout": True,
    "--hostuser": True,
    "--hosts-file": True,
    "--http-proxy": False,
    "--image-volume": True,
    "--init-path": True,
    "--no-hosts": False,
    "--os": True,
    "--passwd": False,
    "--passwd-entry": True,
    "--personality": True,
    "--pidfile": True,
    "--pod": True,
    "--pod-id-file": True,
    "--preserve-fd": True,
    "--preserve-fds": True,
    "--rdt-class": True,
    "--read-only-tmpfs": False,
    "--replace": False,
    "--requires": True,
    "--retry": True,
    "--retry-delay": True,
    "--rootfs": False,
    "--sdnotify": True,
    "--seccomp-policy": True,
    "--secret": True,
    "--shm-size-systemd": True,
    "--subgidname": True,
    "--subuidname": True,
    "--systemd": True,
    "--timeout": True,
    "--tls-verify": False,
    "--uidmap": True,
    "--umask": True,
    "--unsetenv": True,
    "--unsetenv-all": False,
    "--variant": True,
}
# Values of shared flags that only podman knows: --userns=keep-id, --pull=newer.
PODMAN_ONLY_VALUES: dict[str, tuple[str, ...]] = {
    "--userns": ("keep-id", "auto", "nomap"),
    "--pull": ("newer",),
}


def parse_docker_run(argv: Sequence[str]) -> Imported:
    """`argv` is what follows `docker run` (a leading `docker run`, `docker container run`,
    `podman run` or `podman container run` is skipped; a podman line is read as a docker one,
    each podman-only flag named in a note and ignored). Host paths stay as written; the
    writer makes those under the project directory relative."""
    args = list(argv)
    podman = False
    for prefix in (
        ["docker", "run"],
        ["docker", "container", "run"],
        ["podman", "run"],
        ["podman", "container", "run"],
        ["run"],
    ):
        if args[: len(prefix)] == prefix:
            args = args[len(prefix) :]
            podman = prefix[0] == "podman"
            break
    imp = Imported(name="", service={})
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        consumed = _podman_only_flag(imp, args, i) if podman else 0
        i += consumed or _one_flag(imp, args, i)
    if i >= len(args):
        raise UsageError("no image: expected `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]`")
    image, command = args[i], args[i + 1 :]
    if not image.strip() or any(c.isspace() for c in image):
        raise UsageError(f"{image!r} is not an image name (is the line split right?)")
    for alias in imp.pending_aliases:
        _alias(imp, alias)
    imp.service = {"image": image, **imp.service}
    if command:
        imp.service["command"] = list(command)
    if not imp.name:
        imp.name = _name_from_image(image)
    return imp


def _podman_only_flag(imp: Imported, args: list[str], i: int) -> int:
    """A podman-only flag (or value) at `args[i]`: noted as ignored; returns how many
    arguments it used, 0 when it is a flag docker knows too."""
    name, sep, attached = args[i].partition("=")
    if name in PODMAN_ONLY:
        used = 2 if PODMAN_ONLY[name] and not sep else 1
        if used == 2 and i + 1 >= len(args):
            raise UsageError(f"podman run flag {name} needs a value")
        # Named without its value: `--creds user:password` must not reach the output.
        imp.notes.append(f"{name}: a podman-only flag, ignored (docker has no such flag)")
        return used
    podman_values = PODMAN_ONLY_VALUES.get(name)
    if podman_values is None:
        return 0
    value, used = (attached, 1) if sep else (args[i + 1] if i + 1 < len(args) else "", 2)
    if value.split(":", 1)[0] not in podman_values:
        return 0
    imp.notes.append(f"{name}={value}: a podman-only value, ignored (docker has no such mode)")
    return used


def _one_flag(imp: Imported, args: list[str], i: int) -> int:
    """Apply the flag at `args[i]`; returns how many arguments it used."""
    arg = args[i]
    if arg.startswith("--"):
        name, sep, attached = arg.partition("=")
        entry = FLAGS.get(name)
        if entry is None:
            raise UsageError(f"unknown docker run flag {name}", hint=_hint(name))
        takes_value, apply = entry
        if not takes_value:
            if not (sep and attached.lower() in ("false", "0")):  # `--init=false` is no flag
                apply(imp, "")
            return 1
        if sep:
            apply(imp, attached)
            return 1
        if i + 1 >= len(args):
            raise UsageError(f"docker run flag {name} needs a value")
        apply(imp, args[i + 1])
        return 2
    # Short flags: `-p 80:80`, `-p80:80`, `-p=80:80`, and booleans combined (`-dit`).
    body = arg[1:]
    for k, letter in enumerate(body):
        long = SHORT.get("-" + letter)
        if long is None:
            raise UsageError(f"unknown docker run flag -{letter}", hint=_hint("-" + letter))
        takes_value, apply = FLAGS[long]
        if not takes_value:
            apply(imp, "")
            continue
        rest = body[k + 1 :]
        if rest:
            apply(imp, rest[1:] if rest.startswith("=") else rest)
            return 1
        if i + 1 >= len(args):
            raise UsageError(f"docker run flag -{letter} needs a value")
        apply(imp, args[i + 1])
        return 2
    return 1


def _hint(name: str) -> str:
    import difflib

    known = [*FLAGS, *SHORT]
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {close[0]}? (`stackup import run --help` lists what is read)"
    return "`stackup import run --help` lists the flags that are read"


def _name_from_image(image: str) -> str:
    """`registry:5000/library/nginx:1.27@sha256:…` → `nginx`."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1].split(":", 1)[0]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in last).strip("-.")
    return cleaned or "app"


def split_command_line(text: str) -> list[str]:
    """A whole `docker run ...` line as a shell would split it (for lines given as one string,
    pasted with `\\` line continuations too)."""
    try:
        return shlex.split(text.replace("\\\n", " ").replace("\\\r\n", " "))
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"cannot split the docker run line: {exc}") from None


def relative_to(path: str, base: str) -> str:
    """A host path as the stack file in `base` writes it: `./x` under `base`, else absolute.
    A relative path is taken from the working directory, where `docker run` would have been
    typed; `~` and `$VAR` paths are left for the shell-like reading of the stack file."""
    if path.startswith(("~", "$")):
        return path
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, base)
    if rel == ".":
        return "."
    return absolute if rel.startswith("..") else "./" + rel
