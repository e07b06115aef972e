"""Config edits made without watch, planned from the host files and the reload records
(stackup.planning.configstate), over the in-memory engine: text, JSON and Markdown name the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackup import api
from stackup.engine.fake import FakeEngine
from stackup.loading.loader import load_text
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Action, CheckInThrowaway
from stackup.planning.render import render_json, render_markdown, render_text

STACK = """
name: cfg
services:
  web:
    image: nginx
    volumes:
      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro
"""


def _up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeEngine, Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    conf = tmp_path / "nginx" / "default.conf"
    conf.parent.mkdir()
    conf.write_text("server { listen 80; }\n")
    engine = FakeEngine({"nginx:latest": "sha256:" + "a" * 64})
    loaded = load_text(STACK, working_dir=str(tmp_path))
    assert api.apply(api.plan(loaded, engine), engine).ok
    assert not api.plan(loaded, engine).operations
    return engine, conf


def test_in_place_edit_plans_a_reload_that_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, conf = _up(tmp_path, monkeypatch)
    loaded = load_text(STACK, working_dir=str(tmp_path))
    with conf.open("r+") as f:
        f.write("server { listen 81; }\n")
    plan = api.plan(loaded, engine)
    (op,) = plan.operations
    assert op.action == Action.RELOAD and op.name == "cfg-web-1"
    assert "nginx/default.conf changed" in op.reason
    assert "↻ container cfg-web-1" in render_text(plan)
    assert json.loads(render_json(plan))["operations"][0]["symbol"] == "↻"
    assert "nginx/default.conf changed" in render_markdown(plan)
    assert api.apply(plan, engine).ok
    assert not api.plan(loaded, engine).operations  # the reload recorded what it applied


def test_rename_plans_a_recreate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, conf = _up(tmp_path, monkeypatch)
    loaded = load_text(STACK, working_dir=str(tmp_path))
    new = conf.with_name("new")
    new.write_text("server { listen 82; }\n")
    os.replace(new, conf)
    (op,) = api.plan(loaded, engine).operations
    assert op.action == Action.RECREATE
    assert "nginx/default.conf was saved by rename" in op.reason
    # The new file is checked in a throwaway container before anything is touched.
    first = op.steps[0]
    assert isinstance(first, CheckInThrowaway)
    assert first.spec.service.command == ["nginx", "-t"]
    assert first.spec.service.ports == [] and first.spec.name != op.name
    assert "nginx -t checks it first" in op.reason


def test_a_check_container_left_by_a_crash_is_not_an_orphan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackup.engine.interface import ContainerSpec
    from stackup.model.spec import Service
    from stackup.planning.throwaway_specs import VALIDATION_TWIN_LABEL

    engine, _ = _up(tmp_path, monkeypatch)
    engine.create_container(
        ContainerSpec(
            name="cfg-web-1_stackup-check",
            image="nginx:latest",
            service=Service.model_validate({"image": "nginx:latest"}),
            labels={"io.stackup.project": "cfg", VALIDATION_TWIN_LABEL: "web"},
            environment={},
        )
    )
    loaded = load_text(STACK, working_dir=str(tmp_path))
    plan = api.plan(loaded, engine)
    assert not plan.operations and not plan.warnings  # no "orphan container" warning either
    removing = api.plan(loaded, engine, ReconcileOptions(remove_orphans=True))
    assert not removing.operations  # run_check removes it itself before its next use
