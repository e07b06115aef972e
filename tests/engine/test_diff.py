"""`stackup diff` against a real engine, through the CLI: nothing pending after `up`; one
changed field named exactly; drift from `docker stop`; saved plans applied only while current;
a volume change refused without --yes."""

from __future__ import annotations

import json
from typing import Any

import docker

from tests.engine.helpers import StackDir, stackup

STACK = """
services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    environment:
      MODE: one
    networks: [back]
  store:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    volumes: ["data:/data"]
    networks: [back]
    depends_on: [app]
networks:
  back: {}
volumes:
  data:
    labels:
      generation: "1"
"""


def _up(project: str, d: StackDir, *args: str) -> None:
    stackup("-p", project, "up", "--pull", "never", *args, cwd=d.path)


def _diff_json(project: str, d: StackDir) -> tuple[int, dict[str, Any]]:
    proc = stackup(
        "-p", project, "diff", "--format", "json", "--exit-code", cwd=d.path, check=False
    )
    assert proc.returncode in (0, 2), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_nothing_pending_after_up_then_one_field(
    project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(STACK)
    _up(project_name, tmp_stack_dir)
    code, plan = _diff_json(project_name, tmp_stack_dir)
    assert code == 0, plan
    assert plan["operations"] == [] and plan["changes"] is False
    text = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir.path)
    assert f"No changes. Project {project_name} matches the stack file." in text.stdout

    tmp_stack_dir.stack(STACK.replace("MODE: one", "MODE: two"))
    code, plan = _diff_json(project_name, tmp_stack_dir)
    assert code == 2
    [op] = plan["operations"]
    assert (op["action"], op["kind"], op["name"], op["service"]) == (
        "recreate",
        "container",
        f"{project_name}-app-1",
        "app",
    )
    assert op["fields"] == [{"path": "environment.MODE", "before": "one", "after": "two"}]
    assert op["reason"] == "changed: environment.MODE"
    assert plan["summary"]["recreate"] == 1


def test_docker_stop_is_drift(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.stack(STACK)
    _up(project_name, tmp_stack_dir)
    docker_client.containers.get(f"{project_name}-store-1").stop(timeout=1)
    code, plan = _diff_json(project_name, tmp_stack_dir)
    assert code == 2
    [op] = plan["operations"]
    assert (op["action"], op["name"]) == ("start", f"{project_name}-store-1")
    assert op["reason"].startswith("not running (exited with code ")
    _up(project_name, tmp_stack_dir)
    assert _diff_json(project_name, tmp_stack_dir)[0] == 0


def test_saved_plan_applies_then_refuses_when_stale(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.stack(STACK)
    saved = stackup(
        "-p",
        project_name,
        "diff",
        "-o",
        "plan.json",
        "--exit-code",
        cwd=tmp_stack_dir.path,
        check=False,
    )
    assert saved.returncode == 2, saved.stderr
    assert "saved the plan to plan.json" in saved.stderr
    stored = json.loads((tmp_stack_dir / "plan.json").read_text(encoding="utf-8"))
    assert stored["fingerprint"] and len(stored["operations"]) == 4
    _up(project_name, tmp_stack_dir, "--plan", "plan.json")
    assert _diff_json(project_name, tmp_stack_dir)[0] == 0

    # A plan saved, then the engine changed under it: refused, nothing applied.
    tmp_stack_dir.stack(STACK.replace("MODE: one", "MODE: two"))
    stackup("-p", project_name, "diff", "-o", "plan2.json", cwd=tmp_stack_dir.path)
    app = docker_client.containers.get(f"{project_name}-app-1")
    app_id = app.id
    docker_client.containers.get(f"{project_name}-store-1").stop(timeout=1)
    refused = stackup(
        "-p",
        project_name,
        "up",
        "--pull",
        "never",
        "--plan",
        "plan2.json",
        cwd=tmp_stack_dir.path,
        check=False,
    )
    assert refused.returncode == 1
    assert "the engine's state changed since the plan in plan2.json was made" in refused.stderr
    assert docker_client.containers.get(f"{project_name}-app-1").id == app_id  # not recreated
    assert docker_client.containers.get(f"{project_name}-store-1").status == "exited"


def test_volume_change_refused_without_yes(
    project_name: str, tmp_stack_dir: StackDir, docker_client: docker.DockerClient
) -> None:
    tmp_stack_dir.stack(STACK)
    _up(project_name, tmp_stack_dir)
    store_id = docker_client.containers.get(f"{project_name}-store-1").id
    tmp_stack_dir.stack(STACK.replace('generation: "1"', 'generation: "2"'))

    code, plan = _diff_json(project_name, tmp_stack_dir)
    assert code == 2
    volume = next(op for op in plan["operations"] if op["kind"] == "volume")
    assert volume["destroys_data"] is True and volume["name"] == f"{project_name}_data"
    text = stackup("-p", project_name, "diff", cwd=tmp_stack_dir.path).stdout
    assert "!! destroys data" in text
    markdown = stackup("-p", project_name, "diff", "--format", "markdown", cwd=tmp_stack_dir.path)
    assert "**destroys data**" in markdown.stdout

    refused = stackup(
        "-p", project_name, "up", "--pull", "never", cwd=tmp_stack_dir.path, check=False
    )
    assert refused.returncode == 1
    assert f"the plan deletes the data in {project_name}_data; nothing was applied" in (
        refused.stderr
    )
    assert docker_client.containers.get(f"{project_name}-store-1").id == store_id
    labels = docker_client.volumes.get(f"{project_name}_data").attrs["Labels"]
    assert labels["generation"] == "1"

    _up(project_name, tmp_stack_dir, "--yes")
    labels = docker_client.volumes.get(f"{project_name}_data").attrs["Labels"]
    assert labels["generation"] == "2"
    assert _diff_json(project_name, tmp_stack_dir)[0] == 0
