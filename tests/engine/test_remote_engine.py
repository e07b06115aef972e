"""What assumed an engine on this machine, against an engine reached over SSH: the port check
asks the remote engine (a local probe says nothing about the server), `watch` refuses at
start, `exec`, `logs` and `up --wait` work there.

Against the remote host of tests/engine/remote_host.py (opt-in outside CI:
`STACKUP_REMOTE_TESTS=1`); assertions on the remote engine go through `docker exec`, not
through stackup. Ports published on the remote host are on its own 127.0.0.1 (its network
namespace), reached by a container of the test's own with the host's network.
"""

from __future__ import annotations

import random
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stackup.engine.docker import ssh
from stackup.engine.docker.ssh import open_tunnel
from tests.engine.helpers import PROJECT_LABEL, StackDir, stackup, wait_for
from tests.engine.remote_host import RemoteHost


@pytest.fixture
def remote_project(remote_host: RemoteHost, project_name: str) -> Iterator[str]:
    """A project name whose resources on the remote engine go at the end, pass or fail."""
    yield project_name
    remote_host.remove_project(project_name)


def _remote_port() -> int:
    """A port for the remote host's 127.0.0.1: its own network namespace, where nothing but
    sshd (22) and the tests' containers listen."""
    return random.randint(20000, 40000)


def _served_on_remote(host: RemoteHost, port: int, path: str = "/") -> str:
    """The answer at 127.0.0.1:PORT of the remote host, its headers included, fetched there
    by a throwaway container with the host's network; "" when nothing answers. (Whatever its
    status: the remote engine's vfs storage gives an image's root directory mode 0700, so
    nginx's workers get 403 for the image's own page; the server answered all the same.)"""
    return host.docker(
        "run", "--rm", "--network", "host", "busybox:latest",
        "sh", "-c", f"wget -S -O- http://127.0.0.1:{port}{path} 2>&1; true",
    )  # fmt: skip


def _page_once_up(host: RemoteHost, port: int) -> str:
    """The answer, once the server answers (within 30 s)."""

    def fetch() -> str | None:
        answer = _served_on_remote(host, port)
        return answer if "HTTP/1.1" in answer else None

    return wait_for(fetch, timeout=30, interval=0.5, what=f"an answer on 127.0.0.1:{port}")


def _remote_networks(host: RemoteHost, project: str) -> list[str]:
    return host.docker(
        "network", "ls", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "{{.Name}}"
    ).split()


def _web(project: str, port: str) -> str:
    return textwrap.dedent(
        f"""
        name: {project}
        services:
          web:
            image: nginx:1.27
            ports: ["{port}"]
        """
    )


def test_a_port_another_remote_container_holds_is_refused_before_anything_is_created(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    port = _remote_port()
    # A container made by hand on the server (not stackup's, of no project) holds the port.
    holder = f"{remote_project}-by-hand"
    remote_host.docker(
        "run", "-d", "--name", holder, "-p", f"127.0.0.1:{port}:80", "busybox:latest",
        "sleep", "3600",
    )  # fmt: skip
    try:
        tmp_stack_dir.stack(_web(remote_project, f"127.0.0.1:{port}:80"))
        result = stackup("up", cwd=tmp_stack_dir, env=remote_host.env(), check=False)
        assert result.returncode == 1, result
        assert (
            f"error: port 127.0.0.1:{port}/tcp of service web is already in use by container "
            f"{holder}; nothing was changed"
        ) in result.stderr
        # The hint asks the same engine; `ss` would look at this machine, not the server.
        assert f"`docker ps --filter publish={port}`" in result.stderr
        assert "ss -ltnp" not in result.stderr
        assert "Traceback" not in result.stderr
        # Refused before the plan ran: no container, no network on the server.
        assert remote_host.containers_of(remote_project) == []
        assert _remote_networks(remote_host, remote_project) == []
    finally:
        remote_host.docker("rm", "-f", holder)


def test_a_port_a_process_holds_on_the_server_fails_cleanly_at_start(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    """The engine's API shows containers, not processes: sshd on the server's port 22 is
    seen only when the container starts. That failure is said as such, the container goes."""
    tmp_stack_dir.stack(_web(remote_project, "127.0.0.1:22:80"))
    result = stackup("up", cwd=tmp_stack_dir, env=remote_host.env(), check=False)
    assert result.returncode == 1, result
    assert (
        f"error: {remote_project}-web-1: starting container {remote_project}-web-1: port "
        "127.0.0.1:22/tcp is already in use on the engine's host, by a process that is not a "
        "container (the engine cannot say which); removed the container that did not start"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert remote_host.containers_of(remote_project) == []


def test_a_port_held_on_this_machine_does_not_stop_an_engine_over_ssh_to_127_0_0_1(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    """`DOCKER_HOST=ssh://deploy@127.0.0.1:PORT` has this machine's address in it, and is
    another machine: a port taken here says nothing about it."""
    config = tmp_path / "ssh_config"
    config.write_text(
        remote_host.ssh_config.read_text().replace(f"Host {remote_host.alias}", "Host 127.0.0.1")
    )
    env = remote_host.env(
        DOCKER_HOST=f"ssh://deploy@127.0.0.1:{remote_host.port}", STACKUP_SSH_CONFIG=str(config)
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))  # a process of this machine holds 127.0.0.1:PORT here
        held.listen()
        port = held.getsockname()[1]
        tmp_stack_dir.stack(_web(remote_project, f"127.0.0.1:{port}:80"))
        stackup("up", cwd=tmp_stack_dir, env=env)
        assert remote_host.containers_of(remote_project) == [f"{remote_project}-web-1"]
        assert "HTTP/1.1 " in _page_once_up(remote_host, port)  # nginx answered there


def test_watch_refuses_a_remote_engine_at_start(
    remote_host: RemoteHost, remote_project: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(_web(remote_project, "127.0.0.1::80"))
    for args in (("watch",), ("up", "--watch")):
        result = stackup(*args, cwd=tmp_stack_dir, env=remote_host.env(), check=False)
        assert result.returncode == 1, result
        assert "error: watch needs the engine on this machine" in result.stderr
        assert "hint: bind mounts and file events are local" in result.stderr
        assert "Traceback" not in result.stderr
    assert remote_host.containers_of(remote_project) == []  # nothing planned nor applied


def test_up_wait_exec_and_logs_on_a_remote_engine(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    port = _remote_port()
    tmp_stack_dir.stack(
        textwrap.dedent(
            f"""
            name: {remote_project}
            services:
              web:
                image: nginx:1.27
                ports: ["127.0.0.1:{port}:80"]
                healthcheck:
                  test: ["CMD", "curl", "-sS", "-o", "/dev/null", "http://127.0.0.1/"]
                  interval: 1s
                  retries: 30
            """
        )
    )
    env = remote_host.env()
    stackup("up", "--wait", cwd=tmp_stack_dir, env=env, timeout=300)
    # `--wait` returned once the remote container was healthy.
    name = f"{remote_project}-web-1"
    health = remote_host.docker("inspect", "--format", "{{.State.Health.Status}}", name)
    assert health.strip() == "healthy"
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={remote_project}"}
    )

    # exec: the remote container's file, as the server's own docker CLI reads it.
    on_server = remote_host.docker("exec", name, "cat", "/etc/nginx/conf.d/default.conf")
    out = stackup(
        "exec", "web", "cat", "/etc/nginx/conf.d/default.conf", cwd=tmp_stack_dir, env=env
    )
    assert "listen" in on_server
    assert out.stdout == on_server
    code = stackup("exec", "web", "sh", "-c", "exit 7", cwd=tmp_stack_dir, env=env, check=False)
    assert code.returncode == 7

    # logs: nginx's access log of a request made on the server (its health checks log
    # requests too; this one is told by its query).
    marker = f"from-the-test-{random.randint(0, 10**9)}"
    _served_on_remote(remote_host, port, f"/?{marker}")
    logs = wait_for(
        lambda: (
            found.stdout
            if marker in (found := stackup("logs", "web", cwd=tmp_stack_dir, env=env)).stdout
            else None
        ),
        timeout=30,
        what="the request in the logs",
    )
    assert f"GET /?{marker} HTTP/1.1" in logs


def test_a_second_command_leaves_the_first_ones_connection_alone(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two commands over SSH at once (`logs -f` in one terminal, `up` in another; two CI
    jobs): each starts by removing the socket directories of ended commands, and must not
    take the live one of the other. Found when a cold `up` of 30 services lost its engine
    half-way ("lost the connection ... No such file or directory") while another session's
    commands ran: the real OpenSSH client let go of the directory's lock."""
    monkeypatch.setenv("STACKUP_SSH_CONFIG", str(remote_host.ssh_config))
    first = open_tunnel(remote_host.url)  # a command in progress, with its connection
    try:
        tmp_stack_dir.stack(_web(remote_project, "127.0.0.1::80"))
        stackup("ps", cwd=tmp_stack_dir, env=remote_host.env())  # the second command
        assert Path(first.socket_path).exists()
        # A new request of the first command still reaches the remote engine.
        assert ssh._ping(first.socket_path) == "ok"
    finally:
        first.close()


def test_build_uses_the_remote_engine_with_the_local_context(
    remote_host: RemoteHost,
    remote_project: str,
    tmp_stack_dir: StackDir,
    docker_client: docker.DockerClient,
) -> None:
    """`build:` sends the context of this machine to the remote engine, which builds there:
    the image is the server's, none is made here."""
    marker = f"built-from-the-local-context-{random.randint(0, 10**9)}"
    tmp_stack_dir.write("FROM busybox:latest\nCOPY hello.txt /hello.txt\n", "app/Dockerfile")
    tmp_stack_dir.write(f"{marker}\n", "app/hello.txt")
    image = f"{remote_project}-app:built"
    tmp_stack_dir.stack(
        f"""
        name: {remote_project}
        services:
          app:
            build: ./app
            image: {image}
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
        """
    )
    env = remote_host.env()
    try:
        stackup("up", cwd=tmp_stack_dir, env=env, timeout=600)
        app = f"{remote_project}-app-1"
        assert remote_host.containers_of(remote_project) == [app]
        assert remote_host.docker("exec", app, "cat", "/hello.txt") == f"{marker}\n"
        assert docker_client.images.list(name=image) == []
        stackup("diff", "--exit-code", cwd=tmp_stack_dir, env=env)
    finally:
        remote_host.remove_project(remote_project)
        remote_host.exec_root("sh", "-c", f"docker image rm -f {image} || true")
