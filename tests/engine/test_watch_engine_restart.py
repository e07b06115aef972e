"""The engine restarted under a running `stackup watch`: watch says it lost the engine,
reconnects, converges the stack (the daemon stopped the container), and the next edit is
acted on.

The engine restarted is a dockerd this test starts, beside the user's, and removes at the
end, pass or fail (tests/engine/private_dockerd.py): the user's dockerd and containers are
never touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.engine.helpers import StackDir, free_port
from tests.engine.private_dockerd import PrivateDockerd, unavailable_reason
from tests.engine.watchproc import NGINX_CONF, WatchProcess, server_conf, wait_header


@pytest.fixture
def private_dockerd(docker_client: docker.DockerClient) -> Iterator[PrivateDockerd]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    daemon = PrivateDockerd()
    try:
        daemon.start()
        daemon.load_images("nginx:stable")
        yield daemon
    finally:
        daemon.remove()


def test_edit_after_an_engine_restart_is_acted_on(
    tmp_stack_dir: StackDir,
    project_name: str,
    docker_client: docker.DockerClient,
    private_dockerd: PrivateDockerd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users_dockerd = docker_client.info()["ID"]
    users_bridge = _default_bridge(docker_client)
    monkeypatch.setenv("DOCKER_HOST", private_dockerd.url)  # what watch talks to
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
    try:
        watch.wait_for(r"watching ")
        wait_header(url, "X-Version", "one")
        private = private_dockerd.client()
        try:
            assert [c.name for c in private.containers.list()] == [f"{project_name}-web-1"]
        finally:
            private.close()

        private_dockerd.stop()  # SIGTERM, as `kill -TERM`, to the daemon this test started
        watch.wait_for(r"lost the engine .*; reconnecting")  # noticed while it is down
        private_dockerd.start()
        watch.wait_for(r"reconnected to the engine")
        watch.wait_for(r"applied \d+ operation")  # the daemon stopped web; watch starts it
        wait_header(url, "X-Version", "one")

        (d / "nginx/conf.d/default.conf").write_text(server_conf("two"), encoding="utf-8")
        watch.wait_for(r"sent HUP")
        wait_header(url, "X-Version", "two")
        assert watch.interrupt() == 130
    finally:
        watch.kill()
    # The user's engine saw none of it: the same daemon, no container of the project.
    assert docker_client.info()["ID"] == users_dockerd
    assert not docker_client.containers.list(all=True, filters={"name": project_name})
    # Its default bridge is the same interface (a dockerd started with --bridge=none, or
    # restarted with another address pool, deletes the host's docker0).
    assert _default_bridge(docker_client) == users_bridge


def _default_bridge(client: docker.DockerClient) -> tuple[str, str] | None:
    """The user's daemon's default bridge interface on this host: (name, ifindex)."""
    try:
        options = client.networks.get("bridge").attrs.get("Options") or {}
    except docker.errors.NotFound:
        return None
    name = options.get("com.docker.network.bridge.name", "docker0")
    index = Path(f"/sys/class/net/{name}/ifindex")
    return (name, index.read_text().strip()) if index.exists() else None
