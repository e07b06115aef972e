"""An engine reached over SSH (`DOCKER_HOST=ssh://…`, a docker context with an ssh endpoint)
from a fresh install: the system OpenSSH client, one connection per command.

Every test runs against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`), asserts on the remote engine through `docker exec` (not through
stackup) and checks that the local engine has nothing of the project.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stackup.engine.docker.connect import context_dir_name
from tests.engine.helpers import PROJECT_LABEL, ROOT, StackDir, stackup, wait_for
from tests.engine.remote_host import RemoteHost

STACK = """
    name: {project}
    services:
      app:
        image: busybox:latest
        command: ["sleep", "3600"]
        stop_signal: SIGKILL
"""


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    """A project name whose resources on the remote engine go at the end, pass or fail (the
    `project_name` fixture sweeps the local engine)."""
    yield project_name
    remote_host.remove_project(project_name)


def _local_containers(client: docker.DockerClient, project: str) -> list[str]:
    found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    return [c.name or "" for c in found]


def test_up_ps_down_over_docker_host_ssh(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    tmp_stack_dir.stack(STACK.format(project=remote_project))
    env = remote_host.env()
    logins_before = remote_host.logins()

    stackup("up", cwd=tmp_stack_dir, env=env)

    # One ssh login for the whole `up` (sshd's MaxStartups refuses bursts of new ones).
    assert remote_host.logins() - logins_before == 1
    assert remote_host.containers_of(remote_project) == [f"{remote_project}-app-1"]
    state = remote_host.docker(
        "inspect", "--format", "{{.State.Running}}", f"{remote_project}-app-1"
    )
    assert state.strip() == "true"
    assert _local_containers(docker_client, remote_project) == []

    ps = stackup("ps", "--format", "json", cwd=tmp_stack_dir, env=env)
    rows = json.loads(ps.stdout)
    assert [(r["service"], r["state"]) for r in rows] == [("app", "running")]

    # exec and logs reach the remote container.
    hostname = remote_host.docker(
        "inspect", "--format", "{{.Config.Hostname}}", f"{remote_project}-app-1"
    ).strip()
    out = stackup("exec", "-T", "app", "--", "hostname", cwd=tmp_stack_dir, env=env)
    assert out.stdout.strip() == hostname, out
    stackup(
        "exec",
        "-T",
        "app",
        "--",
        "sh",
        "-c",
        "echo marker-$((6*7)) >/proc/1/fd/1",
        cwd=tmp_stack_dir,
        env=env,
    )
    logs = stackup("logs", "--no-prefix", cwd=tmp_stack_dir, env=env)
    assert "marker-42" in logs.stdout

    # Nothing changed since `up`: the plan over ssh is empty.
    stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)

    stackup("down", cwd=tmp_stack_dir, env=env)
    assert remote_host.containers_of(remote_project) == []


def test_docker_context_with_ssh_endpoint(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
    docker_client: docker.DockerClient,
) -> None:
    # A docker config directory of the test's own, with a context as `docker context create
    # server --docker host=ssh://ALIAS` writes it.
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / context_dir_name("server") / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(
        json.dumps(
            {
                "Name": "server",
                "Metadata": {},
                "Endpoints": {"docker": {"Host": remote_host.url, "SkipTLSVerify": False}},
            }
        ),
        encoding="utf-8",
    )
    tmp_stack_dir.stack(STACK.format(project=remote_project))
    env = {
        "DOCKER_CONFIG": str(config),
        "DOCKER_HOST": "",
        "DOCKER_CONTEXT": "",
        "STACKUP_SSH_CONFIG": str(remote_host.ssh_config),
    }

    stackup("--context", "server", "up", cwd=tmp_stack_dir, env=env)
    assert remote_host.containers_of(remote_project) == [f"{remote_project}-app-1"]
    assert _local_containers(docker_client, remote_project) == []

    # The same context chosen by DOCKER_CONTEXT, then as the current context.
    ps = stackup(
        "ps", "--format", "json", cwd=tmp_stack_dir, env={**env, "DOCKER_CONTEXT": "server"}
    )
    assert [r["service"] for r in json.loads(ps.stdout)] == ["app"]
    (config / "config.json").write_text(json.dumps({"currentContext": "server"}))
    stackup("down", cwd=tmp_stack_dir, env=env)
    assert remote_host.containers_of(remote_project) == []


@pytest.mark.parametrize("failure", ["wrong port", "refused key", "engine socket refused"])
def test_failed_connection_exits_1_naming_the_host(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
    failure: str,
) -> None:
    tmp_stack_dir.stack(STACK.format(project=remote_project))
    if failure == "wrong port":
        # The alias with a port nothing listens on (the URL's port wins over the config's).
        env = remote_host.env(DOCKER_HOST=f"ssh://{remote_host.alias}:1")
        reason = "Connection refused"
    elif failure == "engine socket refused":
        # Logged in, but the user may not open the engine's socket (not in the docker
        # group): made so for this test only, with the socket's mode.
        env = remote_host.env()
        reason = "logged in, but /var/run/docker.sock there refused the connection"
    else:
        other_key = tmp_path / "other_key"
        config = tmp_path / "ssh_config"
        config.write_text(
            remote_host.ssh_config.read_text().replace(str(remote_host.key), str(other_key))
        )
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
        )
        env = remote_host.env(STACKUP_SSH_CONFIG=str(config))
        reason = "Permission denied"

    if failure == "engine socket refused":
        remote_host.exec_root("chmod", "0600", "/var/run/docker.sock")
    try:
        result = stackup("up", cwd=tmp_stack_dir, env=env, check=False)
    finally:
        remote_host.exec_root("chmod", "0660", "/var/run/docker.sock")

    assert result.returncode == 1, result
    assert f"ssh://{remote_host.alias}" in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert remote_host.containers_of(remote_project) == []


def _ssh_processes_with(config: Path) -> list[int]:
    """Local ssh processes started with this config file (`ssh -F CONFIG`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ssh") and str(config).encode() in argv:
            found.append(int(entry))
    return found


@pytest.mark.parametrize(
    "stop",
    [
        signal.SIGINT,
        signal.SIGKILL,
    ],
    ids=["ctrl-c", "kill-9"],
)
def test_the_ssh_connection_ends_with_the_command(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    tmp_stack_dir.stack(STACK.format(project=remote_project))
    # A config file of this test's own, to tell its ssh processes from any other.
    config = tmp_path / "ssh_config"
    config.write_text(remote_host.ssh_config.read_text())
    env = remote_host.env(STACKUP_SSH_CONFIG=str(config))
    stackup("up", cwd=tmp_stack_dir, env=env)
    assert _ssh_processes_with(config) == []  # `up` ended, and its connection with it

    follow = subprocess.Popen(
        [sys.executable, "-m", "stackup", "logs", "-f"],
        cwd=tmp_stack_dir,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _ssh_processes_with(config), timeout=30, what="the ssh connection")
        follow.send_signal(stop)
        follow.wait(timeout=30)
        # Ctrl-C: stackup ends it; kill -9: the kernel's parent-death signal does.
        wait_for(lambda: not _ssh_processes_with(config), timeout=15, what="ssh to end")
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    stderr = follow.stderr.read().decode() if follow.stderr else ""
    assert "Traceback" not in stderr
    # The socket directory a killed command could not remove goes with the next command.
    stackup("ps", cwd=tmp_stack_dir, env=env)
    assert _stale_socket_directories() == []


def _stale_socket_directories() -> list[Path]:
    """Socket directories whose lock nobody holds (their ssh has ended)."""
    stale = []
    for directory in Path(tempfile.gettempdir()).glob("stackup-ssh-*"):
        try:
            fd = os.open(directory / "lock", os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.append(directory)
        except OSError:
            pass
        finally:
            os.close(fd)
    return stale


def test_interactive_exec_goes_through_the_same_connection(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    """`exec` on a terminal hands over to the docker CLI: pointed at stackup's forwarded
    socket, it needs no ssh settings of its own (it would not read STACKUP_SSH_CONFIG)."""
    import pty

    tmp_stack_dir.stack(STACK.format(project=remote_project))
    env = remote_host.env()
    stackup("up", cwd=tmp_stack_dir, env=env)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stackup", "exec", "app", "--", "sh", "-c", "echo in-$((6*7))"],
            cwd=tmp_stack_dir,
            env={**os.environ, **env, "NO_COLOR": "1"},
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed: every process on it has exited
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=60) == 0, output
    finally:
        os.close(primary)
    assert b"in-42" in output


def test_thirty_services_in_one_login(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    """An `up` of 30 services opens many engine connections in parallel: as channels of one
    ssh login, sshd's default MaxStartups (10:30:100) never sees a burst."""
    services = "".join(
        f"""
      s{i:02d}:
        image: busybox:latest
        command: ["sleep", "3600"]
        stop_signal: SIGKILL"""
        for i in range(30)
    )
    tmp_stack_dir.stack(f"name: {remote_project}\nservices:{services}\n")
    env = remote_host.env()
    logins_before = remote_host.logins()
    stackup("up", cwd=tmp_stack_dir, env=env, timeout=600)
    assert remote_host.logins() - logins_before == 1
    assert len(remote_host.containers_of(remote_project)) == 30


def test_the_lock_is_held_on_the_remote_engine_and_expires_after_kill_9_of_its_holder(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    """Two clients of the remote engine with runtime directories of their own (this host's
    lock file cannot keep them apart): a holder of the project's lock (taken as every use case
    takes it, then sleeping) and an `up`, which waits naming it; after `kill -9` of the holder
    the `up` takes the lock once its lease has gone unrenewed for its TTL, and applies."""
    p = remote_project
    tmp_stack_dir.stack(STACK.format(project=p))

    def own_runtime_dir(name: str) -> str:
        (tmp_path / name).mkdir(mode=0o700)
        return str(tmp_path / name)

    hold = textwrap.dedent(
        f"""
        import time
        from stackup.engine.docker.engine import DockerEngine
        from stackup.targets.engine.lock import project_lock
        with project_lock(DockerEngine.from_env(), {p!r}):
            print("holding", flush=True)
            time.sleep(600)
        """
    )
    held_env = remote_host.env(XDG_RUNTIME_DIR=own_runtime_dir("a"), STACKUP_LOCK_TTL="3")
    up_env = remote_host.env(XDG_RUNTIME_DIR=own_runtime_dir("b"), NO_COLOR="1")
    held_out, up_out = tmp_path / "holder.out", tmp_path / "up.out"
    with open(held_out, "wb") as sink:
        holder = subprocess.Popen(
            [sys.executable, "-c", hold],
            cwd=ROOT,
            env={**os.environ, **held_env},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    procs = [holder]
    try:
        wait_for(lambda: "holding" in held_out.read_text(), timeout=60, what="the lock held")
        with open(up_out, "wb") as sink:
            up = subprocess.Popen(
                [sys.executable, "-m", "stackup", "up", "--progress", "plain"],
                cwd=tmp_stack_dir.path,
                env={**os.environ, **up_env},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        procs.append(up)
        held = f"(held by {getpass.getuser()}@{socket.gethostname()} pid {holder.pid} since "
        waiting = f"waiting for the lock on project {p} {held}"
        wait_for(lambda: waiting in up_out.read_text(), timeout=60, what="up to wait")
        assert remote_host.containers_of(p) == [f"stackup-lock-{p}"]  # nothing applied yet
        holder.kill()  # SIGKILL: its lease stays on the engine, unrenewed
        holder.wait()
        assert up.wait(timeout=120) == 0, up_out.read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = up_out.read_text()
    assert f"breaking the lock on project {p} {held}" in text, text
    assert "not renewed for 3s" in text and f"got the lock on project {p}" in text, text
    assert remote_host.containers_of(p) == [f"{p}-app-1"]  # one container, and no lock left


@pytest.mark.parametrize("feature", ["ProxyJump", "ssh-agent"])
def test_the_ssh_config_and_agent_are_honoured(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
    feature: str,
) -> None:
    """What the system OpenSSH client reads, stackup gets: a host reached through a jump
    host (two logins: the jump, then the server through it), and a key only the ssh-agent
    has (none named in the config)."""
    known = tmp_path / "known_hosts"
    common = (
        "  User deploy\n  StrictHostKeyChecking accept-new\n"
        f"  UserKnownHostsFile {known}\n  LogLevel ERROR\n"
    )
    key = f"  IdentityFile {remote_host.key}\n  IdentitiesOnly yes\n  IdentityAgent none\n"
    config = tmp_path / "ssh_config"
    agent = None
    env = {}
    if feature == "ProxyJump":
        # The server's sshd on its own loopback, reached through its published port.
        config.write_text(
            f"Host jump\n  HostName 127.0.0.1\n  Port {remote_host.port}\n{key}{common}"
            f"Host behind\n  HostName 127.0.0.1\n  Port 22\n  ProxyJump jump\n{key}{common}"
        )
        alias, logins = "behind", 2
    else:
        sock = tmp_path / "agent.sock"
        agent = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(sock)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(sock.exists, timeout=10, what="the ssh-agent")
        env["SSH_AUTH_SOCK"] = str(sock)
        subprocess.run(
            ["ssh-add", "-q", str(remote_host.key)], env={**os.environ, **env}, check=True
        )
        config.write_text(
            f"Host agented\n  HostName 127.0.0.1\n  Port {remote_host.port}\n{common}"
        )
        alias, logins = "agented", 1
    try:
        tmp_stack_dir.stack(STACK.format(project=remote_project))
        env = remote_host.env(DOCKER_HOST=f"ssh://{alias}", STACKUP_SSH_CONFIG=str(config), **env)
        before = remote_host.logins()
        stackup("up", cwd=tmp_stack_dir, env=env)
        assert remote_host.logins() - before == logins
        assert remote_host.containers_of(remote_project) == [f"{remote_project}-app-1"]
        stackup("down", cwd=tmp_stack_dir, env=env)
        assert remote_host.containers_of(remote_project) == []
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=10)
