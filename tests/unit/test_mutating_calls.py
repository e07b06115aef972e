"""The engine adapters name their mutating methods as data (`MUTATING`), for the crash tests'
wrapper (tests/engine/faulty_stackup.py); the crash hooks themselves stay out of `stackup`."""

from __future__ import annotations

from pathlib import Path

import stackup
from stackup.engine.docker.engine import DockerEngine
from stackup.engine.docker.swarm import DockerSwarm

ENGINE_MUTATING = {
    "create_network",
    "remove_network",
    "connect",
    "disconnect",
    "create_volume",
    "remove_volume",
    "create_container",
    "start_container",
    "stop_container",
    "remove_container",
    "rename_container",
    "kill_container",
    "update_container",
    "write_host_files",
}
SWARM_MUTATING = {
    "create_service",
    "update_service",
    "remove_service",
    "create_object",
    "remove_object",
}


def test_docker_engine_names_its_mutating_methods() -> None:
    assert DockerEngine.MUTATING == ENGINE_MUTATING
    for name in DockerEngine.MUTATING:
        assert callable(getattr(DockerEngine, name)), name


def test_docker_swarm_names_its_own() -> None:
    # The swarm adapter is not an engine: the engine it holds names the engine's calls.
    assert DockerSwarm.MUTATING == SWARM_MUTATING


def test_reads_are_not_mutating() -> None:
    for cls, names in (
        (DockerEngine, ("observe", "inspect_container", "logs", "image_id")),
        (DockerSwarm, ("observe_swarm", "tasks")),
    ):
        for name in names:
            assert hasattr(cls, name), name
            assert name not in cls.MUTATING, name


def test_no_test_hooks_in_the_package() -> None:
    package = Path(stackup.__file__).parent
    for source in sorted(package.rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        assert "STACKUP_TEST_" not in text, source
        assert "os.kill(" not in text, source
