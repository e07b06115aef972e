"""The contract suite's fixture: every scenario runs once on each engine.

``engine`` is parametrised: ``fake`` gives a fresh `FakeEngine` knowing the busybox tags the
scenarios use; ``docker`` gives a `DockerEngine` on the engine the docker CLI would use. Each
comes with a fresh project name (``sut-<8 hex>``), so scenarios on the real engine never see
each other's resources; afterwards, pass or fail, everything labelled with that project is
removed (the ``project_name`` fixture of tests/engine does it).

The ``docker`` variant carries the ``engine`` marker, so tests/conftest.py counts it with the
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

# The engine tests' fixtures: a docker client that skips when no engine answers, and a
# project name whose resources are removed by label afterwards.
from tests.engine.conftest import docker_client, project_name

__all__ = ["Subject", "docker_client", "engine", "project_name"]

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

    kind: str  # "fake" or "docker"
    engine: FakeEngine | DockerEngine
    project: str


@pytest.fixture(scope="session")
def docker_engine(docker_client: object) -> Iterator[DockerEngine]:
    eng = DockerEngine.from_env()
    yield eng
    eng.close()


@pytest.fixture(
    params=[
        pytest.param("fake", id="fake"),
        pytest.param("docker", id="docker", marks=pytest.mark.engine),
    ]
)
def engine(request: pytest.FixtureRequest) -> Subject:
    if request.param == "fake":
        return Subject("fake", FakeEngine(FAKE_IMAGES), f"sut-{secrets.token_hex(4)}")
    # Asked for here, not as arguments, so the fake variant runs without an engine.
    real: DockerEngine = request.getfixturevalue("docker_engine")
    project: str = request.getfixturevalue("project_name")
    return Subject("docker", real, project)
