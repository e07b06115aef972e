"""The four settings `docker update` changes are compared with the live container, not the
applied-spec label (which keeps the values the container was created with)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import stackup.api as api
from stackup.engine.fake import FakeEngine
from stackup.engine.interface import ContainerSpec
from stackup.errors import ApplyError
from stackup.loading.loader import LoadedStack, load_text
from stackup.model.spec import Service
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, FieldChange, Plan, UpdateContainer
from stackup.targets.engine.preflight import check

BUSYBOX = "sha256:" + "b0" * 32
MIB = 1 << 20

STACK = """
name: drift
services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    mem_limit: {mem}
    restart: "no"
"""


def _load(tmp_path: Path, mem: str) -> LoadedStack:
    return load_text(textwrap.dedent(STACK.format(mem=mem)), working_dir=tmp_path)


def _plan(engine: FakeEngine, loaded: LoadedStack) -> Plan:
    return api.plan(loaded, engine, ReconcileOptions(salt="test"))


def _up(engine: FakeEngine, loaded: LoadedStack) -> Plan:
    plan = _plan(engine, loaded)
    assert api.apply(plan, engine).ok
    return plan


def _only(plan: Plan) -> tuple[Action, tuple[FieldChange, ...]]:
    assert len(plan.operations) == 1, plan.operations
    op = plan.operations[0]
    return op.action, op.fields


def _live_memory(engine: FakeEngine) -> int:
    (c,) = engine.containers.values()
    return c.live.memory


def test_reverting_an_applied_update_is_drift(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    _up(engine, _load(tmp_path, "128m"))
    first_id = next(iter(engine.containers))

    raised = _up(engine, _load(tmp_path, "192m"))
    assert _only(raised) == (
        Action.UPDATE,
        (FieldChange("mem_limit", 128 * MIB, 192 * MIB),),
    )
    assert _live_memory(engine) == 192 * MIB

    # The label still says 128m (the creation spec), the container runs 192m.
    reverted = _load(tmp_path, "128m")
    action, fields = _only(_plan(engine, reverted))
    assert action is Action.UPDATE
    assert fields == (FieldChange("mem_limit", 192 * MIB, 128 * MIB),)
    op = _plan(engine, reverted).operations[0]
    assert any(isinstance(s, UpdateContainer) for s in op.steps)

    _up(engine, reverted)
    assert _live_memory(engine) == 128 * MIB
    assert list(engine.containers) == [first_id]  # in place, never recreated
    assert not _plan(engine, reverted).changes


def test_docker_update_by_hand_is_drift(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = _load(tmp_path, "128m")
    _up(engine, loaded)
    (c,) = engine.containers.values()
    c.live = dataclasses.replace(c.live, memory=192 * MIB, restart="always", pids_limit=50)

    action, fields = _only(_plan(engine, loaded))
    assert action is Action.UPDATE
    assert set(fields) == {
        FieldChange("mem_limit", 192 * MIB, 128 * MIB),
        FieldChange("restart", "always", "no"),
        FieldChange("pids_limit", 50, None),  # a pids limit can be lifted in place
    }
    _up(engine, loaded)
    assert c.live == dataclasses.replace(c.live, memory=128 * MIB, restart="no", pids_limit=None)
    assert not _plan(engine, loaded).changes


def test_a_limit_added_by_hand_recreates(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = _load(tmp_path, "128m")
    _up(engine, loaded)
    (c,) = engine.containers.values()
    # The engine cannot take a CPU limit away in place: removing it recreates.
    c.live = dataclasses.replace(c.live, nano_cpus=500_000_000)

    plan = _plan(engine, loaded)
    action, fields = _only(plan)
    assert action is Action.RECREATE
    assert fields == (FieldChange("cpus", "0.5", None),)
    assert "cpus" in plan.operations[0].reason
    _up(engine, loaded)
    assert not _plan(engine, loaded).changes


def test_live_settings_are_read_in_one_engine_call(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    loaded = load_text(
        textwrap.dedent(
            """
            name: many
            services:
              app:
                image: busybox:latest
                scale: 5
            """
        ),
        working_dir=tmp_path,
    )
    _up(engine, loaded)
    engine.calls.clear()
    assert not _plan(engine, loaded).changes
    assert engine.calls["observe"] == 1
    assert engine.calls["live_configs"] == 1
    assert engine.calls["live_config"] == 0


WEB = """
name: ports
services:
  web:
    image: busybox:latest
    ports: ["127.0.0.1:{port}:80"]
"""


def test_recreate_onto_a_taken_port_restores_the_old_container(tmp_path: Path) -> None:
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    first = load_text(textwrap.dedent(WEB.format(port=18080)), working_dir=tmp_path)
    _up(engine, first)
    (old_id,) = engine.containers
    holder = Service.model_validate({"image": "busybox:latest", "ports": ["127.0.0.1:18081:80"]})
    engine.start_container(
        engine.create_container(
            ContainerSpec("holder", "busybox:latest", holder, labels={}, environment={})
        )
    )

    moved = load_text(textwrap.dedent(WEB.format(port=18081)), working_dir=tmp_path)
    plan = _plan(engine, moved)
    with pytest.raises(
        ApplyError, match=r"127\.0\.0\.1:18081/tcp .* in use by container holder"
    ) as taken:
        check(plan, engine, moved.stack)
    # `holder` was run by hand: the hint says how to take it over, and that it goes by name.
    hint = taken.value.hint or ""
    assert "`stackup import container holder`" in hint and "`stackup up --adopt`" in hint, hint
    assert "`container_name: holder`" in hint, hint

    outcome = api.apply(plan, engine)  # as if the check had not seen it
    assert not outcome.ok
    [message] = outcome.failed.values()
    assert "18081" in message and "ports-web-1 was left as it was" in message
    assert engine.containers[old_id].state == "running"
    assert sorted(c.name for c in engine.containers.values()) == ["holder", "ports-web-1"]

    engine.remove_container("holder")
    _up(engine, moved)
    assert not _plan(engine, moved).changes


def test_an_engine_without_in_place_update_recreates_saying_why(tmp_path: Path) -> None:
    """A target kind without `Capability.IN_PLACE_UPDATE` (Podman 4.3) hands its refusal to
    reconcile: what `docker update` would apply recreates, and the reason names the engine."""
    engine = FakeEngine({"busybox:latest": BUSYBOX})
    _up(engine, _load(tmp_path, "128m"))
    why = "Podman 4.3 cannot update a running container; recreating"
    options = ReconcileOptions(salt="test", in_place_refusal=why)
    plan = api.plan(_load(tmp_path, "192m"), engine, options)
    (op,) = plan.operations
    assert op.action is Action.RECREATE
    assert op.reason == f"changed: mem_limit; {why}"
    assert op.fields == (FieldChange("mem_limit", 128 * MIB, 192 * MIB),)
    assert not any(isinstance(s, UpdateContainer) for s in op.steps)
    # A change that recreates anyway does not blame the engine.
    changed_image = textwrap.dedent(STACK.format(mem="128m")).replace(
        'command: ["sleep", "3600"]', 'command: ["sleep", "60"]'
    )
    plan = api.plan(load_text(changed_image, working_dir=tmp_path), engine, options)
    assert why not in plan.operations[0].reason
