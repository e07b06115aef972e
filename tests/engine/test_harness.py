"""The test harness itself, against the real engine: the engine answers, the locally built
images behave like the official ones where the tests rely on it, the registry works."""

from __future__ import annotations

import contextlib
import io
import secrets
import tarfile
import time

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from tests.engine.helpers import PROJECT_LABEL, free_port, http_get, wait_for

DEFAULT_CONF = """\
server {
    listen       80;
    server_name  localhost;
    add_header   X-Stackup-Generation %s;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
}
"""


def _put_file(container: Container, directory: str, name: str, text: str) -> None:
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(directory, buf.getvalue())


def _run_nginx(client: docker.DockerClient, project: str, port: int) -> Container:
    container = client.containers.run(
        "nginx:stable",
        detach=True,
        labels={PROJECT_LABEL: project},
        name=f"{project}-nginx-1",
        ports={"80/tcp": ("127.0.0.1", port)},
    )
    assert isinstance(container, Container)
    return container


def test_engine_answers(docker_client: docker.DockerClient) -> None:
    assert docker_client.ping() is True
    version = docker_client.version()
    assert version["ApiVersion"]


def test_project_name_is_unique_and_prefixed(project_name: str) -> None:
    assert project_name.startswith("sut-")
    assert len(project_name) == len("sut-") + 8


def test_busybox_runs_echo(docker_client: docker.DockerClient, project_name: str) -> None:
    container = docker_client.containers.run(
        "busybox:latest",
        ["echo", "hi"],
        detach=True,
        labels={PROJECT_LABEL: project_name},
    )
    assert isinstance(container, Container)
    result = container.wait(timeout=30)
    assert result["StatusCode"] == 0
    assert container.logs() == b"hi\n"


def test_busybox_tags_and_layout(docker_client: docker.DockerClient, project_name: str) -> None:
    ids = {
        docker_client.images.get(t).id for t in ("busybox:latest", "busybox:stable", "busybox:1.36")
    }
    assert len(ids) == 1
    container = docker_client.containers.run(
        "busybox:1.36",
        ["sh", "-c", "id -u nobody && test -d /tmp && test -x /bin/sh && which httpd wget"],
        detach=True,
        labels={PROJECT_LABEL: project_name},
    )
    assert isinstance(container, Container)
    assert container.wait(timeout=30)["StatusCode"] == 0, container.logs()
    assert container.logs().decode().split() == ["65534", "/bin/httpd", "/bin/wget"]
    assert docker_client.images.get("busybox:latest").attrs["Config"]["Cmd"] == ["sh"]


def test_nginx_images_look_like_the_official_ones(docker_client: docker.DockerClient) -> None:
    stable = docker_client.images.get("nginx:stable")
    config = stable.attrs["Config"]
    assert config["StopSignal"] == "SIGQUIT"
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert "80/tcp" in config["ExposedPorts"]
    assert docker_client.images.get("nginx:latest").id == stable.id
    assert docker_client.images.get("nginx:1.27").id == stable.id
    # Tests move a service from 1.25 to 1.27 and must see another image.
    assert docker_client.images.get("nginx:1.25").id != stable.id


def test_nginx_serves_default_page_and_logs_it(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    port = free_port()
    container = _run_nginx(docker_client, project_name, port)
    response = http_get(f"http://127.0.0.1:{port}/")
    assert response.status == 200
    assert "Welcome to nginx!" in response.body
    assert http_get(f"http://127.0.0.1:{port}/missing").status == 404
    # access.log -> /dev/stdout, error.log -> /dev/stderr, as in the official image.
    wait_for(
        lambda: b'"GET / HTTP/1.1" 200' in container.logs(stdout=True, stderr=False),
        what="the access log line in docker logs",
    )
    wait_for(
        lambda: b"open()" in container.logs(stdout=False, stderr=True),
        what="the 404's error log line on stderr",
    )


def test_nginx_config_test_and_reload(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    port = free_port()
    container = _run_nginx(docker_client, project_name, port)
    assert http_get(f"http://127.0.0.1:{port}/").status == 200

    exit_code, output = container.exec_run(["nginx", "-t"])
    assert exit_code == 0, output
    assert b"syntax is ok" in output

    # `nginx -s reload` picks up a changed conf.d/default.conf without a restart.
    _put_file(container, "/etc/nginx/conf.d", "default.conf", DEFAULT_CONF % "one")
    exit_code, output = container.exec_run(["nginx", "-s", "reload"])
    assert exit_code == 0, output
    wait_for(
        lambda: http_get(f"http://127.0.0.1:{port}/").headers.get("X-Stackup-Generation") == "one",
        what="the reloaded configuration",
    )

    # So does SIGHUP sent by the engine (what `docker kill -s HUP` does).
    _put_file(container, "/etc/nginx/conf.d", "default.conf", DEFAULT_CONF % "two")
    container.kill(signal="SIGHUP")
    wait_for(
        lambda: http_get(f"http://127.0.0.1:{port}/").headers.get("X-Stackup-Generation") == "two",
        what="the configuration reloaded by SIGHUP",
    )
    container.reload()
    assert container.status == "running"
    assert container.attrs["RestartCount"] == 0


def test_nginx_stops_quickly_on_its_stop_signal(
    docker_client: docker.DockerClient, project_name: str
) -> None:
    container = _run_nginx(docker_client, project_name, free_port())
    # The image declares SIGQUIT (nginx's graceful stop), as the official image does; nginx
    # exits 0 on it. A signal it ignored would end in SIGKILL after the timeout (exit 137).
    assert container.attrs["Config"]["StopSignal"] == "SIGQUIT"
    container.stop(timeout=30)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0


def test_registry_push_and_pull(docker_client: docker.DockerClient, registry: str) -> None:
    source = docker_client.images.get("busybox:latest")
    repository = f"{registry}/busybox"
    tag = f"test-{secrets.token_hex(4)}"
    assert source.tag(repository, tag)
    try:
        for line in docker_client.images.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in line, line
        docker_client.images.remove(f"{repository}:{tag}")
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(f"{repository}:{tag}")
        pulled = docker_client.images.pull(repository, tag=tag)
        assert pulled.id == source.id
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{repository}:{tag}")
