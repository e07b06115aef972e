"""A changed volume is recreated only when every container using it is in the plan."""

from __future__ import annotations

from stackup.engine.fake import FakeEngine
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.reconcile import reconcile
from stackup.targets.engine.execute import ExecuteOptions, execute

STACK = """
name: vs
services:
  db:
    image: busybox:latest
    volumes: [data:/data]
  web:
    image: busybox:latest
    volumes: [data:/srv]
volumes:
  data:
    labels: {{generation: "{gen}"}}
"""


def _plan(engine: FakeEngine, loaded: LoadedStack, services: tuple[str, ...] = ()) -> Plan:
    graph = build_graph(loaded.stack, loaded.source)
    options = ReconcileOptions(salt="t", services=services)
    return reconcile(loaded.stack, graph, engine.observe("vs"), options)


def test_volume_used_by_a_service_outside_the_plan_blocks() -> None:
    engine = FakeEngine({"busybox:latest": "sha256:" + "b0" * 32})
    assert execute(_plan(engine, load_text(STACK.format(gen=1))), engine).ok
    changed = load_text(STACK.format(gen=2))

    partial = _plan(engine, changed, services=("web",))
    assert partial.operations == ()
    assert partial.blockers and "used by db" in partial.blockers[0]

    whole = _plan(engine, changed)
    assert not whole.blockers
    assert [op.name for op in whole.destroys_data] == ["vs_data"]
    assert execute(whole, engine, options=ExecuteOptions(allow_data_loss=True)).ok
    assert not _plan(engine, changed).changes


def test_down_volumes_keeps_a_volume_the_file_now_declares_external() -> None:
    from stackup.planning.teardown import plan_down

    engine = FakeEngine({"busybox:latest": "sha256:" + "b0" * 32})
    assert execute(_plan(engine, load_text(STACK.format(gen=1))), engine).ok
    observed = engine.observe("vs")
    plan = plan_down(observed, volumes=True, keep_volumes=frozenset({"vs_data"}))
    assert "volume:vs_data" not in [op.id for op in plan.operations]
    assert any("declares it external" in w for w in plan.warnings)
    removed = plan_down(observed, volumes=True)
    assert "volume:vs_data" in [op.id for op in removed.operations]
