"""What a new user hits first, against a real engine: an image one service builds and
another runs, missing bind sources, and `import run` / `import container` agreeing."""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from tests.engine.helpers import PROJECT_LABEL, StackDir, stackup


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
    tmp_stack_dir.write("FROM busybox:latest\nRUN echo built > /built\n", "app/Dockerfile")
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
