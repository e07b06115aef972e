"""Crash safety: an `up` SIGKILLed right after any engine call leaves a state the next `up`
converges from in one run — no duplicate containers or networks, no `_stackup-new` names left
behind, sentinel files in a named and an anonymous volume intact, and nothing left to diff.

The hook is `STACKUP_TEST_KILL_AFTER_CALLS=k` of tests/engine/faulty_stackup.py, the CLI with
its mutating engine calls wrapped: the process kills itself with SIGKILL right after its k-th
mutating engine call. Every k of a creating `up` and of a recreating one is tried; the
recovering `up` is plain `python -m stackup`.
"""

from __future__ import annotations

from pathlib import Path

import docker

from tests.engine.helpers import PROJECT_LABEL, StackDir, remove_project_resources, stackup

# Two services, one named and one anonymous volume; SIGKILL as stop signal keeps stops quick.
STACK = """
services:
  a:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    environment:
      VERSION: "{version}"
    volumes:
      - data:/named
      - /anon
  b:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    environment:
      VERSION: "{version}"
    depends_on: [a]
volumes:
  data: {{}}
"""


def _write_stack(stack_dir: StackDir, version: str) -> None:
    stack_dir.stack(STACK.format(version=version))


def _up(
    project: str, stack_dir: StackDir, env: dict[str, str] | None = None, parallel: int = 1
) -> tuple[int, str]:
    # One operation at a time by default, so that "killed after the k-th engine call" names
    # one state: with several calls in flight, another may complete before the SIGKILL.
    # Through the fault-injecting wrapper only when a hook is asked for. A killed `up` leaves
    # its lock's lease on the engine: the next `up` breaks it once it has seen it unrenewed
    # for the killed one's TTL, kept short here.
    if env:
        env = {"STACKUP_LOCK_TTL": "1", **env}
    result = stackup(
        "-p", project, "up", "--progress", "plain", "--parallel", str(parallel),
        cwd=stack_dir, env=env, check=False, faulty=bool(env),
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def _calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _assert_converged(
    client: docker.DockerClient,
    project: str,
    stack_dir: StackDir,
    version: str,
    sentinels: bool,
    context: str,
) -> None:
    label = {"label": f"{PROJECT_LABEL}={project}"}
    containers = client.containers.list(all=True, filters=label)
    names = sorted(c.name for c in containers)
    assert names == [f"{project}-a-1", f"{project}-b-1"], f"{context}: {names}"
    for c in containers:
        assert c.status == "running", f"{context}: {c.name} is {c.status}"
        env = c.attrs["Config"]["Env"]
        assert f"VERSION={version}" in env, f"{context}: {c.name} runs {env}"
    networks = [n.name for n in client.networks.list(filters=label)]
    assert sorted(networks) == [f"{project}_default"], f"{context}: {networks}"
    volumes = [v.name for v in client.volumes.list(filters=label)]
    assert volumes == [f"{project}_data"], f"{context}: {volumes}"
    if sentinels:
        a = client.containers.get(f"{project}-a-1")
        for path, text in (("/named/sentinel", "named-data"), ("/anon/sentinel", "anon-data")):
            code, out = a.exec_run(["cat", path])
            assert (code, out.decode().strip()) == (0, text), f"{context}: {path} lost"
    diff = stackup("-p", project, "diff", "--exit-code", cwd=stack_dir, check=False)
    assert diff.returncode == 0, f"{context}: still pending:\n{diff.stdout}{diff.stderr}"


def test_up_that_creates_converges_after_a_kill_at_every_call(
    docker_client: docker.DockerClient,
    project_name: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
) -> None:
    _write_stack(tmp_stack_dir, "1")
    log = tmp_path / "calls-full.log"
    code, out = _up(project_name, tmp_stack_dir, {"STACKUP_TEST_CALL_LOG": str(log)})
    assert code == 0, out
    total = len(_calls(log))
    assert total >= 6, _calls(log)  # network, volume, 2 × (create, start)
    for k in range(1, total + 1):
        remove_project_resources(docker_client, project_name)
        killed_log = tmp_path / f"calls-create-{k}.log"
        env = {"STACKUP_TEST_KILL_AFTER_CALLS": str(k), "STACKUP_TEST_CALL_LOG": str(killed_log)}
        code, out = _up(project_name, tmp_stack_dir, env)
        assert code == -9, f"k={k}: expected SIGKILL, got {code}\n{out}"
        assert len(_calls(killed_log)) == k
        code, out = _up(project_name, tmp_stack_dir)
        assert code == 0, f"k={k} ({_calls(killed_log)[-1]}): recovery failed\n{out}"
        _assert_converged(
            docker_client, project_name, tmp_stack_dir, "1", False, f"create, killed at {k}"
        )


def test_parallel_up_converges_after_a_kill_at_every_call(
    docker_client: docker.DockerClient,
    project_name: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
) -> None:
    """The same with the default parallelism: containers are created before their
    dependencies start, so a kill can leave several half-done operations at once."""
    _write_stack(tmp_stack_dir, "1")
    log = tmp_path / "calls-full.log"
    code, out = _up(project_name, tmp_stack_dir, {"STACKUP_TEST_CALL_LOG": str(log)}, 32)
    assert code == 0, out
    total = len(_calls(log))
    for k in range(1, total + 1):
        remove_project_resources(docker_client, project_name)
        env = {"STACKUP_TEST_KILL_AFTER_CALLS": str(k)}
        code, out = _up(project_name, tmp_stack_dir, env, 32)
        assert code == -9, f"k={k}: expected SIGKILL, got {code}\n{out}"
        code, out = _up(project_name, tmp_stack_dir, parallel=32)
        assert code == 0, f"k={k}: recovery failed\n{out}"
        _assert_converged(
            docker_client, project_name, tmp_stack_dir, "1", False, f"parallel, killed at {k}"
        )


def test_up_that_recreates_converges_after_a_kill_at_every_call(
    docker_client: docker.DockerClient,
    project_name: str,
    tmp_stack_dir: StackDir,
    tmp_path: Path,
) -> None:
    _write_stack(tmp_stack_dir, "1")
    code, out = _up(project_name, tmp_stack_dir)
    assert code == 0, out
    a = docker_client.containers.get(f"{project_name}-a-1")
    for path, text in (("/named/sentinel", "named-data"), ("/anon/sentinel", "anon-data")):
        assert a.exec_run(["sh", "-c", f"echo {text} > {path}"])[0] == 0

    # A clean recreate first: its calls give the k to try, and the step order to check.
    _write_stack(tmp_stack_dir, "2")
    log = tmp_path / "calls-full.log"
    code, out = _up(project_name, tmp_stack_dir, {"STACKUP_TEST_CALL_LOG": str(log)})
    assert code == 0, out
    calls = _calls(log)
    # The old container is removed only once the new one has started (a failed start can
    # still put the old one back).
    per_container = [
        "create_container",
        "stop_container",
        "start_container",
        "remove_container",
        "rename_container",
    ]
    assert calls == per_container * 2, calls  # a first, then b (it depends on a)
    _assert_converged(docker_client, project_name, tmp_stack_dir, "2", True, "clean recreate")

    version = "2"
    for k in range(1, len(calls) + 1):
        version = "1" if version == "2" else "2"  # every round recreates both containers
        _write_stack(tmp_stack_dir, version)
        killed_log = tmp_path / f"calls-recreate-{k}.log"
        env = {"STACKUP_TEST_KILL_AFTER_CALLS": str(k), "STACKUP_TEST_CALL_LOG": str(killed_log)}
        code, out = _up(project_name, tmp_stack_dir, env)
        assert code == -9, f"k={k}: expected SIGKILL, got {code}\n{out}"
        assert _calls(killed_log) == calls[:k]
        code, out = _up(project_name, tmp_stack_dir)
        assert code == 0, f"k={k} (after {calls[k - 1]}): recovery failed\n{out}"
        _assert_converged(
            docker_client,
            project_name,
            tmp_stack_dir,
            version,
            True,
            f"recreate, killed after call {k} ({calls[k - 1]})",
        )


def test_recreate_killed_after_removing_the_old_then_file_changed_keeps_anonymous_data(
    docker_client: docker.DockerClient,
    project_name: str,
    tmp_stack_dir: StackDir,
) -> None:
    """Killed between removing the old container and renaming its replacement, then the file
    changes again before the next `up`: the replacement under the temporary name no longer
    matches, and is the only holder of the anonymous volume; the data must still carry over."""
    _write_stack(tmp_stack_dir, "1")
    code, out = _up(project_name, tmp_stack_dir)
    assert code == 0, out
    a = docker_client.containers.get(f"{project_name}-a-1")
    for path, text in (("/named/sentinel", "named-data"), ("/anon/sentinel", "anon-data")):
        assert a.exec_run(["sh", "-c", f"echo {text} > {path}"])[0] == 0
    _write_stack(tmp_stack_dir, "2")
    # create temp, stop old, start temp, remove old: killed there
    code, out = _up(project_name, tmp_stack_dir, {"STACKUP_TEST_KILL_AFTER_CALLS": "4"})
    assert code == -9, out
    names = [
        c.name
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={project_name}"}
        )
    ]
    assert f"{project_name}-a-1_stackup-new" in names, names
    _write_stack(tmp_stack_dir, "3")
    code, out = _up(project_name, tmp_stack_dir)
    assert code == 0, out
    _assert_converged(
        docker_client, project_name, tmp_stack_dir, "3", True, "file changed after kill"
    )
