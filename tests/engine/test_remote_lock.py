"""The project lock on a remote engine, between real `up`s: two of them whose local state
directories differ (`XDG_RUNTIME_DIR`: this machine's lock file cannot keep them apart, as
two laptops' or a CI runner's cannot) apply one at a time, one container per service after;
so do an `up` over SSH and one on the server's own engine socket; after `kill -9` of an `up`
holding the lock, the next one names its holder (user, host, since) and takes the lock once
the lease has gone unrenewed for its TTL.

Against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`). The first `up` is held inside its apply by a health gate the test
opens on the remote host (a file made in the gate's container), so the other is sure to find
the lock taken: no timing assumptions.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from stackup.engine.docker.engine import DockerEngine
from tests.engine.helpers import StackDir, stackup, wait_for
from tests.engine.remote_host import RemoteHost

STACK = """
name: {project}
services:
  gate:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/open"]
      interval: 1s
      start_period: 300s
      start_interval: 500ms
    networks: [front, back]
  worker:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    scale: 2
    depends_on:
      gate:
        condition: service_healthy
    networks: [back]
networks:
  front: {{}}
  back: {{}}
"""


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    """A project name whose resources on the remote engine go at the end, pass or fail."""
    yield project_name
    remote_host.remove_project(project_name)


def _start_up(cwd: Path, out: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with open(out, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "stackup", "up", "--progress", "plain"],
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1", **env},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _runtime_dir(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.mkdir(mode=0o700)
    return str(path)


def _gate_running(host: RemoteHost, project: str) -> bool:
    """The holding `up` is inside its apply: the gate runs, unhealthy until opened."""
    name = f"{project}-gate-1"
    running = host.docker("ps", "--filter", f"name=^{name}$", "--filter", "status=running", "-q")
    return bool(running.split())


def _open_gate(host: RemoteHost, project: str) -> None:
    host.docker("exec", f"{project}-gate-1", "touch", "/tmp/open")


def _lease_containers(host: RemoteHost, project: str) -> list[str]:
    out = host.docker(
        "ps", "-a", "--filter", f"label=io.stackup.lease=stackup-lock-{project}",
        "--format", "{{.Names}}",
    )  # fmt: skip
    return out.split()


def _held_by(proc: subprocess.Popen[bytes]) -> str:
    return f"held by {getpass.getuser()}@{socket.gethostname()} pid {proc.pid} since "


def _one_per_service(host: RemoteHost, project: str) -> Counter[str]:
    return Counter(host.containers_of(project))


@contextlib.contextmanager
def _server_socket(host: RemoteHost, directory: Path) -> Iterator[str]:
    """The remote engine's own socket, forwarded here as a unix socket: what a client on
    the server itself (`DOCKER_HOST=unix:///var/run/docker.sock`) talks to, no ssh engine."""
    path = directory / "docker.sock"
    proc = subprocess.Popen(
        [
            "ssh", "-F", str(host.ssh_config), "-o", "BatchMode=yes",
            "-o", "ExitOnForwardFailure=yes", "-N",
            "-L", f"{path}:/var/run/docker.sock", host.alias,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(path.exists, timeout=30, what="the forwarded engine socket")
        yield f"unix://{path}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("second_client", ["ssh", "server socket"])
def test_two_ups_with_their_own_state_directories_apply_one_at_a_time(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    second_client: str,
) -> None:
    p = remote_project
    tmp_stack_dir.stack(STACK.format(project=p))
    outs = [tmp_path / "first.out", tmp_path / "second.out"]
    # The first renews its lease every 2/3 s (TTL 2 s); the second must never break it.
    first_env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "a"), STACKUP_LOCK_TTL="2")
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        second_env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "b"))
        if second_client == "server socket":
            second_env["DOCKER_HOST"] = stack.enter_context(_server_socket(remote_host, tmp_path))
        try:
            first = _start_up(tmp_stack_dir.path, outs[0], first_env)
            procs.append(first)
            wait_for(lambda: _gate_running(remote_host, p), timeout=120, what="the gate")
            second = _start_up(tmp_stack_dir.path, outs[1], second_env)
            procs.append(second)
            waiting = f"waiting for the lock on project {p} ({_held_by(first)}"
            wait_for(lambda: waiting in outs[1].read_text(), timeout=60, what="the second to wait")
            assert _lease_containers(remote_host, p) == [f"stackup-lock-{p}"]
            # Four renewals seen while the second waits: longer than the TTL, and the
            # living holder's lease is not broken.
            for name, value in remote_host.env().items():
                monkeypatch.setenv(name, value)
            engine = DockerEngine.from_env()
            try:

                def beats() -> int:
                    lease = engine.read_lease(f"stackup-lock-{p}")
                    assert lease is not None
                    return int(lease.beat or 0)

                start = beats()
                wait_for(lambda: beats() >= start + 4, timeout=60, what="four renewals")
            finally:
                engine.close()
            assert "breaking" not in outs[1].read_text() and second.poll() is None
            _open_gate(remote_host, p)
            for proc in procs:
                proc.wait(timeout=180)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    texts = [o.read_text(errors="replace") for o in outs]
    assert [proc.returncode for proc in procs] == [0, 0], texts
    assert f"got the lock on project {p}" in texts[1], texts[1]
    assert "No changes" in texts[1], texts[1]  # it planned after the first had applied
    assert _one_per_service(remote_host, p) == Counter(
        {f"{p}-gate-1": 1, f"{p}-worker-1": 1, f"{p}-worker-2": 1}
    )
    assert _lease_containers(remote_host, p) == []


def test_after_kill_9_of_an_up_holding_the_lock_the_next_names_it_and_takes_it(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    p = remote_project
    tmp_stack_dir.stack(STACK.format(project=p))
    # A lease renewed every second, broken after 3 s without renewal (30 s by default).
    holder_env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "a"), STACKUP_LOCK_TTL="3")
    holder = _start_up(tmp_stack_dir.path, tmp_path / "holder.out", holder_env)
    try:
        wait_for(lambda: _gate_running(remote_host, p), timeout=120, what="the gate")
    finally:
        holder.kill()  # SIGKILL: nothing of it runs to release the lease
        holder.wait()
    assert _lease_containers(remote_host, p) == [f"stackup-lock-{p}"]
    _open_gate(remote_host, p)

    # Another machine's view: its own runtime directory, so only the engine's lease is seen.
    env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "b"), NO_COLOR="1")
    refused = stackup("up", "--no-wait-lock", cwd=tmp_stack_dir, env=env, check=False)
    assert refused.returncode == 1, refused
    assert f"project {p} is locked ({_held_by(holder)}" in refused.stderr, refused.stderr

    after = stackup("up", "--progress", "plain", cwd=tmp_stack_dir, env=env, timeout=300)
    held = f"({_held_by(holder)}"
    assert f"waiting for the lock on project {p} {held}" in after.stderr, after.stderr
    breaking = f"breaking the lock on project {p} {held}"
    assert breaking in after.stderr and "not renewed for 3s" in after.stderr, after.stderr
    assert f"got the lock on project {p}" in after.stderr, after.stderr
    assert _one_per_service(remote_host, p) == Counter(
        {f"{p}-gate-1": 1, f"{p}-worker-1": 1, f"{p}-worker-2": 1}
    )
    assert _lease_containers(remote_host, p) == []
    stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)


def test_unlock_yes_breaks_the_stale_lease_of_a_killed_up_on_the_remote_engine(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    p = remote_project
    tmp_stack_dir.stack(STACK.format(project=p))
    holder_env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "a"))  # TTL 30 s
    holder = _start_up(tmp_stack_dir.path, tmp_path / "holder.out", holder_env)
    try:
        wait_for(lambda: _gate_running(remote_host, p), timeout=120, what="the gate")
    finally:
        holder.kill()
        holder.wait()
    _open_gate(remote_host, p)
    env = remote_host.env(XDG_RUNTIME_DIR=_runtime_dir(tmp_path, "b"))
    held = f"({_held_by(holder)}"

    asked = stackup("unlock", cwd=tmp_stack_dir, env=env, check=False)
    assert asked.returncode == 1, asked  # no terminal to ask, no --yes: nothing broken
    assert _lease_containers(remote_host, p) == [f"stackup-lock-{p}"]

    unlocked = stackup("unlock", "--yes", cwd=tmp_stack_dir, env=env)
    assert f"project {p} is locked {held}" in unlocked.stdout, unlocked.stdout
    assert f"broke the lock on project {p}" in unlocked.stdout, unlocked.stdout
    assert _lease_containers(remote_host, p) == []

    stackup("up", "--no-wait-lock", cwd=tmp_stack_dir, env=env)
    assert _one_per_service(remote_host, p) == Counter(
        {f"{p}-gate-1": 1, f"{p}-worker-1": 1, f"{p}-worker-2": 1}
    )
