"""The remote host of tests/engine/remote_host.py, proven with ssh and the docker CLI alone
(no stackup code): what the SSH engine tests build on."""

from __future__ import annotations

import docker

from tests.engine.remote_host import IMAGES, RemoteHost


def test_remote_host_runs_its_own_engine_reached_over_ssh(
    remote_host: RemoteHost, docker_client: docker.DockerClient
) -> None:
    # Logged in as `deploy` with the run's key, through the test's own ssh config.
    assert remote_host.ssh("id", "-un").stdout.decode().strip() == "deploy"
    # Its own engine (another ID than this one's), with the images the fixture loaded.
    remote_id = remote_host.ssh("docker", "info", "--format", "{{.ID}}").stdout.decode().strip()
    assert remote_id and remote_id != docker_client.info()["ID"]
    listed = remote_host.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert set(IMAGES) <= set(listed)
    # A container runs there and reaches the network of that engine.
    out = remote_host.ssh("docker", "run", "--rm", "busybox:latest", "echo", "ran-remotely")
    assert out.stdout.decode().strip() == "ran-remotely"
    # The outer engine's default bridge is untouched by the inner dockerd.
    assert docker_client.networks.list(names=["bridge"])
