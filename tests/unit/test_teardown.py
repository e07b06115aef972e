"""The plans that take a project down, on both targets: what goes first (containers, or swarm
services), what waits for it (networks; configs and secrets; volumes only when asked), and the
steps each removal takes."""

from __future__ import annotations

from stackup.engine.fake import FakeEngine
from stackup.loading.loader import load_text
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.teardown import plan_down
from stackup.targets.engine.execute import execute
from stackup.targets.swarm.down import plan_swarm_down
from stackup.targets.swarm.plan import SwarmObject, SwarmObserved, SwarmServiceState

STACK = """
name: td
services:
  db:
    image: busybox:latest
    volumes: [data:/data]
    networks: [back]
  web:
    image: busybox:latest
    networks: [back, front]
networks:
  back: {}
  front: {}
volumes:
  data: {}
"""


def _shape(plan: Plan) -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], bool]]:
    return [
        (
            op.id,
            op.action.value,
            op.reason,
            op.after,
            tuple(type(s).__name__ for s in op.steps),
            op.destroys_data,
        )
        for op in plan.operations
    ]


def _engine() -> FakeEngine:
    engine = FakeEngine({"busybox:latest": "sha256:" + "b0" * 32})
    loaded = load_text(STACK)
    graph = build_graph(loaded.stack, loaded.source)
    plan = reconcile(loaded.stack, graph, engine.observe("td"), ReconcileOptions(salt="t"))
    assert execute(plan, engine).ok
    return engine


CONTAINERS = ("container:td-db-1", "container:td-web-1")


def test_down_removes_containers_then_networks_and_only_when_asked_volumes() -> None:
    observed = _engine().observe("td")
    remove = ("StopContainer", "RemoveContainer")
    assert _shape(plan_down(observed)) == [
        ("container:td-db-1", "remove", "down", (), remove, False),
        ("container:td-web-1", "remove", "down", (), remove, False),
        ("network:td_back", "remove", "down", CONTAINERS, ("RemoveNetwork",), False),
        ("network:td_front", "remove", "down", CONTAINERS, ("RemoveNetwork",), False),
    ]
    with_volumes = plan_down(observed, volumes=True)
    assert _shape(with_volumes)[-1] == (
        "volume:td_data",
        "remove",
        "down --volumes",
        CONTAINERS,
        ("RemoveVolume",),
        True,
    )
    assert with_volumes.fingerprint == observed.fingerprint()


def test_down_of_some_services_keeps_what_the_others_still_use() -> None:
    observed = _engine().observe("td")
    plan = plan_down(observed, volumes=True, services=frozenset({"web"}))
    assert _shape(plan) == [
        ("container:td-web-1", "remove", "down", (), ("StopContainer", "RemoveContainer"), False),
        ("network:td_front", "remove", "down", ("container:td-web-1",), ("RemoveNetwork",), False),
    ]
    assert plan.warnings == ("volume td_data kept: still used by td-db-1",)
    kept = plan_down(observed, keep_services=frozenset({"db"}))
    assert [op.id for op in kept.operations] == ["container:td-web-1", "network:td_front"]
    assert kept.warnings == (
        "orphan containers left running: td-db-1 (--remove-orphans removes them)",
    )


def test_swarm_down_removes_services_then_networks_configs_and_secrets_never_volumes() -> None:
    def service(name: str) -> SwarmServiceState:
        return SwarmServiceState(f"id-{name}", name, {"io.stackup.service": name[3:]}, 1, "x")

    observed = SwarmObserved(
        "td",
        services=(service("td_web"), service("td_db")),
        networks=(SwarmObject("n", "td_back"),),
        configs=(SwarmObject("c", "td_site-1"),),
        secrets=(SwarmObject("s", "td_pw-1"),),
    )
    services = ("service:td_db", "service:td_web")
    plan = plan_swarm_down(observed)
    assert _shape(plan) == [
        ("service:td_db", "remove", "down", (), ("RemoveService", "WaitServiceGone"), False),
        ("service:td_web", "remove", "down", (), ("RemoveService", "WaitServiceGone"), False),
        ("network:td_back", "remove", "down", services, ("RemoveNetwork",), False),
        ("config:td_site-1", "remove", "down", services, ("RemoveObject",), False),
        ("secret:td_pw-1", "remove", "down", services, ("RemoveObject",), False),
    ]
    assert [op.service for op in plan.operations[:2]] == ["db", "web"]
    assert plan.fingerprint == observed.fingerprint()
