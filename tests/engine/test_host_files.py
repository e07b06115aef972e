"""The helper containers that write and read files on the engine's host
(stackup.engine.docker.hostfiles): one that a killed command left behind is removed by a
later command's first helper, once it is old; a young one (another command's, in its call) is
kept."""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import docker.errors
import pytest

from stackup.engine.docker import hostfiles
from stackup.engine.docker.hostfiles import DockerHostFiles


def _exists(client: docker.DockerClient, container: str) -> bool:
    try:
        client.api.inspect_container(container)
    except docker.errors.NotFound:
        return False
    return True


@pytest.mark.parametrize("stale_after", [0, 3600])
def test_a_helper_left_by_a_killed_command_is_removed_once_it_is_old(
    docker_client: docker.DockerClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stale_after: int,
) -> None:
    made: list[str] = []
    try:
        killed = DockerHostFiles(docker_client.api)
        killed._ensure_image()
        # What a command killed during its archive call leaves: its helper, not removed.
        made.append(killed._create_helper(str(tmp_path)))
        # A later command: its first helper sweeps (the threshold stands in for an hour).
        monkeypatch.setattr(hostfiles, "STALE_HELPER_SECONDS", stale_after)
        later = DockerHostFiles(docker_client.api)
        made.append(later._create_helper(str(tmp_path)))
        assert _exists(docker_client, made[0]) is (stale_after > 0)
        assert _exists(docker_client, made[1])
        # Only its first helper sweeps: one more call lists nothing again.
        made.append(later._create_helper(str(tmp_path)))
        assert _exists(docker_client, made[1])
    finally:
        for container in made:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.api.remove_container(container, force=True)
