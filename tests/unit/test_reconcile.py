"""Reconcile as a whole: the same inputs give the same plan whatever the order of the file's
keys or of the engine's answers; the JSON shape is the documented one; Markdown renders a PR
comment; the in-memory engine survives the executor's threads."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackup.engine.fake import FakeEngine
from stackup.engine.observed import Observed
from stackup.loading.loader import LoadedStack, load_text
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.planning.reconcile import reconcile
from stackup.planning.render import plan_json, render_json, render_markdown, render_text
from stackup.targets.engine.execute import ExecuteOptions, execute

IMAGES = {"busybox:latest": "sha256:" + "b0" * 32, "nginx:1.25": "sha256:" + "25" * 32}


def _stack(version: int) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for i in range(12):
        service: dict[str, Any] = {
            "image": "busybox:latest" if i % 3 else "nginx:1.25",
            "command": ["sleep", "3600"],
            "networks": [f"net{i % 3}", f"net{(i + 1) % 3}"],
            "environment": {f"K{j}": f"v{j}" for j in range(5)},
            "labels": {"tier": str(i % 2), "team": "core"},
        }
        if i % 4:
            service["depends_on"] = {f"s{i - 1:02d}": {"condition": "service_started"}}
        services[f"s{i:02d}"] = service
    if version == 2:
        services["s03"]["environment"]["K2"] = "changed"
        services["s07"]["command"] = ["sleep", "7200"]
        services["s01"]["depends_on"] = {"s00": {"condition": "service_started", "restart": True}}
        services["s00"]["environment"]["K0"] = "changed"
        del services["s11"]
        services["s12"] = {"image": "busybox:latest", "networks": ["net0"]}
    networks: dict[str, Any] = {f"net{n}": {"labels": {"n": str(n)}} for n in range(3)}
    if version == 2:
        networks["net2"]["labels"]["n"] = "two"
    return {"name": "det", "services": services, "networks": networks}


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same mapping with its keys (at every level) in a random order; lists untouched."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def _load(data: dict[str, Any]) -> LoadedStack:
    text = yaml.safe_dump(data, sort_keys=False)
    return load_text(text, working_dir=Path("/srv/det"))


def _observed_shuffled(observed: Observed, rng: random.Random) -> Observed:
    containers = list(observed.containers)
    rng.shuffle(containers)
    networks = list(observed.networks.items())
    rng.shuffle(networks)
    images = list(observed.images.items())
    rng.shuffle(images)
    return dataclasses.replace(
        observed,
        containers=tuple(
            dataclasses.replace(
                c, networks=frozenset(sorted(c.networks, key=lambda _: rng.random()))
            )
            for c in containers
        ),
        networks=dict(networks),
        images=dict(images),
    )


def _applied_engine() -> FakeEngine:
    engine = FakeEngine(IMAGES)
    loaded = _load(_stack(1))
    options = ReconcileOptions(salt="test")
    plan = reconcile(
        loaded.stack, build_graph(loaded.stack, loaded.source), engine.observe("det"), options
    )
    assert execute(plan, engine).ok
    engine.stop_by_hand("det-s05-1")
    engine.remove_by_hand("det-s09-1")
    return engine


def _plan(data: dict[str, Any], observed: Observed, **options: Any) -> Plan:
    loaded = _load(data)
    graph = build_graph(loaded.stack, loaded.source)
    return reconcile(loaded.stack, graph, observed, ReconcileOptions(salt="test", **options))


def test_same_inputs_same_plan_whatever_the_order() -> None:
    engine = _applied_engine()
    observed = engine.observe("det")
    reference = _plan(_stack(2), observed, remove_orphans=True)
    assert len(reference.operations) > 5  # a plan with something in it
    expected = (render_json(reference), render_text(reference), render_markdown(reference))
    for seed in range(8):
        rng = random.Random(seed)
        plan = _plan(
            _shuffled(_stack(2), rng), _observed_shuffled(observed, rng), remove_orphans=True
        )
        assert (render_json(plan), render_text(plan), render_markdown(plan)) == expected, seed
        assert plan == reference


def test_first_plan_is_deterministic_too() -> None:
    plans = {
        render_json(_plan(_shuffled(_stack(1), random.Random(s)), Observed("det")))
        for s in range(5)
    }
    assert len(plans) == 1


JSON_STACK = """
name: shape
services:
  web:
    image: nginx:1.25
    environment: {MODE: a}
    volumes: ["data:/data"]
volumes:
  data:
    labels: {v: "1"}
"""


def _shape_plan() -> Plan:
    engine = FakeEngine(IMAGES)
    loaded = load_text(JSON_STACK.lstrip(), working_dir=Path("/srv/shape"))
    options = ReconcileOptions(salt="test")
    graph = build_graph(loaded.stack, loaded.source)
    assert execute(reconcile(loaded.stack, graph, engine.observe("shape"), options), engine).ok
    changed = load_text(
        JSON_STACK.lstrip().replace("MODE: a", "MODE: b").replace('v: "1"', 'v: "2"'),
        working_dir=Path("/srv/shape"),
    )
    return reconcile(
        changed.stack,
        build_graph(changed.stack, changed.source),
        engine.observe("shape"),
        options,
    )


def test_json_shape() -> None:
    plan = _shape_plan()
    data = json.loads(render_json(plan))
    assert data == plan_json(plan)
    assert set(data) == {
        "format_version",
        "project",
        "services",
        "operations",
        "warnings",
        "blockers",
        "summary",
        "changes",
        "fingerprint",
    }
    assert data["format_version"] == 1
    assert data["project"] == "shape"
    assert data["services"] == ["web"]
    assert data["changes"] is True
    assert len(data["fingerprint"]) == 64
    assert data["summary"] == {
        "create": 0,
        "update": 0,
        "recreate": 2,
        "remove": 0,
        "start": 0,
        "stop": 0,
        "reload": 0,
        "pull": 0,
        "build": 0,
        "sync": 0,
        "push": 0,
        "ship": 0,
    }
    volume, web = data["operations"]
    for op in data["operations"]:
        assert set(op) == {
            "id",
            "action",
            "symbol",
            "kind",
            "name",
            "service",
            "reason",
            "fields",
            "destroys_data",
            "details",
            "after",
            "start_after",
            "follows",
            "spec_hashes",
        }
    assert volume == {
        "id": "volume:shape_data",
        "action": "recreate",
        "symbol": "-/+",
        "kind": "volume",
        "name": "shape_data",
        "service": None,
        "reason": "volume definition changed: its data will be deleted",
        "fields": [{"path": "labels.v", "before": "1", "after": "2"}],
        "destroys_data": True,
        "details": ["removes shape-web-1 first (it uses the volume)"],
        "after": [],
        "start_after": [],
        "follows": [],
        "spec_hashes": volume["spec_hashes"],
    }
    assert len(volume["spec_hashes"]) == 1 and len(volume["spec_hashes"][0]) == 64
    assert web["kind"] == "container" and web["service"] == "web"
    assert web["after"] == ["volume:shape_data"]
    assert web["destroys_data"] is False


def test_markdown_for_a_pull_request() -> None:
    md = render_markdown(_shape_plan())
    lines = md.splitlines()
    assert lines[0] == "### stackup plan for `shape`"
    assert "**Plan:** 0 to create, 0 to update, 2 to recreate, 0 to remove." in lines
    assert "| | kind | name | reason |" in lines
    assert (
        "| `-/+` | volume | `shape_data` | volume definition changed: its data will be deleted "
        "⚠️ **destroys data** |"
    ) in lines
    assert "<details><summary>Changed fields</summary>" in lines
    assert '- labels.v: "1"' in lines and '+ labels.v: "2"' in lines
    assert md.endswith("</details>\n")
    empty = render_markdown(Plan(project="x"))
    assert empty == "### stackup plan for `x`\n\nNo changes.\n"


def test_markdown_escapes_table_cells() -> None:
    plan = dataclasses.replace(_shape_plan(), warnings=("a | b",))
    md = render_markdown(plan)
    assert "- a \\| b" in md


def test_text_colour_only_when_asked() -> None:
    plan = _shape_plan()
    assert "\x1b[" not in render_text(plan)
    coloured = render_text(plan, colour=True)
    assert "\x1b[35m  -/+ volume shape_data\x1b[0m" in coloured


@pytest.fixture
def fast_switching() -> Any:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def test_fake_engine_under_the_executors_threads(fast_switching: None) -> None:
    """Eight threads creating, renaming and finding containers (as `execute` does) used to
    fail with 'dictionary changed size during iteration'."""
    engine = FakeEngine(IMAGES)
    text = "name: many\nservices:\n" + "".join(
        f"  s{i}:\n    image: busybox:latest\n" for i in range(300)
    )
    loaded = load_text(text, working_dir=Path("/srv/many"))
    plan = reconcile(
        loaded.stack,
        build_graph(loaded.stack, loaded.source),
        engine.observe("many"),
        ReconcileOptions(salt="t"),
    )
    errors: list[BaseException] = []

    def observe_meanwhile() -> None:
        try:
            for _ in range(200):
                engine.observe("many")
        except BaseException as err:
            errors.append(err)

    watcher = threading.Thread(target=observe_meanwhile)
    watcher.start()
    outcome = execute(plan, engine, options=ExecuteOptions(parallel=8, poll_interval=0.0))
    watcher.join()
    assert outcome.ok, outcome.failed
    assert errors == []
    assert len(engine.observe("many").containers) == 300
