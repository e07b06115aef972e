"""Newer Compose keys reach the container on a real engine (API 1.41 here): label_file labels,
long-syntax devices, ulimits, blkio device rates, a non-recursive bind, a labelled anonymous
volume, a post_start hook and pre_start steps (before the main process; again when changed);
a key the engine is too old for stops `up` before anything starts, at its line."""

from __future__ import annotations

from pathlib import Path

import docker
import docker.errors
import pytest

from tests.engine.helpers import StackDir, stackup


def _block_device() -> str | None:
    """A whole disk of this host (the engine's host: tests talk to a local engine)."""
    for line in Path("/proc/partitions").read_text().splitlines()[2:]:
        parts = line.split()
        if len(parts) == 4 and parts[1] == "0" and Path(f"/dev/{parts[3]}").exists():
            return f"/dev/{parts[3]}"
    return None


def _stack(project: str, device: str | None) -> str:
    blkio = (
        f"""
            blkio_config:
              device_read_bps:
                - path: {device}
                  rate: 1mb"""
        if device
        else ""
    )
    return f"""
        name: {project}
        services:
          app:
            image: busybox
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            label_file: app.labels
            labels:
              com.example.owner: from-labels
            devices:
              - source: /dev/null
                target: /dev/stackup-null
                permissions: rwm
            ulimits:
              nofile: {{soft: 1024, hard: 2048}}{blkio}
            post_start:
              - command: ["sh", "-c", "echo $$GREETING > /tmp/started"]
                environment:
                  GREETING: hello
            volumes:
              - type: bind
                source: ./keys
                target: /keys
                bind: {{recursive: disabled}}
              - type: volume
                target: /cache
                volume:
                  labels:
                    com.example.purpose: cache
        """


def test_applied_keys_reach_the_container(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    device = _block_device()
    tmp_stack_dir.write("com.example.team=payments\ncom.example.owner=from-file\n", "app.labels")
    (tmp_stack_dir / "keys").mkdir()
    (tmp_stack_dir / "keys" / "hello.txt").write_text("hi\n")
    tmp_stack_dir.stack(_stack(project_name, device))
    try:
        stackup("up", cwd=tmp_stack_dir)
        container = docker_client.containers.get(f"{project_name}-app-1")
        labels = container.labels
        assert labels["com.example.team"] == "payments"
        assert labels["com.example.owner"] == "from-labels"

        code, out = container.exec_run(["sh", "-c", "ls -l /dev/stackup-null; ulimit -n"])
        lines = out.decode().split()
        assert code == 0 and lines[0].startswith("c"), out  # a character device
        assert lines[-1] == "1024", out

        host = container.attrs["HostConfig"]
        if device is not None:
            assert host["BlkioDeviceReadBps"] == [{"Path": device, "Rate": 1024 * 1024}]
        bind = next(m for m in host["Mounts"] if m["Type"] == "bind")
        assert bind["BindOptions"] == {"NonRecursive": True}
        assert container.exec_run(["cat", "/keys/hello.txt"]) == (0, b"hi\n")
        assert container.exec_run(["cat", "/tmp/started"]) == (0, b"hello\n")  # post_start

        cache = next(m for m in container.attrs["Mounts"] if m["Destination"] == "/cache")
        volume = docker_client.volumes.get(cache["Name"])
        assert volume.attrs["Labels"]["com.example.purpose"] == "cache"

        # The file and the engine agree: a second plan changes nothing.
        assert stackup("diff", "--exit-code", cwd=tmp_stack_dir, check=False).returncode == 0
    finally:
        stackup("down", "-v", cwd=tmp_stack_dir, check=False)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(cache["Name"])


def test_a_key_newer_than_the_engine_stops_up_at_its_line(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    api = tuple(int(p) for p in docker_client.version()["ApiVersion"].split("."))
    if api >= (1, 48):
        pytest.skip("this engine supports image mounts")
    tmp_stack_dir.stack(
        f"""
        name: {project_name}
        services:
          app:
            image: busybox
            command: ["sleep", "3600"]
            volumes:
              - type: image
                source: busybox
                target: /opt/busybox
        """
    )
    result = stackup("up", cwd=tmp_stack_dir, check=False)
    assert result.returncode == 1, result
    assert (
        "stack.yaml:7:9: services.app.volumes[0]: an image mount needs Docker Engine 28.0 or "
        "later (API 1.48)" in result.stderr
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert docker_client.containers.list(all=True, filters={"name": project_name}) == []


def test_pre_start_runs_before_the_main_process_and_a_failure_keeps_it_stopped(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    """Compose's e2e fixtures `pre_start/compose-success.yaml` and `compose-error.yaml`: the
    step writes a file to a shared volume that the service's main process reads when it
    starts; a step exiting 17 keeps its service from starting."""
    tmp_stack_dir.stack(
        f"""
        name: {project_name}
        services:
          app:
            image: busybox
            command: ["sh", "-c", "cat /shared/init.txt > /shared/seen.txt; sleep 3600"]
            stop_signal: SIGKILL
            volumes: [data:/shared]
            pre_start:
              - command: ["sh", "-c", "echo \\"initialized as $$(id -u)\\" > /shared/init.txt"]
                user: "0"
          broken:
            image: busybox
            command: ["sleep", "3600"]
            pre_start:
              - command: ["sh", "-c", "echo no database >&2; exit 17"]
        volumes:
          data: {{}}
        """
    )
    try:
        result = stackup("up", cwd=tmp_stack_dir, check=False)
        assert result.returncode == 1, result
        assert "pre_start[0]" in result.stderr and "exit 17" in result.stderr, result.stderr
        assert "no database" in result.stderr
        app = docker_client.containers.get(f"{project_name}-app-1")
        assert app.status == "running"
        # What the main process read at its start was written by the step before it.
        assert app.exec_run(["cat", "/shared/seen.txt"]) == (0, b"initialized as 0\n")
        broken = docker_client.containers.get(f"{project_name}-broken-1")
        assert broken.status == "created"
        # The steps' own containers are gone.
        names = [c.name for c in docker_client.containers.list(all=True)]
        assert not [n for n in names if n.startswith(f"{project_name}-") and "pre_start" in n]
    finally:
        stackup("down", "-v", cwd=tmp_stack_dir, check=False)


def test_a_changed_pre_start_step_runs_again_on_the_recreate(
    docker_client: docker.DockerClient, project_name: str, tmp_stack_dir: StackDir
) -> None:
    """Compose's e2e fixture `pre_start/spec-change` (v1, then v2, appended to one file in a
    volume); an unchanged step does not run again."""
    stack = """
        name: {project}
        services:
          app:
            image: busybox
            command: ["sleep", "3600"]
            stop_signal: SIGKILL
            volumes: [data:/shared]
            pre_start:
              - command: ["sh", "-c", "echo {version} >> /shared/versions.txt"]
        volumes:
          data: {{}}
        """
    tmp_stack_dir.stack(stack.format(project=project_name, version="v1"))
    try:
        stackup("up", cwd=tmp_stack_dir)
        stackup("up", cwd=tmp_stack_dir)  # nothing changed: the step does not run again
        first = docker_client.containers.get(f"{project_name}-app-1")
        assert first.exec_run(["cat", "/shared/versions.txt"]) == (0, b"v1\n")
        tmp_stack_dir.stack(stack.format(project=project_name, version="v2"))
        stackup("up", cwd=tmp_stack_dir)
        second = docker_client.containers.get(f"{project_name}-app-1")
        assert second.id != first.id
        assert second.exec_run(["cat", "/shared/versions.txt"]) == (0, b"v1\nv2\n")
    finally:
        stackup("down", "-v", cwd=tmp_stack_dir, check=False)
