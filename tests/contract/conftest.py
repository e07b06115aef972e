"""The contract suite's fixture: every scenario runs once on each engine.

``engine`` is parametrised: ``fake`` gives a fresh `FakeEngine` knowing the busybox tags the
scenarios use; ``docker`` gives a `DockerEngine` on the engine the docker CLI would use. Each
comes with a fresh project name (``sut-<8 hex>``), so scenarios on the real engine never see
each other's resources; afterwards, pass or fail, everything labelled with that project is
removed (the ``project_name`` fixture of tests/engine does it).

The ``podman`` variant runs them on Podman's Docker-compatible API (a `PodmanEngine`, as
stackup connects to it), opt-in like the Podman engine tests (``STACKUP_PODMAN_TESTS=1``;
skipped by choice otherwise); the scenarios that do not hold there are marked in
``PODMAN_DIFFERENCES`` (docs/podman.md lists the same).

The ``docker`` and ``podman`` variants carry the ``engine`` marker, so tests/conftest.py counts it with the
engine tests and ``STACKUP_REQUIRE_ENGINE=1`` turns its skip (no engine answers) into a
failure. The ``fake`` variant never needs an engine.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stackup.engine.docker.engine import DockerEngine
from stackup.engine.fake import FakeEngine
from stackup.engine.podman.engine import PodmanEngine, connect_engine

# The engine tests' fixtures: a docker client that skips when no engine answers, and a
# project name whose resources are removed by label afterwards.
from tests.engine.conftest import Podman, docker_client, podman, podman_project, project_name

__all__ = ["Subject", "docker_client", "engine", "podman", "podman_project", "project_name"]

# The fake's image table: the tags the scenarios use, as `docker images` lists them (one ID
# for the tags of one image). The real engine answers with its own IDs; scenarios compare a
# container's image ID with the engine's table, never with a constant.
FAKE_BUSYBOX_ID = "sha256:" + "b0" * 32
FAKE_IMAGES = {
    "busybox:latest": FAKE_BUSYBOX_ID,
    "busybox": FAKE_BUSYBOX_ID,
    "busybox:stable": FAKE_BUSYBOX_ID,
}


@dataclass(frozen=True)
class Subject:
    """One engine under contract, with the project name a scenario creates things under."""

    kind: str  # "fake", "docker" or "podman"
    engine: FakeEngine | DockerEngine
    project: str


@pytest.fixture(scope="session")
def docker_engine(docker_client: object) -> Iterator[DockerEngine]:
    eng = DockerEngine.from_env()
    yield eng
    eng.close()


# The scenarios that do not hold on Podman (4.3): each with Podman's behaviour and what the
# user sees of it. At most five; docs/podman.md reproduces this list.
PODMAN_DIFFERENCES = {
    "test_update_container_changes_the_live_config": (
        "Podman 4.3 has no POST /containers/{id}/update (libpod's update leaves inspect as it "
        "was); plans recreate instead: '-/+ container … (changed: mem_limit; Podman 4.3 cannot "
        "update a running container; recreating)'"
    ),
    "test_a_limit_changed_in_the_file_or_by_hand_is_updated_in_place": (
        "Podman 4.3 cannot update in place, and a limit changed by hand (libpod's update) does "
        "not show in inspect; a change in the file recreates: '-/+ container … (changed: "
        "mem_limit; Podman 4.3 cannot update a running container; recreating)'"
    ),
}


@pytest.fixture(scope="session")
def podman_engine(podman: Podman) -> Iterator[PodmanEngine]:
    """The engine stackup makes of Podman's socket (recognised by its version endpoint)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DOCKER_HOST", podman.host)
        eng = connect_engine()
    assert isinstance(eng, PodmanEngine)
    yield eng
    eng.close()


@pytest.fixture(
    params=[
        pytest.param("fake", id="fake"),
        pytest.param("docker", id="docker", marks=pytest.mark.engine),
        pytest.param("podman", id="podman", marks=pytest.mark.engine),
    ]
)
def engine(request: pytest.FixtureRequest) -> Subject:
    if request.param == "fake":
        return Subject("fake", FakeEngine(FAKE_IMAGES), f"sut-{secrets.token_hex(4)}")
    if request.param == "podman":
        difference = PODMAN_DIFFERENCES.get(request.function.__name__)
        if difference is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=difference))
        on_podman: PodmanEngine = request.getfixturevalue("podman_engine")
        return Subject("podman", on_podman, request.getfixturevalue("podman_project"))
    # Asked for here, not as arguments, so the fake variant runs without an engine.
    real: DockerEngine = request.getfixturevalue("docker_engine")
    project: str = request.getfixturevalue("project_name")
    return Subject("docker", real, project)
