"""The engine restarted under a running `stackup watch`: watch says it lost the engine,
reconnects, converges the stack (the daemon stopped the container), and the next edit is
acted on. Named to run last: it restarts the engine every other test is using.

dockerd is restarted exactly as it was started (its argv, environment, working directory
and log file, read from /proc), detached in a session of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.engine.helpers import StackDir, free_port, wait_for
from tests.engine.watchproc import NGINX_CONF, WatchProcess, server_conf, wait_header


def _dockerd_pid() -> int:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True, check=False)
    pids = [int(p) for p in out.stdout.split()]
    if len(pids) != 1:
        pytest.skip(f"needs exactly one local dockerd to restart (found {pids})")
    return pids[0]


@dataclass(frozen=True)
class Launch:
    """How a running dockerd was started: enough to start it again the same way."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: str

    @classmethod
    def of(cls, pid: int) -> Launch:
        proc = Path(f"/proc/{pid}")
        argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        env = dict(
            item.decode(errors="replace").split("=", 1)
            for item in (proc / "environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        log = os.readlink(proc / "fd" / "1")
        if not log.startswith("/") or log.startswith("/dev/"):
            log = "/var/log/dockerd.log"
        cwd = os.readlink(proc / "cwd")
        if not os.path.isdir(cwd):  # e.g. "/tmp/x (deleted)": started from a removed directory
            cwd = "/"
        return cls(argv, env, cwd, log)


def _start(launch: Launch) -> None:
    with open(launch.log, "ab") as out:
        subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # setsid: not a child of this test's session
        )


def _pings(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def test_edit_after_an_engine_restart_is_acted_on(
    tmp_stack_dir: StackDir, project_name: str, docker_client: docker.DockerClient
) -> None:
    if shutil.which("pgrep") is None or os.geteuid() != 0:
        pytest.skip("restarting dockerd needs root and pgrep")
    pid = _dockerd_pid()
    d = tmp_stack_dir
    port = free_port()
    d.write("<html><body>hi</body></html>\n", "site/index.html")
    d.write(NGINX_CONF, "nginx/nginx.conf")
    d.write(server_conf("one"), "nginx/conf.d/default.conf")
    d.stack(
        f"""
        name: {project_name}
        services:
          web:
            image: nginx:stable
            ports: ["127.0.0.1:{port}:80"]
            volumes:
              - ./site:/usr/share/nginx/html:ro
              - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
              - ./nginx/conf.d:/etc/nginx/conf.d:ro
        """
    )
    url = f"http://127.0.0.1:{port}/"
    watch = WatchProcess(d.path)
    launch: Launch | None = None
    try:
        watch.wait_for(r"watching ")
        wait_header(url, "X-Version", "one")
        launch = Launch.of(pid)
        proc = Path(f"/proc/{pid}")
        os.kill(pid, signal.SIGTERM)  # as `kill -TERM`
        wait_for(lambda: not proc.exists(), timeout=60, what="dockerd to exit")
        watch.wait_for(r"lost the engine .*; reconnecting")  # noticed while it is down
        _start(launch)
        wait_for(lambda: _pings(docker_client), timeout=60, what="the restarted engine to answer")
        watch.wait_for(r"reconnected to the engine")
        watch.wait_for(r"applied \d+ operation")  # the daemon stopped web; watch starts it
        wait_header(url, "X-Version", "one")

        (d / "nginx/conf.d/default.conf").write_text(server_conf("two"), encoding="utf-8")
        watch.wait_for(r"sent HUP")
        wait_header(url, "X-Version", "two")
        assert watch.interrupt() == 130
    finally:
        watch.kill()
        if launch is not None and not _pings(docker_client) and not _dockerd_running():
            _start(launch)  # whatever failed above, leave the engine running
            wait_for(lambda: _pings(docker_client), timeout=60, what="the engine back")


def _dockerd_running() -> bool:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, check=False)
    return bool(out.stdout.strip())
