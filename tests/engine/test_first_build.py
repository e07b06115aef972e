"""What a new user hits first, against a real engine: an image one service builds and
another runs, missing bind sources, and `import run` / `import container` agreeing."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
from pathlib import Path

import docker
import docker.errors

from stackup.loading.loader import load_text
from stackup.model.spec import Stack
from tests.engine.helpers import PROJECT_LABEL, StackDir, free_port, http_get, stackup


def _containers(
    client: docker.DockerClient, project: str
) -> dict[str, docker.models.containers.Container]:
    return {
        c.labels.get("io.stackup.service", c.name): c
        for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    }


def test_an_image_built_by_one_service_and_run_by_another_is_built_once_and_run_by_both(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tag = f"stackup-test/{project_name}:dev"
    tmp_stack_dir.write("built\n", "app/built")
    tmp_stack_dir.write("FROM busybox:latest\nCOPY built /built\n", "app/Dockerfile")
    tmp_stack_dir.stack(
        f"""
        services:
          migrate:
            build: ./app
            image: {tag}
            command: ["sleep", "3600"]
          app:
            image: {tag}
            command: ["sleep", "3600"]
        """
    )
    try:
        up = stackup("-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir)
        assert up.stdout.count("⚒") == 1 and "↓" not in up.stdout, up.stdout
        built = docker_client.images.get(tag).id
        running = _containers(docker_client, project_name)
        assert sorted(running) == ["app", "migrate"]
        assert {s: c.image.id for s, c in running.items()} == {"app": built, "migrate": built}
        assert all(c.status == "running" for c in running.values())
    finally:
        with contextlib.suppress(docker.errors.APIError):
            for c in _containers(docker_client, project_name).values():
                c.remove(force=True)
            docker_client.images.remove(tag, force=True)


def test_import_run_and_import_container_write_the_same_stack_for_the_common_flags(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    """One `docker run` line with the common flags, read by `import run`; the same line run
    by the docker CLI and read back by `import container`: the two stack files mean the same
    stack. Only what a container cannot tell is set aside: the env file's name (its values
    are in the container's environment, and compared)."""
    for sub in ("site", "conf", "from-line", "from-container"):
        (tmp_path / sub).mkdir()
    (tmp_path / "app.env").write_text("FROM_FILE=1\nMODE=file\n")
    net, vol, name = f"{project_name}_net", f"{project_name}_vol", f"{project_name}-box"
    docker_client.networks.create(net, labels={PROJECT_LABEL: project_name})
    docker_client.volumes.create(vol, labels={PROJECT_LABEL: project_name})
    line = shlex.split(
        f"--name {name} --hostname box -p 127.0.0.1:{free_port()}:80 "
        f"-v {tmp_path}/site:/site:ro --mount type=bind,source={tmp_path}/conf,target=/conf,readonly "
        f"--mount type=volume,source={vol},target=/vol "
        "--mount type=tmpfs,target=/scratch,tmpfs-size=1048576 --tmpfs /run "
        f"-e MODE=prod --env-file {tmp_path}/app.env --network {net} --network-alias db "
        "--restart unless-stopped --health-cmd true --health-interval 5s --health-timeout 2s "
        "--health-retries 2 --health-start-period 1s -l team=web --cap-add NET_BIND_SERVICE "
        "--read-only --user 1000:1000 -w /tmp --memory 64m --cpus 0.5 --stop-timeout 7 "
        "--entrypoint /bin/sh busybox:latest -c 'sleep 3600'"
    )
    try:
        stackup("import", "run", "-o", "stack.yaml", "--", *line, cwd=tmp_path / "from-line")
        subprocess.run(
            ["docker", "run", "-d", "--label", f"{PROJECT_LABEL}={project_name}", *line],
            check=True,
            capture_output=True,
            timeout=120,
        )
        stackup("import", "container", "-o", "stack.yaml", name, cwd=tmp_path / "from-container")
        from_line = _loaded(tmp_path / "from-line")
        from_container = _loaded(tmp_path / "from-container")
        line_service = from_line.services[name]
        assert [str(f.path) for f in line_service.env_file] == [f"{tmp_path}/app.env"]
        # What the env file held is in the container's environment; -e wins, as in docker run.
        line_service = line_service.model_copy(
            update={
                "env_file": [],
                "environment": {"FROM_FILE": "1", **line_service.environment},
            }
        )
        assert from_container.services[name] == line_service
        assert from_container.volumes == from_line.volumes
        assert from_container.networks == from_line.networks
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True, v=True)


def _loaded(directory: Path) -> Stack:
    text = (directory / "stack.yaml").read_text()
    return load_text(text, working_dir=str(directory), environ={}, project_name="imp").stack


def test_a_typod_file_source_is_a_located_error_and_nothing_is_created(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    (tmp_stack_dir / "site").mkdir()
    tmp_stack_dir.stack(
        """
        services:
          web:
            image: nginx:stable
            volumes:
              - ./site:/usr/share/nginx/html
              - ./default.conff:/etc/nginx/conf.d/default.conf
        """
    )
    up = stackup("-p", project_name, "up", cwd=tmp_stack_dir, check=False)
    assert up.returncode == 1, up.stderr
    assert (
        "error: stack.yaml:6:9: services.web.volumes[1]: ./default.conff does not exist (the "
        "engine would create an empty directory), but nginx:stable has a file at "
        "/etc/nginx/conf.d/default.conf" in up.stderr
    ), up.stderr
    assert "Traceback" not in up.stderr
    assert _containers(docker_client, project_name) == {}
    assert docker_client.networks.list(filters={"label": f"{PROJECT_LABEL}={project_name}"}) == []
    assert not (tmp_stack_dir / "default.conff").exists()
    # The look into the image left nothing behind either.
    assert docker_client.containers.list(all=True, filters={"label": "io.stackup.path-probe"}) == []


def test_a_typod_directory_source_is_warned_about_and_served_empty_as_compose_does(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    port = free_port()
    tmp_stack_dir.stack(
        f"""
        services:
          web:
            image: nginx:stable
            ports: ["127.0.0.1:{port}:80"]
            volumes:
              - ./sitee:/usr/share/nginx/html
        """
    )
    warning = (
        "warning: stack.yaml:6:9: services.web.volumes[0]: ./sitee does not exist; the engine "
        "will create an empty directory"
    )
    for command in ("config", "diff"):
        shown = stackup("-p", project_name, command, cwd=tmp_stack_dir)
        assert warning in shown.stderr, (command, shown.stderr)
    up = stackup("-p", project_name, "up", "--wait", cwd=tmp_stack_dir)
    assert warning in up.stderr, up.stderr
    site = tmp_stack_dir / "sitee"
    assert site.is_dir() and list(site.iterdir()) == []
    assert http_get(f"http://127.0.0.1:{port}/").status == 403  # an empty web root
    (site / "index.html").write_text("<p>now there</p>\n")
    assert "<p>now there</p>" in http_get(f"http://127.0.0.1:{port}/").body


def test_a_container_that_cannot_start_is_removed_with_the_directory_made_for_it(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        """
        services:
          app:
            image: busybox:latest
            entrypoint: ["/no/such/program"]
            volumes:
              - ./data:/data
        """
    )
    up = stackup("-p", project_name, "up", cwd=tmp_stack_dir, check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "removed the container that did not start" in up.stdout + up.stderr
    assert _containers(docker_client, project_name) == {}  # none left `created`
    assert not (tmp_stack_dir / "data").exists()
