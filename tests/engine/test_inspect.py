"""`ps` and `logs` as a user reads them: how a container ended, and the project's logs by
name alone (`-p NAME`, no stack file), each line prefixed by the container name."""

from __future__ import annotations

import json

from tests.engine.helpers import StackDir, stackup, wait_for


def test_ps_shows_the_exit_code_and_logs_need_no_file(
    tmp_stack_dir: StackDir, project_name: str
) -> None:
    d = tmp_stack_dir
    d.stack(
        f"""
        name: {project_name}
        services:
          job:
            image: busybox:latest
            command: ["sh", "-c", "echo hello-from-job; exit 3"]
        """
    )
    stackup("up", cwd=d.path)

    def exited() -> list[dict[str, object]] | None:
        rows = json.loads(stackup("ps", "-a", "--format", "json", cwd=d.path).stdout)
        return rows if rows and rows[0]["exit_code"] is not None else None

    rows = wait_for(exited, timeout=30, what="the job to exit")
    assert rows[0]["state"] == "exited (3)" and rows[0]["exit_code"] == 3
    elsewhere = d.path / "elsewhere"  # no stack file here
    elsewhere.mkdir()
    table = stackup("-p", project_name, "ps", "-a", cwd=elsewhere).stdout
    assert f"{project_name}-job-1" in table and "exited (3)" in table

    logs = stackup("-p", project_name, "logs", cwd=elsewhere)
    assert f"{project_name}-job-1 | hello-from-job" in logs.stdout.splitlines()
    stackup("-p", project_name, "down", cwd=elsewhere)
