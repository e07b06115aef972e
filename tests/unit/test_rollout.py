"""deploy.update_config on one engine (stackup.planning.rollout), over the in-memory engine:
start-first keeps the old containers untouched until every new one is ready, and removes the
new ones when one is not; stop-first is gated on readiness and runs in batches; a fixed host
port makes start-first impossible and the plan says why."""

from __future__ import annotations

import pytest

import stackup
from stackup.engine.fake import FakeEngine
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.plan import (
    Action,
    CreateContainer,
    Exec,
    Signal,
    Sleep,
    StartContainer,
    StopContainer,
    WaitFor,
)
from stackup.planning.render import plan_json, render_text
from tests.unit.test_api_up import RecordingUI

IMAGES = {"busybox:latest": "sha256:" + "b0" * 32, "nginx:stable": "sha256:" + "c0" * 32}
STACK = """
name: ro
services:
  app:
    image: busybox:latest
    command: ["sleep", "{version}"]
    healthcheck: {{test: ["CMD", "true"], interval: 1s}}
    {ports}
    deploy:
      replicas: {replicas}
      update_config: {{{update}}}
  web:
    image: nginx:stable
    depends_on: [app]
"""


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()


def stack(version: int, update: str, replicas: int = 1, ports: str = "") -> LoadedStack:
    return load_text(STACK.format(version=version, update=update, replicas=replicas, ports=ports))


def deployed(update: str, replicas: int = 1, ports: str = "") -> tuple[FakeEngine, dict[str, str]]:
    engine = FakeEngine(dict(IMAGES))
    result = stackup.up(
        stack(1, update, replicas, ports), engine, stackup.UpRequest(), RecordingUI()
    )
    assert result.outcome.ok
    return engine, ids(engine)


def ids(engine: FakeEngine) -> dict[str, str]:
    return {c.name: c.id for c in engine.observe("ro").containers}


def test_start_first_starts_the_new_one_before_touching_the_old_and_reloads_nginx_twice() -> None:
    update = "order: start-first, monitor: 20s"
    engine, before = deployed(update)
    result = stackup.up(stack(2, update), engine, stackup.UpRequest(), RecordingUI())
    assert result.outcome.ok
    (op,) = result.plan.operations
    assert op.action is Action.RECREATE and op.name == "ro-app-1"
    kinds = [type(s).__name__ for s in op.steps]
    # The old container is stopped only after the new one is ready and nginx was reloaded.
    assert kinds.index("StopContainer") > kinds.index("WaitFor") > kinds.index("StartContainer")
    gate = next(s for s in op.steps if isinstance(s, WaitFor))
    assert (gate.condition, gate.timeout) == ("service_ready", 20.0)
    reloads = [(i, s) for i, s in enumerate(op.steps) if isinstance(s, Signal | Exec)]
    assert [type(s).__name__ for _, s in reloads] == ["Exec", "Signal", "Signal"]  # nginx -t once
    stop = next(i for i, s in enumerate(op.steps) if isinstance(s, StopContainer))
    assert reloads[1][0] < stop < reloads[2][0]
    # Undone before the old one is stopped: the new one removed, and nginx reloaded once more
    # (it may have seen the new address already) only if the failure came at or after its
    # first reload (from its `nginx -t`).
    assert [type(s).__name__ for s in op.restore] == ["RemoveContainer"]
    assert [type(s).__name__ for s in op.restore_late] == ["Signal"]
    assert op.restore_late_from == reloads[0][0]
    assert op.restore_to <= stop
    assert "start-first" in render_text(result.plan) and "reloaded before and after" in render_text(
        result.plan
    )
    assert plan_json(result.plan)["operations"][0]["details"][0].startswith("start-first")  # type: ignore[index]
    after = ids(engine)
    assert after.keys() == before.keys() and after["ro-app-1"] != before["ro-app-1"]
    assert after["ro-web-1"] == before["ro-web-1"]  # reloaded, not recreated


def test_start_first_that_never_gets_healthy_is_removed_and_the_old_one_keeps_running() -> None:
    update = "order: start-first, monitor: 5s"
    engine, before = deployed(update, replicas=2)
    engine.health_on_start["app"] = "unhealthy"
    signals, checks = engine.calls["kill_container"], engine.calls["exec_run"]
    result = stackup.up(stack(2, update, replicas=2), engine, stackup.UpRequest(), RecordingUI())
    assert not result.outcome.ok
    (message,) = result.outcome.failed.values()
    assert "unhealthy" in message and "was left as it was" in message
    assert ids(engine) == before  # the same containers, none stopped, no leftover
    # nginx never loaded the new version's address, so it is not reloaded to forget it: the
    # failure path leaves it alone (it sent a needless HUP before).
    assert (engine.calls["kill_container"], engine.calls["exec_run"]) == (signals, checks)
    assert {c.state for c in engine.observe("ro").containers} == {"running"}


def test_start_first_with_replicas_starts_them_in_batches_with_the_delay_between() -> None:
    update = "order: start-first, parallelism: 2, delay: 3s"
    engine, _ = deployed(update, replicas=3)
    plan = stackup.plan(stack(2, update, replicas=3), engine)
    (op,) = plan.operations
    starts = [s.name for s in op.steps if isinstance(s, StartContainer)]
    assert starts == [
        "ro-app-1_stackup-new",
        "ro-app-2_stackup-new",
        "ro-app-3_stackup-new",
    ]
    sleeps = [s for s in op.steps if isinstance(s, Sleep)]
    assert [s.seconds for s in sleeps] == [3.0, 1.0]  # the delay; nginx's reload settling
    assert op.steps.index(sleeps[0]) > op.steps.index(
        next(s for s in op.steps if isinstance(s, WaitFor))
    )
    assert "replaces ro-app-1, ro-app-2, ro-app-3 together" in op.details


def test_a_fixed_host_port_means_stop_first_and_the_plan_says_why() -> None:
    update = "order: start-first"
    ports = 'ports: ["127.0.0.1:8080:80"]'
    engine, _ = deployed(update, ports=ports)
    plan = stackup.plan(stack(2, update, ports=ports), engine)
    (op,) = plan.operations
    (detail,) = op.details
    assert "start-first is not possible" in detail and "127.0.0.1:8080" in detail
    kinds = [type(s).__name__ for s in op.steps]
    assert kinds.index("StopContainer") < kinds.index("StartContainer")  # stop-first


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("networks: {default: {ipv4_address: 172.30.0.10}}", "172.30.0.10 on network default"),
        ("mac_address: 02:42:ac:11:00:99", "MAC address 02:42:ac:11:00:99"),
    ],
)
def test_a_fixed_address_means_stop_first_and_the_plan_says_why(setting: str, shown: str) -> None:
    from stackup.planning.rollout import rollout_policy

    loaded = stack(2, "order: start-first", ports=setting)
    policy = rollout_policy(loaded.stack.services["app"])
    assert policy is not None and policy.order == "stop-first"
    assert policy.fallback is not None and shown in policy.fallback


def test_stop_first_batches_pause_after_a_failure_and_continue_goes_on() -> None:
    for action, skipped in (("pause", True), ("continue", False)):
        update = f"parallelism: 1, failure_action: {action}"
        engine, before = deployed(update, replicas=2)
        engine.health_on_start["app"] = "unhealthy"
        result = stackup.up(
            stack(2, update, replicas=2), engine, stackup.UpRequest(), RecordingUI()
        )
        first, second = result.plan.operations[:2]
        assert second.after == ((*first.after, first.id) if action == "pause" else first.after)
        assert "container:ro-app-1" in result.outcome.failed
        assert ("container:ro-app-2" in result.outcome.skipped) is skipped
        # Each failed replica was put back: the old containers run, nothing left over.
        assert ids(engine) == before
        assert {c.state for c in engine.observe("ro").containers} == {"running"}


def test_rollback_config_is_named_as_swarms_with_its_place() -> None:
    from stackup.loading.compat import warnings

    text = STACK.format(version=2, update="order: start-first", replicas=1, ports="").replace(
        "      update_config:", "      rollback_config: {parallelism: 1}\n      update_config:"
    )
    loaded = load_text(text)
    (found,) = warnings(loaded.stack, loaded.source)
    assert found.startswith("stack.yaml:11:7: services.app.deploy.rollback_config: ")
    assert "Swarm only" in found
    assert warnings(loaded.stack, loaded.source, swarm=True) == []


def test_without_update_config_the_replacement_is_unchanged() -> None:
    engine = FakeEngine(dict(IMAGES))
    text = STACK.format(version=1, update="", replicas=1, ports="").replace(
        "      update_config: {}\n", ""
    )
    stackup.up(load_text(text), engine, stackup.UpRequest(), RecordingUI())
    plan = stackup.plan(load_text(text.replace('"1"]', '"2"]')), engine)
    (op,) = plan.operations
    assert not op.details and not any(isinstance(s, WaitFor | Sleep) for s in op.steps)
    assert isinstance(op.steps[0], CreateContainer)


def _apply_steps(engine: FakeEngine, steps: tuple[object, ...]) -> None:
    """The steps a killed `up` got through, applied as the executor would."""
    from stackup.planning import plan as P

    for step in steps:
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
            case P.Signal(container, signal):
                engine.kill_container(container, signal)
            case _:  # waits, pauses and checks change nothing
                pass


@pytest.mark.parametrize("done", range(1, 15))
def test_a_start_first_rollout_killed_after_any_step_converges_on_the_next_up(done: int) -> None:
    update = "order: start-first"
    engine, before = deployed(update, replicas=2)
    plan = stackup.plan(stack(2, update, replicas=2), engine)
    (op,) = plan.operations
    # create x2, start x2, wait; nginx -t, HUP, settle; stop x2, HUP, remove x2, rename x2
    assert len(op.steps) == 15
    _apply_steps(engine, op.steps[:done])
    again = stackup.up(stack(2, update, replicas=2), engine, stackup.UpRequest(), RecordingUI())
    assert again.outcome.ok, again.outcome.failed
    containers = {c.name: c for c in engine.observe("ro").containers}
    assert set(containers) == {"ro-app-1", "ro-app-2", "ro-web-1"}  # no leftover
    assert {c.state for c in containers.values()} == {"running"}
    assert stackup.plan(stack(2, update, replicas=2), engine).operations == ()
    assert containers["ro-web-1"].id == before["ro-web-1"]


def test_start_first_over_a_writable_volume_is_warned_about() -> None:
    update = "order: start-first"
    text = STACK.format(version=1, update=update, replicas=1, ports='volumes: ["data:/data"]')
    text += "volumes:\n  data: {}\n"
    engine = FakeEngine(dict(IMAGES))
    assert stackup.up(load_text(text), engine, stackup.UpRequest(), RecordingUI()).outcome.ok
    plan = stackup.plan(load_text(text.replace('"1"]', '"2"]')), engine)
    (warning,) = plan.warnings
    assert "both writing to ro_data" in warning and "stop-first" in warning
