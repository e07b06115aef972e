"""`stackup.up`, the use case behind `stackup up`, called as a library (no click) over the
in-memory engine: it plans, reports through the caller's UI, refuses what it must, applies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import stackup
from stackup.api import UpRequest, up
from stackup.engine.fake import FakeEngine
from stackup.errors import PlanError
from stackup.loading.loader import load_text
from stackup.planning.desired import image_key
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, Plan
from stackup.planning.render import plan_json
from stackup.targets.engine.execute import Event

BUSYBOX = "sha256:" + "b0" * 32
STACK = """
name: lib
services:
  db:
    image: busybox:latest
    volumes: [data:/data]
  web:
    image: busybox:latest
    depends_on: [db]
volumes:
  data:
    labels: {{generation: "{gen}"}}
"""


class RecordingUI:
    def __init__(self, *, confirm: bool = False) -> None:
        self.confirm = confirm
        self.seen: list[str] = []
        self.plans: list[Plan] = []
        self.events: list[Event] = []

    def lock_wait(self, message: str) -> None:
        self.seen.append(f"lock: {message}")

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)

    def confirm_data_loss(self, plan: Plan) -> bool:
        self.seen.append("asked")
        return self.confirm

    def confirm_adoption(self, plan: Plan) -> bool:
        self.seen.append("asked to adopt")
        return self.confirm

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[Callable[[Event], None]]:
        yield self.events.append


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()


def test_up_applies_and_a_second_up_has_nothing_to_do() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    ui = RecordingUI()
    result = stackup.up(load_text(STACK.format(gen=1)), engine, stackup.UpRequest(), ui)
    assert result.outcome.ok
    assert {c.name: c.state for c in engine.observe("lib").containers} == {
        "lib-db-1": "running",
        "lib-web-1": "running",
    }
    assert ui.plans == [result.plan] and ui.events  # shown, then progress reported
    again = up(load_text(STACK.format(gen=1)), engine, UpRequest(), RecordingUI())
    assert again.plan.operations == () and again.outcome.done == []


def test_pull_always_pulls_each_image_once_before_any_container_and_says_so() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    ui = RecordingUI()
    always = UpRequest(options=ReconcileOptions(pull="always"))
    result = up(load_text(STACK.format(gen=1)), engine, always, ui)
    assert result.outcome.ok and engine.calls["pull"] == 1
    (shown,) = ui.plans
    pull = shown.operations[0]
    assert (pull.action, pull.name, pull.reason) == (Action.PULL, "busybox:latest", "--pull always")
    # Each container operation that creates a busybox container waits for the pull.
    assert all(
        "pull:busybox:latest" in op.after for op in shown.operations if op.kind == "container"
    )
    ids = [e.op_id for e in ui.events if e.status in ("started", "done")]
    assert ids[:2] == ["pull:busybox:latest", "pull:busybox:latest"]
    assert f"pulled busybox:latest ({BUSYBOX[7:19]})" in [e.message for e in ui.events]


def test_a_missing_image_is_pulled_by_the_plan_and_a_dry_run_pulls_nothing() -> None:
    engine = FakeEngine(registry={"busybox:latest": BUSYBOX})
    loaded = load_text(STACK.format(gen=1))
    dry = up(loaded, engine, UpRequest(dry_run=True), RecordingUI()).plan
    assert [(op.id, op.reason) for op in dry.operations[:1]] == [
        ("pull:busybox:latest", "not present on the engine")
    ]
    assert engine.calls["pull"] == 0 and "busybox:latest" not in engine.images
    assert up(loaded, engine, UpRequest(), RecordingUI()).outcome.ok
    assert engine.calls["pull"] == 1
    assert {c.image_id for c in engine.observe("lib").containers} == {BUSYBOX}
    assert up(loaded, engine, UpRequest(), RecordingUI()).plan.operations == ()


def test_a_pull_that_moves_a_tag_recreates_its_containers_with_that_reason() -> None:
    moved = "sha256:" + "b1" * 32
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(STACK.format(gen=1))
    assert up(loaded, engine, UpRequest(), RecordingUI()).outcome.ok
    before = {c.name: c.id for c in engine.observe("lib").containers}
    engine.registry["busybox:latest"] = moved
    result = up(loaded, engine, UpRequest(options=ReconcileOptions(pull="always")), RecordingUI())
    assert result.outcome.ok
    recreated = [op for op in result.plan.operations if op.action == Action.RECREATE]
    assert sorted(op.name for op in recreated) == sorted(before)
    assert all("now resolves to b1b1b1b1b1b1 (was b0b0b0b0b0b0)" in op.reason for op in recreated)
    after = {c.name: (c.id, c.image_id) for c in engine.observe("lib").containers}
    assert all(after[n][0] != before[n] and after[n][1] == moved for n in before)


def test_a_failed_pull_starts_no_container() -> None:
    engine = FakeEngine()  # nothing local, nothing in the registry
    result = up(load_text(STACK.format(gen=1)), engine, UpRequest(), RecordingUI())
    assert result.outcome.failed == {"pull:busybox:latest": "pull access denied for busybox:latest"}
    assert result.outcome.skipped and engine.containers == {}


def test_data_loss_is_refused_unless_the_ui_confirms() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    assert up(load_text(STACK.format(gen=1)), engine, UpRequest(), RecordingUI()).outcome.ok
    before = {c.name: c.id for c in engine.observe("lib").containers}
    changed = load_text(STACK.format(gen=2))  # a changed volume is recreated: its data goes
    ui = RecordingUI(confirm=False)
    with pytest.raises(PlanError, match="deletes the data in lib_data"):
        up(changed, engine, UpRequest(), ui)
    assert "asked" in ui.seen
    assert {c.name: c.id for c in engine.observe("lib").containers} == before
    result = up(changed, engine, UpRequest(), RecordingUI(confirm=True))
    assert result.outcome.ok
    assert [op.action for op in result.plan.destroys_data] == [Action.RECREATE]


def test_a_saved_plan_that_is_no_longer_current_is_refused() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(STACK.format(gen=1))
    saved = plan_json(up(loaded, engine, UpRequest(dry_run=True), RecordingUI()).plan)
    assert engine.observe("lib").containers == ()  # a dry run applies nothing
    up(loaded, engine, UpRequest(options=ReconcileOptions(services=("db",))), RecordingUI())
    with pytest.raises(PlanError, match=r"since the plan in plan\.json was made"):
        up(loaded, engine, UpRequest(saved_plan=saved, saved_plan_file="plan.json"), RecordingUI())


def test_down_removes_containers_and_networks_and_keeps_volumes_unless_asked() -> None:
    from stackup.api import DownRequest, down

    engine = FakeEngine({"busybox:latest": BUSYBOX})
    assert up(load_text(STACK.format(gen=1)), engine, UpRequest(), RecordingUI()).outcome.ok
    ui = RecordingUI()
    result = down("lib", engine, DownRequest(services=frozenset({"db", "web"})), ui)
    assert result.outcome.ok and ui.plans == [result.plan]
    observed = engine.observe("lib")
    assert observed.containers == () and not observed.networks
    assert list(observed.volumes) == ["lib_data"]  # named volumes survive down
    down("lib", engine, DownRequest(volumes=True), RecordingUI())
    assert not engine.observe("lib").volumes


ADOPT = """
name: lib
services:
  web:
    image: busybox:latest
    container_name: web
    volumes: [/cache]
"""


def test_adopt_replaces_a_docker_run_container_and_keeps_its_anonymous_volume() -> None:
    from stackup.engine.interface import ContainerSpec, MountSpec
    from stackup.model.spec import Service

    engine = FakeEngine({"busybox:latest": BUSYBOX})
    # What `docker run -d --name web -v /cache busybox` leaves: no label of ours.
    engine.create_container(
        ContainerSpec(
            name="web",
            image="busybox:latest",
            service=Service.model_validate({"image": "busybox:latest"}),
            labels={},
            environment={},
            mounts=(MountSpec(type="volume", target="/cache"),),
        )
    )
    engine.start_container("web")
    (old,) = engine.unmanaged_containers(["web", "other"])
    (cache,) = [m.name for m in old.mounts if m.destination == "/cache"]
    loaded = load_text(ADOPT)

    # Without --adopt the plan does not know it; with it, it is shown and must be confirmed.
    refused = RecordingUI(confirm=False)
    with pytest.raises(PlanError, match="replaces web, made outside stackup"):
        up(loaded, engine, UpRequest(adopt=True), refused)
    (adoption,) = refused.plans[0].adoptions
    assert adoption.adopts == "web" and "adopting web" in adoption.reason
    assert engine.unmanaged_containers(["web"]) == (old,)  # nothing was touched

    result = up(loaded, engine, UpRequest(adopt=True), RecordingUI(confirm=True))
    assert result.outcome.ok
    (now,) = engine.observe("lib").containers
    assert now.name == "web" and now.id != old.id and now.state == "running"
    assert [m.name for m in now.mounts if m.destination == "/cache"] == [cache]
    assert engine.unmanaged_containers(["web"]) == ()
    assert up(loaded, engine, UpRequest(adopt=True), RecordingUI()).plan.operations == ()


@pytest.mark.parametrize("done", range(1, 6))
def test_an_interrupted_adoption_converges_on_the_next_up(done: int) -> None:
    """Killed after any step of the adoption (create, stop, start, remove, rename), one more
    `up --adopt --yes` converges, a published port included, and the old container's
    anonymous volume is the one the managed container mounts."""
    import dataclasses

    from stackup.engine.interface import ContainerSpec, MountSpec
    from stackup.model.spec import Service
    from stackup.planning import plan as P
    from stackup.targets.engine.execute import ExecuteOptions, execute

    port = ["127.0.0.1:18090:80"]
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    engine.create_container(
        ContainerSpec(
            name="web",
            image="busybox:latest",
            service=Service.model_validate({"image": "busybox:latest", "ports": port}),
            labels={},
            environment={},
            mounts=(MountSpec(type="volume", target="/cache"),),
        )
    )
    engine.start_container("web")
    (cache,) = [m.name for m in engine.unmanaged_containers(["web"])[0].mounts]
    loaded = load_text(ADOPT + '    ports: ["127.0.0.1:18090:80"]\n')
    plan = up(loaded, engine, UpRequest(adopt=True, dry_run=True), RecordingUI()).plan
    (adoption,) = plan.adoptions
    rest = dataclasses.replace(plan, operations=tuple(o for o in plan.operations if not o.adopts))
    assert execute(rest, engine, options=ExecuteOptions(allow_data_loss=True)).ok
    for step in adoption.steps[:done]:  # the steps a killed `up` got through
        match step:
            case P.CreateContainer(spec):
                engine.create_container(spec)
            case P.StopContainer(name):
                engine.stop_container(name)
            case P.StartContainer(name):
                engine.start_container(name)
            case P.RemoveContainer(name):
                engine.remove_container(name)
            case P.RenameContainer(name, new_name):
                engine.rename_container(name, new_name)
    again = up(loaded, engine, UpRequest(adopt=True), RecordingUI(confirm=True))
    assert again.outcome.ok, again.outcome.failed
    (now,) = engine.observe("lib").containers
    assert now.name == "web" and now.state == "running"
    assert [m.name for m in now.mounts] == [cache]
    assert engine.unmanaged_containers(["web"]) == ()
    assert up(loaded, engine, UpRequest(adopt=True), RecordingUI()).plan.operations == ()


class BuildingEngine(FakeEngine):
    """The in-memory engine with a builder: a build prints two lines and tags an image."""

    def build_image(self, build: object, tag: str) -> Iterator[str]:
        yield "Step 1/1 : FROM busybox"
        yield f"Successfully tagged {tag}"
        self.set_image(image_key(tag), "sha256:" + "bd" * 32)  # as the engine tags it


def test_a_missing_build_image_is_built_by_the_plan_with_its_output_as_events(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "app").mkdir()
    text = f"name: lib\nservices:\n  app:\n    build: {tmp_path / 'app'}\n"
    engine = BuildingEngine()
    ui = RecordingUI()
    result = up(load_text(text), engine, UpRequest(), ui)
    assert result.outcome.ok
    build, *rest = ui.plans[0].operations
    assert (build.id, build.action, build.name) == ("build:app", Action.BUILD, "lib-app")
    assert build.reason == "image lib-app does not exist yet"
    assert [op.after[0] for op in rest if op.kind == "container"] == ["build:app"]
    output = [e.message for e in ui.events if e.status == "output"]
    assert output == ["Step 1/1 : FROM busybox", "Successfully tagged lib-app"]
    (container,) = engine.observe("lib").containers
    assert container.image_id == "sha256:" + "bd" * 32
    assert up(load_text(text), engine, UpRequest(), RecordingUI()).plan.operations == ()


def test_a_build_context_that_is_not_a_directory_is_refused_before_anything_runs(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    from stackup.errors import UsageError

    engine = BuildingEngine()
    text = f"name: lib\nservices:\n  app:\n    build: {tmp_path / 'missing'}\n"
    with pytest.raises(UsageError, match="is not a directory"):
        up(load_text(text), engine, UpRequest(), RecordingUI())
    assert engine.images == {} and engine.containers == {}


def test_data_loss_is_asked_about_once_when_images_are_pulled_first() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    assert up(load_text(STACK.format(gen=1)), engine, UpRequest(), RecordingUI()).outcome.ok
    ui = RecordingUI(confirm=True)
    always = UpRequest(options=ReconcileOptions(pull="always"))
    result = up(load_text(STACK.format(gen=2)), engine, always, ui)
    assert result.outcome.ok and ui.seen.count("asked") == 1
    assert [op.action for op in result.plan.destroys_data] == [Action.RECREATE]


def test_a_saved_plan_that_a_pull_changes_stops_after_the_pull() -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(STACK.format(gen=1))
    assert up(loaded, engine, UpRequest(), RecordingUI()).outcome.ok
    always = ReconcileOptions(pull="always")
    saved = plan_json(
        up(loaded, engine, UpRequest(options=always, dry_run=True), RecordingUI()).plan
    )
    assert [o["id"] for o in saved["operations"]] == ["pull:busybox:latest"]  # nothing else, yet
    engine.registry["busybox:latest"] = "sha256:" + "b1" * 32  # the tag moves in the registry
    before = {c.name: c.id for c in engine.observe("lib").containers}
    request = UpRequest(options=always, saved_plan=saved, saved_plan_file="plan.json")
    with pytest.raises(PlanError, match=r"the images changed the plan saved in plan\.json"):
        up(loaded, engine, request, RecordingUI())
    assert {c.name: c.id for c in engine.observe("lib").containers} == before


def test_a_service_that_pulls_and_builds_its_image_builds_after_the_pull(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "app").mkdir()
    text = f"name: lib\nservices:\n  app:\n    image: lib/app:1\n    build: {tmp_path / 'app'}\n"
    engine = BuildingEngine(registry={"lib/app:1": "sha256:" + "a1" * 32})
    plan = up(
        load_text(text),
        engine,
        UpRequest(options=ReconcileOptions(pull="always"), dry_run=True),
        RecordingUI(),
    ).plan
    build, pull = plan.operations[:2]
    assert (build.id, pull.id) == ("build:app", "pull:lib/app:1")
    assert build.after == ("pull:lib/app:1",)


def test_an_image_one_service_builds_and_another_runs_is_built_once_and_never_pulled(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "app").mkdir()
    text = (
        "name: lib\nservices:\n"
        f"  migrate:\n    build: {tmp_path / 'app'}\n    image: local/app:dev\n"
        "  app:\n    image: local/app:dev\n"
    )
    engine = BuildingEngine()  # an empty registry: a pull of local/app:dev would fail
    ui = RecordingUI()
    result = up(load_text(text), engine, UpRequest(), ui)
    assert result.outcome.ok, result.outcome.failed
    images = [op for op in ui.plans[0].operations if op.kind == "image"]
    assert [(op.id, op.action) for op in images] == [("build:migrate", Action.BUILD)]
    containers = [op for op in ui.plans[0].operations if op.kind == "container"]
    assert sorted(op.service for op in containers) == ["app", "migrate"]
    assert all("build:migrate" in op.after for op in containers)
    built = "sha256:" + "bd" * 32
    assert {c.service: c.image_id for c in engine.observe("lib").containers} == {
        "app": built,
        "migrate": built,
    }
    # `up app` alone still builds it (with migrate's build section), never pulls it.
    alone = up(
        load_text(text),
        BuildingEngine(),
        UpRequest(options=ReconcileOptions(services=("app",)), dry_run=True),
        RecordingUI(),
    )
    assert [op.id for op in alone.plan.operations if op.kind == "image"] == ["build:migrate"]
