"""`stackup run` is one plan: the dependencies as `up` would bring them up, the service's
missing network, then the one-off container, created and started after all of it."""

from __future__ import annotations

import pytest

from stackup.engine.fake import FakeEngine
from stackup.loading.loader import load_text
from stackup.model import labels as L
from stackup.planning.plan import Action, CreateContainer, StartContainer
from stackup.targets.engine.execute import execute
from stackup.targets.engine.oneoff import oneoff_plan

BUSYBOX = "sha256:" + "b0" * 32
STACK = """
name: job
services:
  db:
    image: busybox:latest
  migrate:
    image: busybox:latest
    depends_on: [db]
    ports: ["127.0.0.1:9000:9000"]
"""


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_the_one_off_plan_brings_up_dependencies_then_runs_the_container() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(STACK)
    plan, name = oneoff_plan(
        loaded,
        engine,
        "migrate",
        ["echo", "hi"],
        with_dependencies=True,
        environment={"STEP": "1"},
        name="job-migrate-run-1",
    )
    assert name == "job-migrate-run-1"
    *before, run = plan.operations
    assert sorted(op.id for op in before) == ["container:job-db-1", "network:job_default"]
    assert run.after == ("container:job-db-1", "network:job_default")
    assert (run.action, run.reason) == (Action.CREATE, "one-off run of migrate")
    create, start = run.steps
    assert isinstance(create, CreateContainer) and isinstance(start, StartContainer)
    assert list(create.spec.service.command or ()) == ["echo", "hi"]
    assert create.spec.service.ports == []  # a one-off publishes nothing (Compose's default)
    assert create.spec.environment["STEP"] == "1"
    assert create.spec.labels[L.ONEOFF] == "true"
    assert execute(plan, engine).ok
    states = {c.name: c.state for c in engine.observe("job").containers}
    assert states["job-db-1"] == "running" and "job-migrate-run-1" in states
    # Without dependencies: only the network it needs (present now) and the container.
    alone, _ = oneoff_plan(
        loaded, engine, "migrate", None, with_dependencies=False, environment={}, name="x"
    )
    assert [op.id for op in alone.operations] == ["container:x"]


def test_a_one_off_gets_the_salt_its_dependencies_get_so_up_changes_nothing_after_it() -> None:
    from stackup import api
    from stackup.targets.engine.oneoff import run_oneoff

    # The one-off's name (job-app-run-…) sorts before job-db-1: its salt is read back first.
    text = (
        "name: job\nservices:\n  db:\n    image: busybox:latest\n    secrets: [pw]\n"
        "  app:\n    image: busybox:latest\n    depends_on: [db]\n"
        "secrets:\n  pw:\n    environment: PW\n"
    )
    loaded = load_text(text)
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    code = run_oneoff(
        loaded,
        engine,
        "app",
        ["true"],
        remove=False,
        with_dependencies=True,
        environment={},
        name=None,
        on_output=lambda data: None,
        on_message=lambda message: None,
    )
    assert code == 0
    plan = api.plan(loaded, engine)
    assert [op.id for op in plan.operations] == ["container:job-app-1"]  # db untouched


def test_run_rm_removes_a_container_that_cannot_start_and_never_another_of_its_name() -> None:
    from stackup.errors import ApplyError
    from stackup.targets.engine.oneoff import run_oneoff

    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(STACK)
    plan, _ = oneoff_plan(
        loaded,
        engine,
        "migrate",
        None,
        with_dependencies=False,
        environment={},
        name="taken",
        remove=True,
    )
    (op,) = [op for op in plan.operations if op.id == "container:taken"]
    assert [type(s).__name__ for s in op.restore] == ["RemoveContainer"]
    assert (op.restore_from, op.restore_to) == (1, 2)  # only a failed start
    # A name another container holds: create fails, and that container is left alone.
    execute(plan, engine)
    before = {c.name: c.id for c in engine.observe("job").containers}
    with pytest.raises(ApplyError):
        run_oneoff(
            loaded,
            engine,
            "migrate",
            None,
            remove=True,
            with_dependencies=False,
            environment={},
            name="taken",
            on_output=lambda d: None,
            on_message=lambda m: None,
        )
    assert {c.name: c.id for c in engine.observe("job").containers} == before
