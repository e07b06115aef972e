"""The swarm plan's steps are data; `SwarmSteps` carries them out over a swarm engine, and the
plan runner hands it every step (a plan for another target run by the engine's interpreter
fails)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stackup.engine.fake import FakeEngine
from stackup.engine.swarm_interface import Convergence
from stackup.errors import ApplyError
from stackup.planning.plan import Action, Kind, Operation, Plan
from stackup.runner import run
from stackup.targets.engine.execute import execute
from stackup.targets.swarm.runner import SwarmSteps
from stackup.targets.swarm.steps import PushImage, RemoveService, WaitConverged, WaitServiceGone


class RecordingSwarm:
    """The part of the swarm engine the runner calls, recording each call."""

    def __init__(self, looks: list[Convergence]) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.looks = looks
        self.gone_after = 2
        self.engine = self  # the manager's own engine (networks, builds): the same recorder

    def remove_service(self, name: str) -> None:
        self.calls.append(("remove_service", name))

    def service_gone(self, name: str) -> bool:
        self.gone_after -= 1
        return self.gone_after <= 0

    def convergence(self, step: WaitConverged) -> Convergence:
        return self.looks.pop(0)


def _wait(timeout: float = 5.0) -> WaitConverged:
    return WaitConverged("web", "demo_web", "h", 2, None, timeout=timeout, poll=0.001)


def test_the_runner_removes_waits_and_reports_progress_once_per_change() -> None:
    swarm = RecordingSwarm(
        [
            Convergence(progress="1/2 running"),
            Convergence(progress="1/2 running"),
            Convergence(progress="2/2 running"),
            Convergence(done=True),
        ]
    )
    runner, said = SwarmSteps(swarm, swarm), []  # type: ignore[arg-type]
    cancel = threading.Event()
    runner(RemoveService("demo_web"), said.append, cancel)
    runner(WaitServiceGone("demo_web", poll=0.001), said.append, cancel)
    runner(_wait(), said.append, cancel)
    assert swarm.calls == [("remove_service", "demo_web")]
    assert said == [
        "waiting for the tasks of demo_web to stop",
        "web: 1/2 running",
        "web: 2/2 running",
    ]


def test_a_rolled_back_update_fails_the_step_with_why() -> None:
    swarm = RecordingSwarm([Convergence(failed="the update rolled back: task exited (1)")])
    with pytest.raises(ApplyError, match="service web: the update rolled back: task exited"):
        SwarmSteps(swarm, swarm)(_wait(), lambda m: None, threading.Event())  # type: ignore[arg-type]


def test_the_runner_hands_each_step_to_the_interpreter_it_is_given() -> None:
    op = Operation(
        id="service:demo_web",
        action=Action.REMOVE,
        kind=Kind.SERVICE,
        name="demo_web",
        reason="orphan",
        steps=(RemoveService("demo_web"),),
    )
    plan = Plan(project="demo", operations=(op,))
    swarm = RecordingSwarm([])
    assert run(plan, SwarmSteps(swarm, swarm)).ok  # type: ignore[arg-type]
    assert swarm.calls == [("remove_service", "demo_web")]
    without = execute(plan, FakeEngine())
    assert "this plan is for another target" in without.failed["service:demo_web"]


def test_pushes_only_what_the_registry_lacks_and_knows_the_digest_of_the_rest() -> None:
    from stackup.loading.loader import load_text
    from stackup.planning.plan import Action
    from stackup.targets.swarm.images import pushes, repository

    loaded = load_text(
        "name: demo\nx-stackup:\n  registry: 127.0.0.1:5000\nservices:\n"
        "  a: {image: 'app:v1'}\n  b: {image: 'app:v1'}\n  c: {image: 'db:2'}\n"
        "  d: {image: 'gone:1'}\n  e: {image: 'other.example:5000/x:1'}\n"
    )
    local = {
        "app:v1": ("sha256:aa", ()),  # here, never pushed: pushed once for a and b
        "db:2": ("sha256:db", ("127.0.0.1:5000/db@sha256:d1",)),  # pushed as it is
        "gone:1": None,  # not here: the nodes pull it as named
        "other.example:5000/x:1": ("sha256:xx", ("other.example:5000/x@sha256:x1",)),
    }
    ops, digests = pushes(loaded.stack, ["a", "b", "c", "d", "e"], "127.0.0.1:5000", local)
    assert [(op.id, op.action, op.steps) for op in ops] == [
        (
            "push:127.0.0.1:5000/app:v1",
            Action.PUSH,
            (PushImage("app:v1", "127.0.0.1:5000/app:v1"),),
        )
    ]
    assert digests == {"127.0.0.1:5000/db:2": "sha256:d1", "other.example:5000/x:1": "sha256:x1"}
    assert pushes(loaded.stack, ["a"], None, local) == ([], {})
    assert repository("127.0.0.1:5000/app:v1") == "127.0.0.1:5000/app"
    assert repository("127.0.0.1:5000/app") == "127.0.0.1:5000/app"


def test_the_runner_tags_then_pushes() -> None:
    calls: list[tuple[str, ...]] = []

    class Registry(RecordingSwarm):
        def tag_image(self, image: str, target: str) -> None:
            calls.append(("tag", image, target))

        def push(self, image: str) -> str:
            calls.append(("push", image))
            return "sha256:" + "ab" * 32

    said: list[str] = []
    SwarmSteps(Registry([]), Registry([]))(  # type: ignore[arg-type]
        PushImage("app:v1", "127.0.0.1:5000/app:v1"), said.append, threading.Event()
    )
    assert calls == [("tag", "app:v1", "127.0.0.1:5000/app:v1"), ("push", "127.0.0.1:5000/app:v1")]
    assert said[-1] == "pushed 127.0.0.1:5000/app:v1 (abababababab)"


def test_a_swarm_plan_builds_then_pushes_the_built_image_then_deploys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stackup.engine.swarm_interface import SwarmObserved
    from stackup.loading.loader import load_text
    from stackup.planning.options import ReconcileOptions
    from stackup.targets.swarm.target import SwarmTarget

    class Swarm(RecordingSwarm):
        def engine_id(self) -> str:
            return "swarm"

        def local_image(self, image: str) -> tuple[str, tuple[str, ...]] | None:
            # Pushed before, as it was then: a rebuild must push again all the same.
            return ("sha256:old", ("127.0.0.1:5000/app@sha256:" + "0" * 64,))

        def observe_swarm(self, project: str) -> SwarmObserved:
            return SwarmObserved(project)

    (tmp_path / "app").mkdir()
    loaded = load_text(
        "name: demo\nx-stackup:\n  registry: 127.0.0.1:5000\nservices:\n"
        f"  app:\n    image: app:v1\n    build: {tmp_path / 'app'}\n"
    )
    target = SwarmTarget(Swarm([]))  # type: ignore[arg-type]
    plan = target.plan(loaded, ReconcileOptions(build=True))
    build, push, *services = plan.operations
    assert (build.id, push.id) == ("build:app", "push:127.0.0.1:5000/app:v1")
    assert push.after == ("build:app",)  # never the old bytes
    assert [op.id for op in services] == ["network:demo_default", "service:demo_app"]
    again = target.plan(loaded, ReconcileOptions(pull=None))  # after the image stage
    assert [op.id for op in again.operations] == ["network:demo_default", "service:demo_app"]
