"""A dockerd of a test's own, beside the user's: for tests that stop or restart the engine.

Nothing in the suite signals a dockerd it did not start. This one has its own socket,
`--data-root`, `--exec-root`, `--pidfile` and configuration file (the user's
/etc/docker/daemon.json is not read), a default bridge of its own (`--bridge=sud…`, made by
this object in its address pool) and no iptables, ip_forward or ip6tables changes
(`--iptables=false --ip-forward=false --ip6tables=false`). Never `--bridge=none`: a dockerd
started with it deletes the host's `docker0` (moby's removeDefaultBridgeInterface), the
bridge of the user's own daemon, which then cannot start a container on its default network.
and containerd namespaces of its own: dockerd starts a containerd of its own under the
exec root, or, where a system containerd runs (/run/containerd/containerd.sock, docker-ce),
shares it in namespaces no other daemon uses. Its bridge takes a /24 that overlaps no route
of this host. It runs detached (its own session, output to a log
file, stdin from /dev/null); `stop` signals only the process this object started.
`STACKUP_DOCKERD_ARGS` (e.g. `--storage-driver=vfs`) is passed on, as setup-engine.sh does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import docker
import docker.errors

from tests.engine.helpers import wait_for

SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unavailable_reason() -> str | None:
    """Why no private dockerd can run here (None: it can)."""
    if os.geteuid() != 0:
        return "starting a dockerd of the test's own needs root"
    path = f"{os.environ.get('PATH', '')}:{SBIN_PATH}"
    for tool in ("dockerd", "docker", "ip"):
        if shutil.which(tool, path=path) is None:
            return f"starting a dockerd of the test's own needs {tool} on this host"
    return None


def free_address_pool() -> str:
    """A /16 under 10.0.0.0/8 that overlaps no route of this host (the user's daemon's
    networks included), for the private daemon's networks."""
    taken = [net for _, net in _routes() if net.prefixlen > 0]
    for second in range(199, 100, -1):
        candidate = ipaddress.IPv4Network(f"10.{second}.0.0/16")
        if not any(candidate.overlaps(net) for net in taken):
            return str(candidate)
    raise RuntimeError("no 10.x.0.0/16 free of this host's routes for the private dockerd")


def _routes() -> list[tuple[str, ipaddress.IPv4Network]]:
    """This host's IPv4 routes: (interface, destination)."""
    out = []
    with open("/proc/net/route", encoding="ascii") as routes:
        for line in list(routes)[1:]:
            fields = line.split()
            destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            out.append((fields[0], ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)))
    return out


class PrivateDockerd:
    def __init__(self) -> None:
        # Short: containerd's socket under the exec root must fit a Unix socket path.
        self.root = Path(tempfile.mkdtemp(prefix="sud-", dir="/tmp"))
        self.namespace = f"stackup-test-{secrets.token_hex(4)}"
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = self.root / "dockerd.log"
        config = self.root / "daemon.json"
        config.write_text("{}\n", encoding="utf-8")
        self.pool = free_address_pool()
        # No --default-address-pool: a dockerd restarted with one deletes the host's docker0
        # (moby's configureNetworking, "Clear stale bridge network"). Its networks take the
        # engine's default pools, skipping subnets that a route of this host already uses.
        pool = ipaddress.IPv4Network(self.pool)
        self.bridge = f"sud{secrets.token_hex(4)}"  # an interface name: 15 characters at most
        self.bridge_address = f"{pool.network_address + 0xFF01}/24"
        self.argv = [
            "dockerd",
            f"--host={self.url}",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--config-file={config}",
            f"--containerd-namespace={self.namespace}",
            f"--containerd-plugins-namespace={self.namespace}-plugins",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            *shlex.split(os.environ.get("STACKUP_DOCKERD_ARGS", "")),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def _make_bridge(self) -> None:
        ip = ["ip", "link", "show", self.bridge]
        if subprocess.run(ip, capture_output=True, check=False).returncode == 0:
            return
        for cmd in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", self.bridge_address, "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            subprocess.run(cmd, capture_output=True, check=True)

    def start(self) -> None:
        """Start the daemon (again, after `stop`) the same way, and wait until it answers."""
        self._make_bridge()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["PATH"] = f"{env.get('PATH', '')}:{SBIN_PATH}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # setsid: not in the test's session or its output
            )
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the private dockerd exited ({proc.returncode}):\n{self.tail()}"
                )
            return self.pings()

        try:
            wait_for(answers, timeout=90, what="the private dockerd to answer")
        except AssertionError as err:
            raise AssertionError(f"{err}; its log ends:\n{self.tail()}") from err

    def pings(self) -> bool:
        try:
            client = docker.DockerClient(base_url=self.url, timeout=5)  # it asks the version
        except docker.errors.DockerException:
            return False
        try:
            return bool(client.ping())
        except Exception:
            return False
        finally:
            client.close()

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=120)

    def load_images(self, *tags: str) -> None:
        """Copy images from the user's engine (where the suite's images are built) into this
        one: `docker save | docker -H ... load`."""
        path = f"{os.environ.get('PATH', '')}:{SBIN_PATH}"
        docker_cli = shutil.which("docker", path=path) or "docker"
        save = subprocess.Popen([docker_cli, "save", *tags], stdout=subprocess.PIPE)
        assert save.stdout is not None
        load = subprocess.run(
            [docker_cli, "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
        )
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"loading {tags} into the private dockerd failed: {load.stderr!r}")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to the daemon this object started (as `kill -TERM`), and wait for it to
        exit; SIGKILL to its process group after `timeout`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remove(self) -> None:
        """Stop the daemon and remove everything it had: its containers and networks (a
        network's bridge outlives the daemon), bridges left in its address pool, mounts left
        under its root (a killed daemon leaves its overlay mounts), then the root. Everything
        on this daemon is the test's own."""
        if self.proc is not None and self.proc.poll() is None and self.pings():
            client = self.client()
            try:
                for container in client.containers.list(all=True):
                    with contextlib.suppress(docker.errors.APIError):
                        container.remove(force=True, v=True)
                for network in client.networks.list():
                    if network.name not in ("bridge", "host", "none"):
                        with contextlib.suppress(docker.errors.APIError):
                            network.remove()
            finally:
                client.close()
        self.stop()
        for interface in {*self._bridges_in_pool(), self.bridge}:
            subprocess.run(["ip", "link", "delete", interface], capture_output=True, check=False)
        for mount in self._mounts():
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _bridges_in_pool(self) -> list[str]:
        pool = ipaddress.IPv4Network(self.pool)
        return sorted({iface for iface, net in _routes() if net.subnet_of(pool)})

    def _mounts(self) -> list[str]:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            points = [line.split()[1] for line in mounts]
        mine = [p for p in points if p == str(self.root) or p.startswith(f"{self.root}/")]
        return sorted(mine, key=len, reverse=True)  # the deepest first
