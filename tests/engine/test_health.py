"""depends_on conditions, `up --wait` and Ctrl-C, against a real engine.

Orderings are proven with the engine's own timestamps (State.StartedAt, State.Health.Log),
never with durations measured by the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import docker

from tests.engine.helpers import StackDir, stackup, wait_for

NEVER_STARTED = "0001-01-01T00:00:00Z"


def _ts(text: str) -> datetime:
    """An engine timestamp (RFC 3339 with nanoseconds) as a datetime (microseconds)."""
    main, _, frac = text.rstrip("Z").partition(".")
    frac = frac.split("+")[0].split("-")[0]
    return datetime.fromisoformat(f"{main}.{(frac + '000000')[:6]}+00:00")


def test_service_healthy_dependent_starts_after_the_first_passing_health_check(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    # db becomes healthy a little after it starts. Its check passes once, then hangs (until
    # the container goes), so the first passing entry stays the last one of the health log:
    # the engine keeps only five and runs no new probe while one is running.
    tmp_stack_dir.stack(
        """
        services:
          db:
            image: busybox:latest
            command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
            stop_signal: SIGKILL
            healthcheck:
              test:
                - CMD-SHELL
                - test -f /tmp/ready || exit 1; [ -f /tmp/passed ] && exec sleep 3600; touch /tmp/passed
              interval: 200ms
              timeout: 30m
              retries: 1000
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            depends_on:
              db:
                condition: service_healthy
        """
    )
    result = stackup("-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir)
    assert "waiting for db (service_healthy)" in result.stdout

    db = docker_client.api.inspect_container(f"{project_name}-db-1")
    app = docker_client.api.inspect_container(f"{project_name}-app-1")
    log = db["State"]["Health"]["Log"]
    passing = [entry for entry in log if entry["ExitCode"] == 0]
    assert len(passing) == 1, log
    first_pass = _ts(passing[0]["End"])
    app_started = _ts(app["State"]["StartedAt"])
    assert app_started >= first_pass, (app["State"]["StartedAt"], passing[0]["End"])
    assert _ts(db["State"]["StartedAt"]) < first_pass


MIGRATION_STACK = """
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "{script}"]
    volumes:
      - data:/data
  app:
    image: busybox:latest
    command: ["sh", "-c", "cat /data/schema && exec sleep 3600"]
    stop_signal: SIGKILL
    volumes:
      - data:/data
    depends_on:
      migrate:
        condition: service_completed_successfully
volumes:
  data: {{}}
"""


def test_service_completed_successfully_runs_the_migration_first(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        MIGRATION_STACK.format(script="echo migrating; echo v1 > /data/schema; echo migrated")
    )
    stackup("-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir)
    migrate = docker_client.api.inspect_container(f"{project_name}-migrate-1")
    app = docker_client.api.inspect_container(f"{project_name}-app-1")
    assert migrate["State"]["Status"] == "exited" and migrate["State"]["ExitCode"] == 0
    assert app["State"]["Running"], app["State"]
    assert _ts(app["State"]["StartedAt"]) >= _ts(migrate["State"]["FinishedAt"])
    logs = docker_client.containers.get(f"{project_name}-app-1").logs().decode()
    assert "v1" in logs  # the app read what the migration wrote
    # A finished job is converged: a second up neither reruns it nor restarts the app.
    again = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir, check=False)
    assert again.returncode == 0, again.stdout + again.stderr


def test_failed_migration_keeps_its_dependent_stopped_and_reports_code_and_logs(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        MIGRATION_STACK.format(
            script="echo step-1-ok; echo 'ERROR: relation users already exists' >&2; exit 3"
        )
    )
    result = stackup(
        "-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir, check=False
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "migrate exited with code 3" in output, output
    assert "ERROR: relation users already exists" in output, output
    assert "step-1-ok" in output, output
    app = docker_client.api.inspect_container(f"{project_name}-app-1")
    assert not app["State"]["Running"]
    assert app["State"]["StartedAt"] == NEVER_STARTED, app["State"]


def test_wait_fails_on_an_unhealthy_service_with_its_health_output(
    project_name: str, tmp_stack_dir: StackDir
) -> None:
    tmp_stack_dir.stack(
        """
        services:
          ok:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
          sick:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            healthcheck:
              test: ["CMD-SHELL", "echo cannot reach upstream-xyz; exit 1"]
              interval: 200ms
              retries: 2
        """
    )
    result = stackup(
        "-p", project_name, "up", "--wait", "--wait-timeout", "120", cwd=tmp_stack_dir,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sick" in result.stderr and "unhealthy" in result.stderr, result.stderr
    assert "cannot reach upstream-xyz" in result.stderr, result.stderr


def test_ctrl_c_while_waiting_exits_130_and_the_next_up_converges(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir, tmp_path: Path
) -> None:
    tmp_stack_dir.stack(
        """
        services:
          slow:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            volumes:
              - ./gate:/gate:ro
            healthcheck:
              test: ["CMD", "test", "-f", "/gate/open"]
              interval: 1s
              start_period: 120s
              start_interval: 200ms
          app:
            image: busybox:latest
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            depends_on:
              slow:
                condition: service_healthy
        """
    )
    gate = tmp_stack_dir / "gate"
    gate.mkdir()
    out = tmp_path / "up.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stackup", "-p", project_name, "up", "--progress", "plain"],
            cwd=tmp_stack_dir.path,
            env={**os.environ, "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
        )
    try:
        wait_for(
            lambda: "waiting for slow" in out.read_text(errors="replace"),
            timeout=60,
            what="up to wait for slow",
        )
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.read_text(errors="replace")
    assert code == 130, text
    assert "interrupted" in text, text
    assert "Traceback" not in text, text
    app = docker_client.api.inspect_container(f"{project_name}-app-1")
    assert app["State"]["StartedAt"] == NEVER_STARTED  # it was waiting, never started

    (gate / "open").write_text("go\n")
    stackup("-p", project_name, "up", "--progress", "plain", cwd=tmp_stack_dir)
    assert docker_client.api.inspect_container(f"{project_name}-app-1")["State"]["Running"]
    diff = stackup("-p", project_name, "diff", "--exit-code", cwd=tmp_stack_dir, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
