"""`stackup pull` from a real registry (Debian's docker-registry on loopback, the `registry`
fixture): per-layer progress events, and the pulled image is the one pushed."""

from __future__ import annotations

import contextlib
import json
import secrets

import docker
import docker.errors

from tests.engine.helpers import PROJECT_LABEL, StackDir, stackup


def test_pull_fetches_from_the_registry_with_per_layer_progress(
    docker_client: docker.DockerClient,
    registry: str,
    project_name: str,
    tmp_stack_dir: StackDir,
) -> None:
    ref = f"{registry}/busybox:test"
    # busybox plus a layer of its own, so the pull really downloads something.
    builder = docker_client.containers.run(
        "busybox:latest",
        ["sh", "-c", f"head -c 200000 /dev/urandom > /blob; echo {secrets.token_hex(8)} > /id"],
        labels={PROJECT_LABEL: project_name},
        detach=True,
    )
    try:
        assert builder.wait()["StatusCode"] == 0
        repository, tag = ref.rsplit(":", 1)
        pushed = builder.commit(repository=repository, tag=tag)
        for line in docker_client.images.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in line, line
        docker_client.images.remove(ref)  # the only name of that image: its own layer goes
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.get(pushed.id)
            raise AssertionError("the local copy is still there")

        tmp_stack_dir.stack(
            f"""
            services:
              box:
                image: {ref}
                command: ["sleep", "3600"]
            """
        )
        result = stackup("-p", project_name, "pull", "--format", "json", cwd=tmp_stack_dir)
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert events, result.stdout
        layer_events = [e for e in events if e.get("layer") and e["image"] == ref]
        layers = {e["layer"] for e in layer_events}
        assert len(layers) >= 2, layer_events  # busybox's layer and ours
        statuses = {e["status"] for e in layer_events}
        assert "Pull complete" in statuses, statuses
        assert "Downloading" in statuses, statuses  # progress of the layer it fetched
        assert any(
            e["status"] == "Downloading" and e["total"] and e["current"] is not None
            for e in layer_events
        ), layer_events
        assert docker_client.images.get(ref).id == pushed.id
        assert events[-1].get("id") == pushed.id, events[-1]
    finally:
        builder.remove(force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(ref, force=True)
