"""`stackup up` against a real engine: the app-db example served through nginx, an idempotent
second `up`, `--strict`, and `--exit-code-from`."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.engine.helpers import PROJECT_LABEL, ROOT, StackDir, free_port, http_get, stackup

APP_DB = ROOT / "examples" / "app-db" / "stack.yaml"
MUTATIONS_THAT_CHURN = {"create_container", "stop_container", "remove_container"}


def _ids(client: docker.DockerClient, project: str) -> dict[str, str]:
    return {
        c.name: c.id
        for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    }


def test_app_db_example_serves_through_nginx_and_second_up_changes_nothing(
    docker_client: docker.DockerClient, project_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {"APP_DB_PORT": str(port)}
    args = ("-p", project_name, "-f", str(APP_DB))
    first = stackup(*args, "up", "--wait", "--progress", "plain", cwd=tmp_path, env=env)
    assert f"web: http://127.0.0.1:{port}/" in first.stdout

    page = http_get(f"http://127.0.0.1:{port}/")
    assert page.status == 200, page
    assert "served by the app, through nginx" in page.body
    assert page.headers.get("X-Served-By") == "app-db-nginx"
    # nginx → app (by service name, network front) → db (by service name, network back)
    state = http_get(f"http://127.0.0.1:{port}/cgi-bin/db")
    assert state.status == 200, state
    assert "db ready: ok" in state.body

    before = _ids(docker_client, project_name)
    assert sorted(before) == [f"{project_name}-{s}-1" for s in ("app", "db", "web")]

    call_log = tmp_path / "calls.log"
    second = stackup(
        *args,
        "up",
        "--progress",
        "plain",
        cwd=tmp_path,
        env={**env, "STACKUP_TEST_CALL_LOG": str(call_log)},
        faulty=True,
    )
    assert "No changes" in second.stdout, second.stdout
    calls = call_log.read_text().split() if call_log.exists() else []
    assert not MUTATIONS_THAT_CHURN & set(calls), calls
    assert calls == [], calls  # nothing mutating at all
    assert _ids(docker_client, project_name) == before
    assert http_get(f"http://127.0.0.1:{port}/").status == 200
    diff = stackup(*args, "diff", "--exit-code", cwd=tmp_path, env=env, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_strict_refuses_privileged_and_creates_nothing(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        """
        services:
          box:
            image: busybox:latest
            command: ["sleep", "3600"]
            privileged: true
        """
    )
    result = stackup("-p", project_name, "up", "--strict", cwd=tmp_stack_dir, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "--strict" in result.stderr and "nothing was applied" in result.stderr
    label = {"label": f"{PROJECT_LABEL}={project_name}"}
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []


def test_exit_code_from_returns_that_service_exit_code_and_stops_the_rest(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        """
        services:
          server:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_grace_period: 1s
          job:
            image: busybox:latest
            command: ["sh", "-c", "echo job-says-hello; exit 7"]
            depends_on: [server]
        """
    )
    result = stackup(
        "-p", project_name, "up", "--exit-code-from", "job", "--progress", "plain",
        cwd=tmp_stack_dir, check=False,
    )  # fmt: skip
    assert result.returncode == 7, result.stdout + result.stderr
    # --attach semantics: the job's output streamed with its service prefix
    assert any(
        line.startswith("job") and "job-says-hello" in line for line in result.stdout.splitlines()
    ), result.stdout
    server = docker_client.containers.get(f"{project_name}-server-1")
    assert server.status == "exited"  # the first exit stopped the rest
