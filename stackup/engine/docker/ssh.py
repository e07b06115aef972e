"""Reaching an engine at `ssh://[user@]host[:port]` through the system OpenSSH client.

One `ssh -N` process per stackup command forwards a private unix socket (in a 0700 temporary
directory) to the remote engine's `/var/run/docker.sock`; the docker SDK then talks plain
HTTP to that local socket. Every request of the command travels as a channel of that one SSH
connection, so a whole `up` costs one login (sshd's default `MaxStartups 10:30:100` refuses
bursts of new connections, which a connection per request would make).

Why not the docker SDK's own `ssh://` support: it needs paramiko (not a dependency), and
paramiko ignores much of `~/.ssh/config` (UserKnownHostsFile, IdentitiesOnly, ...). Its
`use_ssh_client=True` mode, like the docker CLI (`docker system dial-stdio`), runs one `ssh`
process per HTTP connection, i.e. a login per connection and a `docker` binary needed on the
remote host. Forwarding the socket needs neither: only sshd and the engine's socket.

The system client honours `~/.ssh/config` (Host aliases, HostName, Port, User, IdentityFile,
ProxyJump, known_hosts) and the ssh-agent. `STACKUP_SSH_CONFIG=FILE` passes `ssh -F FILE`
(for CI: a config file of the job's own instead of the user's).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from stackup.errors import EngineUnavailableError, UsageError

REMOTE_SOCKET = "/var/run/docker.sock"
# How long the login and the first answer of the engine may take, in seconds.
CONNECT_TIMEOUT = 30.0

SSH_HINT = (
    "check that `ssh HOST` logs in without a prompt (key or ssh-agent; BatchMode is on), "
    "that the user may use the engine there (the docker group), and STACKUP_SSH_CONFIG "
    "if a CI job uses a config file of its own"
)


@dataclass(frozen=True, slots=True)
class SshTarget:
    """What an `ssh://` URL names. `host` may be a Host alias of the ssh config."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def display(self) -> str:
        """The host as the user wrote it, for messages: `deploy@server:2222`."""
        out = f"{self.user}@{self.host}" if self.user else self.host
        return f"{out}:{self.port}" if self.port else out


def parse_url(url: str) -> SshTarget:
    """`ssh://[user@]host[:port]` → an `SshTarget`; anything else is a usage error (the
    docker CLI refuses a path or query in an ssh URL as well)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "ssh":
        raise UsageError(f"not an ssh:// engine address: {url!r}")
    try:
        port = parsed.port
    except ValueError:
        raise UsageError(f"bad port in the engine address {url!r}") from None
    if not parsed.hostname:
        raise UsageError(f"no host in the engine address {url!r}", hint="ssh://[user@]host[:port]")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.password:
        raise UsageError(
            f"the engine address {url!r} has more than ssh://[user@]host[:port]",
            hint="a path, query or password is not supported in an ssh:// address",
        )
    return SshTarget(host=parsed.hostname, user=parsed.username or None, port=port)


def ssh_command(
    target: SshTarget, local_socket: str, env: Mapping[str, str] | None = None
) -> list[str]:
    """The `ssh` command line that forwards `local_socket` to the remote engine's socket."""
    env = os.environ if env is None else env
    ssh = shutil.which("ssh", path=env.get("PATH"))
    if ssh is None:
        raise EngineUnavailableError(
            f"cannot reach the engine at ssh://{target.display}: no `ssh` client on this machine",
            hint="install OpenSSH's client (Debian: openssh-client)",
        )
    cmd = [ssh]
    if env.get("STACKUP_SSH_CONFIG"):
        cmd += ["-F", env["STACKUP_SSH_CONFIG"]]
    cmd += [
        "-N",  # no remote command: the connection only carries the forwarded socket
        "-T",
        "-o",
        "BatchMode=yes",  # never prompt: a password or passphrase prompt would hang a CI job
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=15",
        # Our process is the one we wait for and stop: not a multiplexing master that would
        # outlive the command, nor a client of someone else's master.
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        "StreamLocalBindMask=0177",
        "-L",
        f"{local_socket}:{REMOTE_SOCKET}",
    ]
    if target.user:
        cmd += ["-l", target.user]
    if target.port:
        cmd += ["-p", str(target.port)]
    cmd += ["--", target.host]
    return cmd


DIRECTORY_PREFIX = "stackup-ssh-"
LOCK_NAME = "lock"


def _remove_stale_directories() -> None:
    """Remove the socket directories of earlier commands whose ssh has ended. A command that
    was killed (`kill -9`), or that handed its process to the docker CLI (`exec -it`), ran
    no clean-up of its own; its ssh ended with it (parent-death signal), its directory stays.
    Each directory's `lock` is held (flock) by the command that opened the tunnel
    (`SshTunnel.open`): a lock nobody holds is a directory nobody uses."""
    for directory in Path(tempfile.gettempdir()).glob(DIRECTORY_PREFIX + "*"):
        try:
            if directory.stat().st_uid != os.getuid():
                continue
            fd = os.open(directory / LOCK_NAME, os.O_RDONLY)
        except OSError:
            continue  # not ours, or another command is setting it up
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its ssh is alive
        finally:
            os.close(fd)
        shutil.rmtree(directory, ignore_errors=True)


def _held_lock(directory: str) -> int:
    """A file descriptor holding `directory`'s lock, made under another name first so that
    no sweeper sees the lock before it is held."""
    fd, path = tempfile.mkstemp(dir=directory, prefix=".lock-")
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(path, Path(directory) / LOCK_NAME)
    return fd


def _set_parent_death_signal() -> None:
    """In the child before exec: ssh gets SIGTERM when stackup dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _ping(path: str, timeout: float = 5.0) -> str:
    """`GET /_ping` through the forwarded socket: "ok" when the engine answers; "closed"
    when ssh took the connection and closed it unanswered (sshd could not open the remote
    socket: no engine there, or the user may not use it); "absent" when nothing listens yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            head = sock.recv(64)
    except FileNotFoundError:
        return "absent"
    except ConnectionRefusedError:
        return "absent"
    except OSError:
        return "closed"
    if not head:
        return "closed"
    return "ok" if head.startswith(b"HTTP/1.") and b" 200 " in head[:16] else "closed"


class SshTunnel:
    """One `ssh -N -L` process and its local socket; `close()` ends both (also at exit)."""

    _open: ClassVar[set[SshTunnel]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, target: SshTarget, env: Mapping[str, str] | None = None) -> None:
        self.target = target
        _remove_stale_directories()
        self.directory = tempfile.mkdtemp(prefix=DIRECTORY_PREFIX)  # mode 0700
        self.socket_path = str(Path(self.directory) / "docker.sock")
        self._stderr_path = Path(self.directory) / "ssh.err"
        self._command = ssh_command(target, self.socket_path, env)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    @property
    def base_url(self) -> str:
        """The address the docker SDK takes for the forwarded socket."""
        return f"unix://{self.socket_path}"

    def open(
        self, timeout: float = CONNECT_TIMEOUT, clock: Callable[[], float] = time.monotonic
    ) -> SshTunnel:
        """Start ssh and wait until the remote engine answers through the socket; raise
        `EngineUnavailableError` naming the host and ssh's own reason when it does not."""
        # The directory's lock is held by this process while the tunnel is open: OpenSSH
        # closes every descriptor it inherits (closefrom), so ssh cannot hold it, and a
        # concurrent command would sweep a live tunnel's socket. Inheritable, so that
        # `exec -it` handing this process over to the docker CLI (an exec) keeps it held;
        # released when the process ends, however it ends, with the ssh (parent-death signal).
        lock = self._lock_fd = _held_lock(self.directory)
        os.set_inheritable(lock, True)
        process = self._process = self._start(lock)
        with SshTunnel._lock:
            SshTunnel._open.add(self)
        deadline = clock() + timeout
        while True:
            if process.poll() is not None:
                reason = self._ssh_said() or f"ssh exited with status {process.returncode}"
                self.close()
                raise EngineUnavailableError(
                    f"cannot reach the engine at ssh://{self.target.display}: {reason}",
                    hint=SSH_HINT,
                )
            answer = _ping(self.socket_path) if os.path.exists(self.socket_path) else "absent"
            if answer == "ok":
                return self
            if answer == "closed":
                # Logged in (the forward is set up only then), but sshd could not connect
                # the engine's socket: missing, or the user may not use it. Waiting longer
                # changes nothing.
                said = self._ssh_said()
                self.close()
                raise EngineUnavailableError(
                    f"cannot reach the engine at ssh://{self.target.display}: logged in, but "
                    f"{REMOTE_SOCKET} there refused the connection"
                    + (f" ({said})" if said else ""),
                    hint=SSH_HINT,
                )
            if clock() >= deadline:
                reason = (
                    self._ssh_said()
                    or f"logged in, but {REMOTE_SOCKET} did not answer within {timeout:.0f}s"
                )
                self.close()
                raise EngineUnavailableError(
                    f"cannot reach the engine at ssh://{self.target.display}: {reason}",
                    hint=SSH_HINT,
                )
            time.sleep(0.05)

    def _start(self, lock: int) -> subprocess.Popen[bytes]:
        """Start ssh (an ssh that keeps inherited descriptors holds the directory's lock
        too, `_remove_stale_directories`)."""
        with open(self._stderr_path, "wb") as err:
            return subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                # Its own session: a Ctrl-C at the terminal reaches stackup, which stops
                # cleanly (and then ends ssh) instead of losing its engine mid-request.
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
                pass_fds=(lock,),  # ssh holds the directory's lock while it lives
            )

    def _ssh_said(self) -> str:
        """ssh's own complaint (its last lines on stderr, warnings about known hosts kept)."""
        try:
            text = self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return "; ".join(lines[-3:])

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(self.directory, ignore_errors=True)
        lock, self._lock_fd = self._lock_fd, None
        if lock is not None:
            os.close(lock)
        with SshTunnel._lock:
            SshTunnel._open.discard(self)

    @classmethod
    def close_all(cls) -> None:
        with cls._lock:
            tunnels = list(cls._open)
        for tunnel in tunnels:
            tunnel.close()


# The CLI does not close its engine on every path; the tunnels end when the process does.
atexit.register(SshTunnel.close_all)


def open_tunnel(url: str, env: Mapping[str, str] | None = None) -> SshTunnel:
    """A connected tunnel to the engine at `url` (`ssh://[user@]host[:port]`)."""
    return SshTunnel(parse_url(url), env).open()
