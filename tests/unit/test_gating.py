"""Containers are created before their dependencies start, started after them; a replacement
created early is removed when its dependency fails; leftovers of interrupted recreates that
no container takes over are removed."""

from __future__ import annotations

from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerSpec
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, CreateContainer, Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.teardown import plan_lifecycle
from stackup.targets.engine.execute import ExecuteOptions, execute

CHAIN = """
name: gate
services:
  db:
    image: busybox:latest
    command: ["sleep", "{db}"]
    healthcheck: {{test: "true"}}
  app:
    image: busybox:latest
    command: ["sleep", "{app}"]
    depends_on: {{db: {{condition: service_healthy, restart: true}}}}
"""


def _load(db: str = "1", app: str = "1") -> LoadedStack:
    return load_text(CHAIN.format(db=db, app=app))


def _plan(engine: FakeEngine, loaded: LoadedStack) -> Plan:
    return reconcile(
        loaded.stack,
        build_graph(loaded.stack, loaded.source),
        engine.observe("gate"),
        ReconcileOptions(salt="t"),
    )


class Recording(FakeEngine):
    def __init__(self) -> None:
        super().__init__({"busybox:latest": "sha256:" + "b0" * 32})
        self.log: list[str] = []

    def create_container(self, spec: ContainerSpec) -> str:
        self.log.append(f"create {spec.name}")
        return super().create_container(spec)

    def start_container(self, container: str) -> None:
        self.log.append(f"start {container}")
        super().start_container(container)


def test_dependent_is_created_before_and_started_after_its_dependency() -> None:
    engine = Recording()
    plan = _plan(engine, _load())
    outcome = execute(plan, engine, options=ExecuteOptions(parallel=4))
    assert outcome.ok, outcome
    log = engine.log
    assert log.index("create gate-app-1") < log.index("start gate-db-1")
    assert log.index("start gate-db-1") < log.index("start gate-app-1")


def test_a_failed_dependency_removes_the_early_replacement() -> None:
    engine = Recording()
    assert execute(_plan(engine, _load()), engine).ok
    plan = _plan(engine, _load(db="2", app="2"))  # both recreated; app after db
    assert [op.action for op in plan.operations] == [Action.RECREATE, Action.RECREATE]
    engine.exit_on_start["db"] = 1  # the new db dies: not healthy
    outcome = execute(plan, engine, options=ExecuteOptions(parallel=4, wait_timeout=1))
    assert "container:gate-app-1" in outcome.skipped or "container:gate-app-1" in outcome.failed
    names = sorted(c.name for c in engine.containers.values())
    # The old app is still there, untouched; its early replacement is gone.
    assert "gate-app-1" in names and "gate-app-1_stackup-new" not in names


def test_leftover_replacement_of_a_removed_replica_is_removed() -> None:
    engine = Recording()
    loaded = _load()
    assert execute(_plan(engine, loaded), engine).ok
    # A leftover replacement for a replica the file no longer wants (scaled from 2 to 1).
    app = next(c for c in engine.containers.values() if c.name == "gate-app-1")
    spec = ContainerSpec(
        name="gate-app-2_stackup-new",
        image="busybox:latest",
        service=loaded.stack.services["app"],
        labels={**app.labels, "io.stackup.container-number": "2"},
        environment={},
    )
    engine.create_container(spec)
    plan = _plan(engine, loaded)
    assert [(op.action, op.name) for op in plan.operations] == [
        (Action.REMOVE, "gate-app-2_stackup-new")
    ]
    # stop/start/restart never act on it either.
    lifecycle = plan_lifecycle(engine.observe("gate"), "restart", None, None)
    assert "gate-app-2_stackup-new" not in [op.name for op in lifecycle.operations]


def test_gate_is_right_after_the_create() -> None:
    engine = Recording()
    plan = _plan(engine, _load())
    app = next(op for op in plan.operations if op.name == "gate-app-1")
    assert app.start_after == ("container:gate-db-1",)
    assert isinstance(app.steps[app.gate - 1], CreateContainer)
