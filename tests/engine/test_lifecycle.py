"""The commands around `up`: ps, logs, exec, run, and `-p NAME down` without a stack file."""

from __future__ import annotations

import json
from pathlib import Path

import docker

from tests.engine.helpers import PROJECT_LABEL, StackDir, free_port, stackup, wait_for

STACK = """
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/tmp"]
    stop_signal: SIGKILL
    ports:
      - "127.0.0.1:{port}:80"
  talker:
    image: busybox:latest
    command: ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line-$$i; done; exec sleep 3600"]
    stop_signal: SIGKILL
    environment:
      GREETING: hello-from-env
"""


def _up(project: str, stack_dir: StackDir) -> int:
    port = free_port()
    stack_dir.stack(STACK.format(port=port))
    stackup("-p", project, "up", "--wait", "--progress", "quiet", cwd=stack_dir)
    return port


def _containers(client: docker.DockerClient, project: str) -> list[str]:
    label = {"label": f"{PROJECT_LABEL}={project}"}
    return sorted(c.name or "" for c in client.containers.list(all=True, filters=label))


def test_ps_json(project_name: str, tmp_stack_dir: StackDir) -> None:
    port = _up(project_name, tmp_stack_dir)
    rows = json.loads(
        stackup("-p", project_name, "ps", "--format", "json", cwd=tmp_stack_dir).stdout
    )
    by_service = {row["service"]: row for row in rows}
    assert sorted(by_service) == ["talker", "web"]
    web = by_service["web"]
    assert web["name"] == f"{project_name}-web-1"
    assert web["state"] == "running"
    assert web["image"] == "busybox:latest"
    assert f"127.0.0.1:{port}->80/tcp" in web["ports"], web


def test_logs_tail(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    _up(project_name, tmp_stack_dir)
    talker = docker_client.containers.get(f"{project_name}-talker-1")
    wait_for(lambda: b"line-6" in talker.logs(), what="the talker's six lines")
    out = stackup("-p", project_name, "logs", "--tail", "2", "talker", cwd=tmp_stack_dir).stdout
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[0].endswith("line-5") and lines[1].endswith("line-6"), out
    assert all(line.startswith(f"{project_name}-talker-1") for line in lines), out


def test_exec_passes_output_and_exit_code_through(
    project_name: str, tmp_stack_dir: StackDir
) -> None:
    _up(project_name, tmp_stack_dir)
    result = stackup(
        "-p", project_name, "exec", "-T", "talker", "sh", "-c", 'echo "$GREETING"; exit 42',
        cwd=tmp_stack_dir, check=False,
    )  # fmt: skip
    assert result.returncode == 42, result.stdout + result.stderr
    assert result.stdout.strip() == "hello-from-env"
    ok = stackup("-p", project_name, "exec", "-T", "talker", "true", cwd=tmp_stack_dir)
    assert ok.returncode == 0


def test_run_rm_passes_the_exit_code_and_leaves_no_container(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    _up(project_name, tmp_stack_dir)
    before = _containers(docker_client, project_name)
    result = stackup(
        "-p", project_name, "run", "--rm", "talker", "sh", "-c", 'echo "job $GREETING"; exit 5',
        cwd=tmp_stack_dir, check=False,
    )  # fmt: skip
    assert result.returncode == 5, result.stdout + result.stderr
    assert "job hello-from-env" in result.stdout
    assert _containers(docker_client, project_name) == before
    # the one-off is not an orphan and changes nothing in the plan
    diff = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_down_by_project_name_without_a_stack_file(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    _up(project_name, tmp_stack_dir)
    assert len(_containers(docker_client, project_name)) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = stackup("-p", project_name, "down", "--progress", "plain", cwd=empty)
    assert _containers(docker_client, project_name) == [], result.stdout
    label = {"label": f"{PROJECT_LABEL}={project_name}"}
    assert docker_client.networks.list(filters=label) == []
